"""Real Celery worker and beat processes for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from batch.local import worker_command


class Processes:
    """Starts workers and a beat as child processes sharing one environment; stops them all."""

    def __init__(self, home: Path, db_url: str, redis_url: str, api_base: str, **extra_env: str) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "NANOBATCH_HOME": str(home), "NANOBATCH_DATABASE_URL": db_url, "NANOBATCH_REDIS_URL": redis_url,
            "RUNCOMFY_API_BASE": api_base, "RUNCOMFY_API_TOKEN": "test-token",
            "NANOBATCH_LEASE_SECONDS": "3", "NANOBATCH_TICK_SECONDS": "0.5",
            "NANOBATCH_REQUESTS_PER_SECOND": "500", "NANOBATCH_MAX_IN_FLIGHT": "100",
            **extra_env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def worker(self, name: str, concurrency: int = 8) -> None:
        """Start a worker with node name ``name``."""
        self._spawn(name, worker_command(concurrency=concurrency, name=f"{name}@%h"))

    def beat(self) -> None:
        """Start the one beat process (the tick)."""
        schedule = self.home / "beat-schedule"
        self._spawn("beat", [sys.executable, "-m", "celery", "-A", "workers", "beat", "--loglevel", "WARNING",
                             "--schedule", str(schedule)])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one process and reap it."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(30)

    def stop_all(self) -> None:
        """Warm-stop everything still running."""
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    def logs(self) -> str:
        """Every child's log, for assertion messages."""
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.home.glob("*.log"))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll ``predicate`` until true; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


__all__ = ["Processes", "signal", "wait_for"]
