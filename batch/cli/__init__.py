"""The click command line, console output, and the embedded workers of ``run``."""
