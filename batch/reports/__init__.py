"""Report data and its CSV, JSON and HTML renderings."""
