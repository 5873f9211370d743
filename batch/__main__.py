"""``python -m batch`` is the ``nanobatch`` command."""

from batch.cli import entry

entry()
