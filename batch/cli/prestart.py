"""A worker process started before ``run`` knows its batch: its imports overlap the submit.

A Celery worker spends most of its start importing (Celery, kombu, SQLAlchemy, the engine): about
as long as ``run``'s own imports and submit, which it used to follow. ``run`` now starts this
process first; it imports what a worker needs, touching neither the broker nor the database, then
waits for one line on its stdin: the worker's command line and environment (known once the batch
is stored and the broker runs), whereupon it becomes that worker in the same process. Without the
line (nothing due, a manifest error, ``run`` gone) it exits; it dies with ``run`` in any case.

Run as ``python -m batch.cli.prestart``; ``Prestarted`` is the parent's handle.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from batch.embedded.children import preexec, stop_child

# what a worker imports before it takes a message; none reads the environment when imported
# (``workers`` itself does: it is imported only once the environment is the worker's)
WARM = ["celery.bin.celery", "celery.apps.worker", "celery.worker.consumer", "celery.concurrency.thread",
        "celery.beat", "kombu.transport.redis", "redis", "sqlalchemy.orm", "requests", "batch.engine.steps",
        "batch.engine.tick", "batch.engine.notify", "batch.schedules.firing", "batch.store.db", "batch.embedded.health"]


class Prestarted:
    """The parent's handle on a prestarted worker process (output appended to ``log``)."""

    def __init__(self, log: Path, cwd: Path) -> None:
        self._out = open(log, "ab")  # noqa: SIM115 - closed in go() or cancel()
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "batch.cli.prestart"], stdin=subprocess.PIPE, stdout=self._out,
            stderr=subprocess.STDOUT, cwd=cwd, preexec_fn=preexec(signal.SIGTERM))

    def go(self, cmd: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes] | None:
        """Make it the worker ``cmd`` (``python -m celery ...``) with ``env``; None if it is not there any more
        (the caller then starts the worker the usual way). Used once."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            if proc.poll() is not None or proc.stdin is None:
                raise BrokenPipeError
            proc.stdin.write(json.dumps({"argv": ["celery", *cmd[3:]], "env": dict(env)}).encode() + b"\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            _end(proc)
            return None
        finally:
            self._out.close()
        return proc

    def cancel(self) -> None:
        """No worker is needed after all: the process exits (at once, unless it is still importing)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _end(proc)
        self._out.close()


def _end(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    stop_child(proc, 0.0)  # SIGTERM, then SIGKILL: it holds nothing yet


def main(stdin: IO[str]) -> None:
    """Import, wait for the order, then run Celery as that worker (or exit without one)."""
    for name in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    line = stdin.readline()
    if not line.strip():
        os._exit(0)
    order = json.loads(line)
    os.environ.clear()
    os.environ.update(order["env"])
    sys.argv = list(order["argv"])
    from celery.__main__ import main as celery_main

    celery_main()


if __name__ == "__main__":
    main(sys.stdin)
