"""The session's check for processes left behind finds a test's children and their children."""

from __future__ import annotations

import os
import subprocess
import sys

from batch.testing.cluster import wait_until
from tests.conftest import _children


def test_children_and_grandchildren_are_found_until_they_end() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']).wait()"])
    try:
        assert wait_until(lambda: len(_children(os.getpid())) >= 2, timeout=10, interval=0.05)
        found = _children(os.getpid())
        assert parent.pid in found and any("time.sleep(60)" in cmd for cmd in found.values())
    finally:
        for pid in _children(os.getpid()):
            os.kill(pid, 9)
        parent.wait()
    assert wait_until(lambda: not _children(os.getpid()), timeout=10, interval=0.05), _children(os.getpid())
