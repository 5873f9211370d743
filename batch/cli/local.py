"""Embedded workers for ``nanobatch run``: a Celery worker (with its beat) as a child process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batch.config import RUN_BATCHES_VAR, Settings, private_dir, private_file
from batch.embedded.children import preexec
from batch.embedded.keeper import KEEPER_WORDS, Keeper
from batch.logjson import celery_options

if TYPE_CHECKING:
    from batch.cli.prestart import Prestarted

STOP_SLACK = 10.0  # seconds past the worker's own grace before it is killed


def worker_command(*, concurrency: int = 8, beat: bool = False, name: str | None = None) -> list[str]:
    """The celery command line nanobatch uses for a worker (threads: steps wait on HTTP, not CPU).

    ``beat``: the worker keeps a beat process, started again if it dies, which sends the tick
    while it holds the beat lease and stands by otherwise (``workers.lifecycle``).
    """
    cmd = [sys.executable, "-m", "celery", *celery_options(os.environ), "-A", "workers", "worker", "--pool", "threads",
           "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    if name:
        cmd += ["--hostname", name]
    if beat:
        cmd += ["--keep-beat"]
    return cmd


def beat_alive(settings: Settings) -> bool:
    """True if a beat of the shared workers holds its lease through this configuration's Redis.

    An embedded Redis that is not running means no beat runs either: it is not started just
    to ask (the worker starts it). A Redis that does not answer yet counts as no beat.
    """
    import redis

    from batch.embedded import redis as redis_server
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

    It receives SIGTERM (a warm shutdown) if this process dies, even of SIGKILL; its beat in turn
    dies with it (see ``workers.lifecycle``), so neither outlives the command that started them.
    A worker that stops unexpectedly is started again by ``check()``, up to ``MAX_RESTARTS`` times
    in a row; ``on_start`` is called with each new worker's pid.

    ``batches``: the only batches it advances (``run X`` / ``resume X``); None: every batch.
    ``prestarted``: a process already importing (``batch.cli.prestart``) that becomes the first worker.
    """

    MAX_RESTARTS = 3

    def __init__(self, settings: Settings, redis_url: str, *, concurrency: int = 8,
                 batches: Collection[int] | None = None, on_start: Callable[[int], None] | None = None,
                 prestarted: Prestarted | None = None) -> None:
        self.log_path = settings.home / "worker.log"
        env = {**os.environ, "NANOBATCH_REDIS_URL": redis_url, "NANOBATCH_HOME": str(settings.home)}
        env.pop(RUN_BATCHES_VAR, None)
        if batches is not None:
            env[RUN_BATCHES_VAR] = ",".join(str(b) for b in sorted(batches))
        private_dir(settings.home)
        self._log = open(private_file(self.log_path), "ab")  # noqa: SIM115 - closed in stop()
        self._read_from = self._log.tell()
        self._notices: list[str] = []
        self._on_start = on_start
        self._grace = settings.stop_grace_seconds + settings.post_wait_seconds  # submits being sent finish
        tag = "" if batches is None else "-" + "-".join(str(b) for b in sorted(batches))  # one name per worker

        def start() -> subprocess.Popen[bytes]:
            nonlocal prestarted
            cmd = worker_command(concurrency=concurrency, beat=True, name=f"nanobatch-run-{os.getpid()}{tag}@%h")
            proc = prestarted.go(cmd, env) if prestarted is not None else None
            prestarted = None  # the first start only: a worker started again is started afresh
            if proc is None:
                proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=Path.cwd(),
                                        preexec_fn=preexec(signal.SIGTERM))
            if self._on_start is not None:
                self._on_start(proc.pid)
            return proc

        self._keeper = Keeper("the worker", start, self._notices.append, max_restarts=self.MAX_RESTARTS)

    @property
    def pid(self) -> int:
        """The worker process's id."""
        return self._keeper.pid

    def alive(self) -> bool:
        """True while the child runs."""
        return self._keeper.alive()

    def check(self) -> bool:
        """Start the worker again if it stopped unexpectedly; False once it was given up on."""
        return self._keeper.check()

    def notices(self) -> list[str]:
        """What happened since the last call, to tell the user: a worker or a beat stopped and was replaced."""
        said, self._notices[:] = list(self._notices), []
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._read_from)
                text = log.read()
        except OSError:
            return said
        end = text.rfind(b"\n") + 1  # a line still being written is read next time
        self._read_from += end
        for line in text[:end].decode(errors="replace").splitlines():
            if KEEPER_WORDS in line:
                said.append(_message(line))
        return said

    def stop(self, timeout: float | None = None) -> None:
        """Warm shutdown (SIGTERM lets running steps finish within the worker's grace), then SIGKILL if it hangs."""
        self._keeper.stop(timeout if timeout is not None else STOP_SLACK + self._grace)
        self._log.close()


@dataclass(frozen=True)
class Broker:
    """The Redis the embedded workers use: ``url``, and ``home`` when it is the embedded server of that home."""

    url: str
    home: Path | None

    def worker(self, settings: Settings, batches: Collection[int], *, concurrency: int = 8,
               prestarted: Prestarted | None = None) -> LocalWorker:
        """A worker serving only ``batches``; with the embedded server, each of its processes is one of its users."""
        return LocalWorker(settings, self.url, concurrency=concurrency, batches=batches, on_start=self._registered,
                           prestarted=prestarted)

    def _registered(self, pid: int) -> None:
        from batch.embedded import redis as redis_server

        if self.home is not None:
            redis_server.register_user(self.home, pid)


@contextmanager
def broker(settings: Settings) -> Iterator[Broker]:
    """The configured Redis, or the home's embedded server (started unless it runs) for as long as this lasts.

    On leaving, this process is no longer a user of the embedded server; when it was the last, it
    waits for the server to stop, so that nothing it started outlives it.
    """
    from batch.embedded import redis as redis_server

    home = None if settings.redis_url else settings.home
    try:
        yield Broker(settings.redis_url or redis_server.ensure_redis(settings.home)[0], home)
    finally:
        if home is not None:
            redis_server.release(home, wait=redis_server.STOP_WAIT_SECONDS)


def _message(line: str) -> str:
    """The message of a worker's log line: Celery's ``[time: LEVEL/process] message``, or a JSON line's."""
    if line.startswith("{"):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return str(json.loads(line)["message"])
    return line.split("] ", 1)[-1].strip()
