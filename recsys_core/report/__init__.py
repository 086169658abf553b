"""The run report: a self-contained HTML page and a short Markdown summary."""
