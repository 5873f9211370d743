"""Embedded workers for ``nanobatch run``: a Celery worker (with its beat) as a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

from batch.children import preexec
from batch.config import RUN_BATCHES_VAR, Settings, private_dir, private_file
from batch.logjson import celery_options


def worker_command(*, concurrency: int = 8, beat: bool = False, name: str | None = None) -> list[str]:
    """The celery command line nanobatch uses for a worker (threads: steps wait on HTTP, not CPU).

    A beat run inside a worker keeps its schedule in memory: its entries are intervals of
    seconds with nothing worth keeping across a restart (schedule slots are in the database),
    and two such beats on one data directory would otherwise write the same schedule file,
    which Python's fallback ``dbm`` does not lock.
    """
    cmd = [sys.executable, "-m", "celery", *celery_options(os.environ), "-A", "workers", "worker", "--pool", "threads",
           "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if name:
        cmd += ["--hostname", name]
    if beat:
        cmd += ["--beat", "--scheduler", "celery.beat:Scheduler"]
    return cmd


def beat_alive(settings: Settings) -> bool:
    """True if a beat has sent a tick lately through this configuration's Redis.

    An embedded Redis that is not running means no beat runs either: it is not started just
    to ask (the worker starts it). A Redis that does not answer yet counts as no beat: the
    worker then runs one, which is harmless, and keeps retrying its broker as before.
    """
    import redis

    from batch import redis as redis_server
    from batch.engine.beat import beat_alive as alive

    url = settings.redis_url
    if url is None:
        if not redis_server.is_running(settings.home):
            return False
        url = redis_server.url_for(settings.home)
    try:
        return alive(redis.Redis.from_url(url, socket_timeout=5))
    except (redis.RedisError, OSError):
        return False


class LocalWorker:
    """A worker child process whose output goes to a log file in the data directory.

    It receives SIGTERM (a warm shutdown) if this process dies, even of SIGKILL; its embedded beat
    in turn dies with it (see ``workers.app``), so neither outlives the command that started them.

    ``batches``: the only batches it advances (``run X`` / ``resume X``); None: every batch.
    """

    def __init__(self, settings: Settings, redis_url: str, *, concurrency: int = 8,
                 batches: Collection[int] | None = None) -> None:
        self.log_path = settings.home / "worker.log"
        env = {**os.environ, "NANOBATCH_REDIS_URL": redis_url, "NANOBATCH_HOME": str(settings.home)}
        env.pop(RUN_BATCHES_VAR, None)
        if batches is not None:
            env[RUN_BATCHES_VAR] = ",".join(str(b) for b in sorted(batches))
        private_dir(settings.home)
        self._log = open(private_file(self.log_path), "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            worker_command(concurrency=concurrency, beat=True, name=f"nanobatch-run-{os.getpid()}@%h"),
            env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=Path.cwd(),
            preexec_fn=preexec(signal.SIGTERM),
        )

    @property
    def pid(self) -> int:
        """The worker process's id."""
        return self._proc.pid

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
