"""Per-portfolio reports built from stored risk results: JSON, Markdown, CSV and HTML."""
