"""The worker process ``run`` starts before its submit: it becomes the command it is given, or exits unused."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from batch.cli.prestart import Prestarted
from batch.embedded.children import alive


def test_it_becomes_the_celery_command_with_the_environment_given(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    prestarted = Prestarted(log, tmp_path)
    cmd = [sys.executable, "-m", "celery", "--version"]
    proc = prestarted.go(cmd, {**os.environ, "NANOBATCH_PRESTART_TEST": "1"})
    assert proc is not None
    assert proc.wait(timeout=120) == 0
    version = log.read_text().strip()
    assert version and version[0].isdigit(), version  # celery's own answer, e.g. "5.7.0 (collider)"
    assert prestarted.go(cmd, os.environ) is None  # used once


def test_cancelled_it_leaves_nothing_running(tmp_path: Path) -> None:
    prestarted = Prestarted(tmp_path / "worker.log", tmp_path)
    assert prestarted.proc is not None
    pid = prestarted.proc.pid
    prestarted.cancel()
    assert not alive(pid)
    assert prestarted.go([sys.executable, "-m", "celery", "--version"], os.environ) is None
