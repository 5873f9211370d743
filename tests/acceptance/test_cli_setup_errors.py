"""A broken setup stops at once, names what to fix, and burns no job (issue 13 item 4).

No token: exit 2 before anything is written, whatever the API base. A wrong base (connection
refused) or a refused token (401): the circuit breaker pauses the batch, ``run`` exits 2 within
seconds with one line naming the host and the variable to fix, no job is failed, and ``resume``
finishes the batch once the setup is right.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

WITHIN_SECONDS = 30.0


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def counts(home: Path, cwd: Path) -> dict[str, int]:
    return dict(json.loads(nanobatch(["status", "1", "--json"], home, cwd).stdout)["counts"])


def test_no_token_exits_2_before_writing_anything_whatever_the_base(tmp_path: Path) -> None:
    home = tmp_path / "home"
    manifest = write_manifest(tmp_path, "http://127.0.0.1:1", items=1, styles=1)
    started = time.monotonic()
    done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_BASE="http://127.0.0.1:1")
    assert time.monotonic() - started < WITHIN_SECONDS
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = error_lines(done.stderr)
    assert "RUNCOMFY_API_TOKEN" in line
    assert not (home / "nanobatch.db").exists() and not (tmp_path / "out").exists()


def test_a_base_that_is_not_a_url_exits_2(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:1", items=1, styles=1)
    done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE="127.0.0.1:8765",
                     RUNCOMFY_API_TOKEN="t")
    assert done.returncode == 2
    [line] = error_lines(done.stderr)
    assert "RUNCOMFY_API_BASE" in line and "'127.0.0.1:8765'" in line


def test_a_refused_connection_pauses_the_batch_exits_4_and_resume_finishes_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    wrong = f"http://127.0.0.1:{closed_port()}"
    with spawn_simulator(["--latency", "0.1-0.3"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=2)
        started = time.monotonic()
        done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_BASE=wrong, RUNCOMFY_API_TOKEN="t")
        assert time.monotonic() - started < WITHIN_SECONDS
        assert done.returncode == 4, done.stdout + done.stderr  # paused: waits for a person
        [line] = error_lines(done.stderr)
        assert wrong in line and "connection refused" in line and "RUNCOMFY_API_BASE" in line
        assert "nanobatch resume 1" in line
        assert counts(home, tmp_path) == {"parked": 4}  # not one failed, not one attempt spent
        resumed = nanobatch(["resume", "1"], home, tmp_path, RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert counts(home, tmp_path) == {"succeeded": 4}


def test_a_refused_token_pauses_the_batch_exits_4_and_resume_finishes_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.3", "--token", "right"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=2)
        env = {"RUNCOMFY_API_BASE": sim.base_url}
        started = time.monotonic()
        done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_TOKEN="wrong", **env)
        assert time.monotonic() - started < WITHIN_SECONDS
        assert done.returncode == 4, done.stdout + done.stderr  # paused: waits for a person
        [line] = error_lines(done.stderr)
        assert sim.base_url in line and "401" in line and "RUNCOMFY_API_TOKEN" in line and "wrong" not in line
        assert counts(home, tmp_path) == {"parked": 4}
        resumed = nanobatch(["resume", "1"], home, tmp_path, RUNCOMFY_API_TOKEN="right", **env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert counts(home, tmp_path) == {"succeeded": 4}


def test_a_worker_without_a_token_exits_2_instead_of_failing_each_task(tmp_path: Path) -> None:
    done = nanobatch(["worker"], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE="http://127.0.0.1:1")
    assert done.returncode == 2
    [line] = error_lines(done.stderr)
    assert "RUNCOMFY_API_TOKEN" in line


def test_no_balance_pauses_the_batch_instead_of_failing_its_jobs(tmp_path: Path) -> None:
    """402 (the balance spent) is a setup error like 401: no job fails, the batch is paused with the fix."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.3", "--balance", "0"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=5, styles=4)
        done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
        assert done.returncode == 4, done.stdout + done.stderr
        [line] = error_lines(done.stderr)
        assert "402" in line and "top up the balance" in line and "nanobatch resume 1" in line
        assert counts(home, tmp_path) == {"parked": 20}  # not one failed
