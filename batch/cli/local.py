"""Embedded workers for ``nanobatch run``: a Celery worker (with its beat) as a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from batch.config import Settings, private_dir, private_file


def worker_command(*, concurrency: int = 8, beat: bool = False, name: str | None = None,
                   settings: Settings | None = None) -> list[str]:
    """The celery command line nanobatch uses for a worker (threads: steps wait on HTTP, not CPU)."""
    cmd = [sys.executable, "-m", "celery", "-A", "workers", "worker", "--pool", "threads",
           "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if name:
        cmd += ["--hostname", name]
    if beat:
        cmd.append("--beat")
        if settings is not None:
            cmd += ["--schedule", str(settings.home / "celerybeat-schedule")]
    return cmd


class LocalWorker:
    """A worker child process whose output goes to a log file in the data directory."""

    def __init__(self, settings: Settings, redis_url: str, *, concurrency: int = 8) -> None:
        self.log_path = settings.home / "worker.log"
        env = {**os.environ, "NANOBATCH_REDIS_URL": redis_url, "NANOBATCH_HOME": str(settings.home)}
        private_dir(settings.home)
        self._log = open(private_file(self.log_path), "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            worker_command(concurrency=concurrency, beat=True, name=f"nanobatch-run-{os.getpid()}@%h",
                           settings=settings),
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
