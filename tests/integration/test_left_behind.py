"""The session's check for processes left behind finds a test's children and their children."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from batch.testing.cluster import wait_until
from tests.conftest import _children


def test_children_and_grandchildren_are_found_until_they_end() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']).wait()"])
    started: set[int] = {parent.pid}
    try:
        assert wait_until(lambda: len(_children(parent.pid)) >= 1, timeout=10, interval=0.05)
        found = _children(os.getpid())
        started |= set(_children(parent.pid))
        assert parent.pid in found and any("time.sleep(60)" in found.get(pid, "") for pid in started)
    finally:
        for pid in started | set(_children(parent.pid)):  # only this test's: the session's servers run on
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        parent.wait()
    assert wait_until(lambda: not started & set(_children(os.getpid())), timeout=10, interval=0.05)
