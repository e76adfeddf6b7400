"""The one-line messages of params validation: where in params.yaml a schema error sits, what
the schema allows there, and the first number that is not finite (config.validate uses them)."""

from __future__ import annotations

import math


def key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def subschema(root: dict, path) -> dict:
    node = root
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
        if "$ref" in node:  # "#/$defs/<name>": the download section's shared definitions
            node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def one_line(err, root: dict, source: str) -> str:
    where = key_path(err.absolute_path)
    prefix = f"{where}." if err.absolute_path else ""
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        names = ", ".join(prefix + e for e in sorted(set(err.instance) - set(allowed)))
        return f"{source}: unknown key {names}; allowed keys here: {', '.join(allowed)} (fix the spelling or remove it)"
    if err.validator == "required":
        names = ", ".join(prefix + k for k in err.validator_value if k not in err.instance)
        return f"{source}: missing key {names}; add it (params.yaml spells out every setting, with its meaning)"
    described = subschema(root, err.absolute_path).get("description")
    if not described and err.absolute_path:
        described = subschema(root, list(err.absolute_path)[:-1]).get("description")
    allowed = f"; allowed: {described}" if described else ""
    return f"{source}: {where} = {err.instance!r} is invalid ({err.message}){allowed}"


def non_finite(node, path=()):
    """(path, value) of the first NaN or infinite number in a nested dict/list, else None."""
    if isinstance(node, float) and not math.isfinite(node):
        return path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found = non_finite(value, (*path, key))
        if found is not None:
            return found
    return None
