"""Output files: download and verify, naming, cache reuse, atomic writes."""
