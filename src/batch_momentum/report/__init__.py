"""The HTML page: its sections, figures and template."""
