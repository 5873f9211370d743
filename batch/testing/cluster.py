"""Real Celery workers and one beat as child processes, for the scale-out tests and benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from batch.cli.local import worker_command


def cluster_env(*, home: Path, db_url: str, redis_url: str, api_base: str, **extra: str) -> dict[str, str]:
    """The environment every process of one deployment shares (``extra``: more NANOBATCH_* values)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({
        "NANOBATCH_HOME": str(home), "NANOBATCH_DATABASE_URL": db_url, "NANOBATCH_REDIS_URL": redis_url,
        "RUNCOMFY_API_BASE": api_base, "RUNCOMFY_API_TOKEN": "test",
    })
    env.update(extra)
    return env


@dataclass
class Cluster:
    """Child processes started with one environment; each logs to ``<logs>/<name>.log``."""

    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Start ``cmd`` as process ``name``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop_all()
        self._files.append(log)
        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=Path.cwd())
        self.procs[name] = proc
        return proc

    def worker(self, name: str, concurrency: int = 8) -> subprocess.Popen[bytes]:
        """A ``celery -A workers worker`` with its own ``--hostname``."""
        return self.start(name, worker_command(concurrency=concurrency, name=f"{name}@%h"))

    def beat(self) -> subprocess.Popen[bytes]:
        """The one beat, started as ``nanobatch beat`` (``python -m batch beat``)."""
        return self.start("beat", [sys.executable, "-m", "batch", "beat", "--loglevel", "WARNING"])

    def stop(self, name: str, timeout: float = 30.0) -> int:
        """SIGTERM (a warm shutdown for a worker), then SIGKILL after ``timeout``; the exit status."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL: a crash) to process ``name`` and reap it."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(30)

    def stop_all(self) -> None:
        """Stop every process still running and close the logs."""
        for name in list(self.procs):
            self.stop(name)
        for log in self._files:
            log.close()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of every log, for an assertion message."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs.glob("*.log"))


@contextmanager
def running_cluster(env: dict[str, str], logs: Path) -> Iterator[Cluster]:
    """A Cluster whose processes are all stopped on exit."""
    cluster = Cluster(env, logs)
    try:
        yield cluster
    finally:
        cluster.stop_all()


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Call ``check`` until it is true or ``timeout`` passes; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


