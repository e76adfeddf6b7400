"""The pipeline's steps: one module per `python -m batch_momentum <step>`, each parsing its
arguments and calling the library once. Nothing in the library imports a step."""

import argparse


def parser(doc: str) -> argparse.ArgumentParser:
    """A step's argument parser from its module docstring ("<step>: what it does ..."), with the
    --params option every step has."""
    ap = argparse.ArgumentParser(prog=f"batch_momentum {doc.split(':', 1)[0]}", description=doc.splitlines()[0])
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return ap
