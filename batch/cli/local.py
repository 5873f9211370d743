"""Embedded workers for ``nanobatch run``: a Celery worker (with its beat) as a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

from batch.config import RUN_BATCHES_VAR, Settings


def worker_command(*, concurrency: int = 8, beat: bool = False, name: str | None = None) -> list[str]:
    """The celery command line nanobatch uses for a worker (threads: steps wait on HTTP, not CPU).

    The beat's schedule file comes from the app's configuration (one per scope, see ``workers.app``).
    """
    cmd = [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "threads",
           "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if name:
        cmd += ["--hostname", name]
    if beat:
        cmd.append("--beat")
    return cmd


class LocalWorker:
    """A worker child process whose output goes to a log file in the data directory.

    ``batches``: the only batches it advances (``run X`` / ``resume X``); None: every batch.
    """

    def __init__(self, settings: Settings, redis_url: str, *, concurrency: int = 8,
                 batches: Collection[int] | None = None) -> None:
        self.log_path = settings.home / "worker.log"
        env = {**os.environ, "NANOBATCH_REDIS_URL": redis_url, "NANOBATCH_HOME": str(settings.home)}
        env.pop(RUN_BATCHES_VAR, None)
        if batches is not None:
            env[RUN_BATCHES_VAR] = ",".join(str(b) for b in sorted(batches))
        settings.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            worker_command(concurrency=concurrency, beat=True, name=f"nanobatch-run-{os.getpid()}@%h"),
            env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=Path.cwd(),
        )

    def alive(self) -> bool:
        """True while the child runs."""
        return self._proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM lets running steps finish), then SIGKILL if it hangs."""
        if self.alive():
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
