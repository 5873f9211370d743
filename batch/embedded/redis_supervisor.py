"""The embedded server's supervisor: ``python -m batch.embedded.redis_supervisor HOME BINARY LOCK_FD SOCKET``.

One per data directory, started by ``batch.embedded.redis.ensure_redis``, which hands it the open
``supervisor.lock`` (held for as long as this process lives: that is how others know one runs).
It runs the server as its child (which dies with it), restarts it when it dies, and once no user
process is left (``batch.embedded.redis_users``) stops it cleanly and exits: a server never outlives
the processes that use it. It imports little (no redis-py): its start is part of every cold ``run``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from batch.config import PRIVATE_FILE_MODE, private_file, write_private
from batch.embedded import redis_users as users
from batch.embedded.children import preexec, stop_child

INTERVAL = 0.2          # seconds between two looks at the server and the users
FIRST_BACKOFF = 0.5     # seconds before restarting a server that died, doubled while it keeps dying
MAX_BACKOFF = 10.0
STEADY = 30.0           # a server that ran this long resets the backoff
STOP_TIMEOUT = 10.0
WAKE = signal.SIGUSR1   # "look now": the last user leaving (``batch.redis.release``) need not wait out INTERVAL


class Supervisor:
    """Keeps one server running while users remain; the clock and sleep are injectable for tests."""

    def __init__(self, home: Path, binary: str, lock_fd: int, sock: Path | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.home = home
        self.folder = users.folder(home)
        self.binary = binary
        self.lock_fd = lock_fd
        self.sock = sock if sock is not None else self.folder / "redis.sock"
        self.clock = clock
        self.sleep = sleep
        self.stopping = False
        self.server: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.backoff = FIRST_BACKOFF
        self.restart_at: float | None = None

    def run(self) -> None:
        """Supervise until no user is left or a SIGTERM asks to stop."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._ask_stop)
        write_private(self.folder / "supervisor.pid", str(os.getpid()))
        self._stop_stray()
        self._start()
        while not self.stopping:
            if not users.live_users(self.home) and self._stop_if_unused():
                return
            self.restart_if_dead()
            self.sleep(INTERVAL)
        with users.start_lock(self.home):
            self._shutdown()

    def _ask_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.log(f"signal {signum}: stopping")
        self.stopping = True

    def _stop_if_unused(self) -> bool:
        """Under the start lock, so that nobody registers meanwhile: stop if still no user."""
        with users.start_lock(self.home):
            if users.live_users(self.home):
                return False
            self.log("no user left: stopping")
            self._shutdown()
            return True

    def _stop_stray(self) -> None:
        """A server without a supervisor (started by an older nanobatch) answering on our socket: stop it."""
        if _command(self.sock, b"PING") == b"+PONG":
            self.log("a server without supervisor answers on the socket: shutting it down")
            _command(self.sock, b"SHUTDOWN")

    def _start(self) -> None:
        """Start the server (``redis.conf``, written by ``ensure_redis``) as a child that dies with us."""
        self.sock.unlink(missing_ok=True)  # left by a server that died
        self.server = subprocess.Popen([self.binary, str(self.folder / "redis.conf")], cwd=self.folder,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, preexec_fn=preexec(signal.SIGTERM),
                                       umask=0o777 & ~PRIVATE_FILE_MODE)  # its AOF, log and pid file: 0600
        self.started_at = self.clock()
        self.restart_at = None

    def restart_if_dead(self) -> None:
        """Restart a server that exited, after a backoff that doubles while it keeps dying."""
        if self.server is None or self.server.poll() is None:
            return
        now = self.clock()
        if self.restart_at is None:
            if now - self.started_at >= STEADY:
                self.backoff = FIRST_BACKOFF
            self.restart_at = now + self.backoff
            self.log(f"server exited (code {self.server.returncode}); restarting in {self.backoff:g} s")
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
        if now >= self.restart_at:
            self._start()

    def _shutdown(self) -> None:
        """SIGTERM: the server writes its AOF and exits; then this process gives up the supervisor lock."""
        if self.server is not None:
            stop_child(self.server, STOP_TIMEOUT)
        (self.folder / "supervisor.pid").unlink(missing_ok=True)
        os.close(self.lock_fd)

    def log(self, message: str) -> None:
        """One line in ``supervisor.log``."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        with open(private_file(self.folder / "supervisor.log"), "a") as out:
            out.write(f"{stamp} [{os.getpid()}] {message}\n")


def _command(sock: Path, command: bytes) -> bytes | None:
    """Send one inline command on the unix socket; the first line of the answer, None if none came."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2)
            conn.connect(str(sock))
            conn.sendall(command + b"\r\n")
            return conn.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return None


def _nap(seconds: float) -> None:
    """Sleep ``seconds``, or less when woken (``WAKE``, blocked so that it is only ever waited for)."""
    signal.sigtimedwait({WAKE}, seconds)


def main(argv: list[str]) -> None:
    """Detach (the caller reaps our first process at once), then supervise."""
    home, binary, lock_fd, sock = Path(argv[0]), argv[1], int(argv[2]), Path(argv[3])
    if os.fork() > 0:
        os._exit(0)
    signal.pthread_sigmask(signal.SIG_BLOCK, {WAKE})  # before supervisor.pid names us to whoever would wake us
    Supervisor(home, binary, lock_fd, sock, sleep=_nap).run()


if __name__ == "__main__":
    main(sys.argv[1:])
