"""Files: atomic writes, whole-file reads, the runs' files, and provenance."""
