"""A worker as a supervisor runs it: both stop signals are a warm shutdown that exits 0; logs as JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from batch.embedded import redis as redis_server
from batch.testing.cluster import wait_until

SECRET = "sk-never-in-a-log-4242"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def worker(tmp_path: Path, log: Path, *, background: bool = False, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """``nanobatch worker`` at INFO, its output in ``log``, once it says it is ready; never left running."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(home), "RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": SECRET,
                **extra})
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "batch", "worker", "--concurrency", "2", "--loglevel", "INFO"],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=_ignore_sigint if background else None)
        try:
            ready = wait_until(lambda: " ready." in log.read_text(errors="replace") or proc.poll() is not None,
                               timeout=60)
            assert ready and proc.poll() is None, log.read_text(errors="replace")
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            redis_server.stop_redis(home)


@pytest.mark.parametrize(("sig", "background"), [(signal.SIGINT, False), (signal.SIGINT, True),
                                                 (signal.SIGTERM, False)],
                         ids=["ctrl-c", "ctrl-c-sigint-ignored", "sigterm"])
def test_a_worker_stops_warm_and_exits_0(tmp_path: Path, sig: signal.Signals, background: bool) -> None:
    log = tmp_path / "worker.log"
    with worker(tmp_path, log, background=background) as proc:
        proc.send_signal(sig)
        code = proc.wait(30)
    said = log.read_text(errors="replace")
    assert code == 0, said
    assert "Traceback" not in said


def test_worker_logs_as_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with worker(tmp_path, log, NANOBATCH_LOG_FORMAT="json") as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    said = log.read_text(errors="replace")
    lines = [json.loads(line) for line in said.splitlines() if line.strip()]
    assert len(lines) >= 2, said  # at least "ready." and the shutdown
    for line in lines:
        assert sorted(line) == ["level", "logger", "message", "time"], line
        assert line["time"].endswith("Z") and line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
    assert any(line["message"].endswith(" ready.") for line in lines)
    assert SECRET not in said


def test_a_bad_log_format_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(tmp_path / "home"), "RUNCOMFY_API_BASE": "http://127.0.0.1:9",
                "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_LOG_FORMAT": "xml"})
    done = subprocess.run([sys.executable, "-m", "batch", "worker"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: NANOBATCH_LOG_FORMAT must be one of text, json, got 'xml'"


def test_no_color_on_a_terminal_leaves_the_worker_output_plain(tmp_path: Path) -> None:
    """Celery colours its banner and logs on a terminal; NO_COLOR (https://no-color.org) turns that off.

    Celery reads NO_COLOR itself (its --no-color option's variable), as rich does for nanobatch's own
    output: this guards that the worker nanobatch starts keeps it so."""
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(tmp_path / "home"), "RUNCOMFY_API_BASE": "http://127.0.0.1:9",
                "RUNCOMFY_API_TOKEN": "t", "NO_COLOR": "1", "TERM": "xterm-256color"})
    proc = subprocess.Popen([sys.executable, "-m", "batch", "worker", "--concurrency", "1", "--loglevel", "INFO"],
                            cwd=tmp_path, env=env, stdin=child, stdout=child, stderr=child)
    os.close(child)
    said = b""
    try:
        deadline = time.monotonic() + 60
        while b" ready." not in said and time.monotonic() < deadline and proc.poll() is None:
            if select.select([main], [], [], 0.5)[0]:
                with contextlib.suppress(OSError):
                    said += os.read(main, 65536)
        assert b" ready." in said, said.decode(errors="replace")
    finally:
        proc.terminate()
        proc.wait(30)
        os.close(main)
        redis_server.stop_redis(tmp_path / "home")
    assert b"\x1b[" not in said, said.decode(errors="replace")
