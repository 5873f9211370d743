"""Child processes that do not outlive their parent, and the liveness of a recorded pid.

Linux's ``PR_SET_PDEATHSIG`` asks the kernel to signal a process when its parent dies, whatever
killed the parent (SIGKILL included). It survives ``exec`` and is cleared by ``fork``, so each
child sets it for itself: through ``preexec`` (a ``Popen`` child) or ``die_with_parent`` (a
forked one, such as Celery's embedded beat). Elsewhere these are no-ops.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1
_PROC = Path("/proc")

Prctl = Callable[[int, int], int]


def _prctl() -> Prctl | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn: Prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return fn


def preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``Popen``: the child receives ``sig`` when this process dies.

    The libc function is looked up here, before the fork, so that the child only makes one
    foreign call (no import, no allocation) between fork and exec.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def _set() -> None:
        prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), sig)

    return _set


def die_with_parent(parent: int, sig: int = signal.SIGTERM) -> None:
    """Ask for ``sig`` when ``parent`` (this process's parent now) dies; at once if it already did."""
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def stop_child(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if the child has not exited within ``timeout`` seconds; reaped either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), which tells a reused pid apart."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def alive(pid: int, started: str | None = None) -> bool:
    """True if ``pid`` runs (a zombie does not) and, when ``started`` is given, is the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, but a live one
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return True  # no /proc here: kill(0) is all we can know
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] != "Z" and (started is None or fields[19] == started)
