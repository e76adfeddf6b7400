"""The pipeline's steps: one module per `python -m batch_momentum <step>`, each parsing its
arguments and calling the library once. Nothing in the library imports a step."""
