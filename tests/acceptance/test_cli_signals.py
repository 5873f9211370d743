"""Signals a supervisor or a person sends: both stop a worker warm and exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batch import redis as redis_server
from batch.testing.cluster import wait_until


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(("sig", "background"), [(signal.SIGINT, False), (signal.SIGINT, True),
                                                 (signal.SIGTERM, False)],
                         ids=["ctrl-c", "ctrl-c-sigint-ignored", "sigterm"])
def test_a_worker_stops_warm_and_exits_0(tmp_path: Path, sig: signal.Signals, background: bool) -> None:
    home = tmp_path / "home"
    log = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(home), "RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "t"})
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "batch", "worker", "--concurrency", "2", "--loglevel", "INFO"],
                                  cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  preexec_fn=_ignore_sigint if background else None)
        try:
            ready = wait_until(lambda: " ready." in log.read_text(errors="replace") or worker.poll() is not None,
                               timeout=60)
            assert ready and worker.poll() is None, log.read_text(errors="replace")
            worker.send_signal(sig)
            code = worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            redis_server.stop_redis(home)
    said = log.read_text(errors="replace")
    assert code == 0, said
    assert "Traceback" not in said
