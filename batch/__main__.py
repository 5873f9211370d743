"""``python -m batch`` is the ``nanobatch`` command."""

from batch.cli.main import entry

entry()
