"""``serve --workers`` as a reviewer meets it: a re-run queued from the page runs without ``nanobatch resume``,
its workers stop when the batch settles, and nothing ``serve`` started outlives it. Without ``--workers``
the re-run waits, and the page says which command runs it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from starlette.testclient import TestClient

from batch.core.cost import PriceTable
from batch.embedded import redis as redis_server
from batch.embedded.children import alive
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator, spawn_simulator
from batch.store.models import Job, Output
from batch.testing.cluster import wait_until
from batch.web.app import WebState, build_app
from batch.web.thumbcache import ThumbCache
from tests.acceptance.test_cli import nanobatch
from tests.acceptance.test_cli_embedded_redis import children_of, run_env
from tests.acceptance.test_cli_metrics import free_port
from tests.acceptance.test_cli_ops import status_of
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

TIMEOUT = 90  # seconds for a job to run through freshly started workers


@contextmanager
def serving(home: Path, cwd: Path, api_base: str, log: Path,
            *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``nanobatch serve`` on a free port in its own session, once it listens; killed (its group too) at exit."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "batch", "serve", "--port", str(port), *args], cwd=cwd,
                                env=run_env(home, api_base), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: proc.poll() is not None or b"nanobatch serve: http" in log.read_bytes(),
                          timeout=30), log.read_text()
        assert wait_until(lambda: _answers(base), timeout=10), log.read_text()
        yield proc, base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        redis_server.stop_redis(home)


def _answers(base: str) -> bool:
    try:
        return requests.get(base + "/", timeout=5).ok
    except requests.ConnectionError:
        return False


def _from_the_page(base: str, batch_id: int, what: str = "rerun",
                         body: dict[str, object] | None = None) -> dict[str, object]:
    """POST ``body`` to the batch's ``what`` endpoint (a re-run by default) with the page's CSRF token."""
    page = requests.get(f"{base}/batch/{batch_id}", timeout=10).text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found is not None, page
    answer = requests.post(f"{base}/api/batches/{batch_id}/{what}", json=body or {"confirm": True},
                           headers={"X-CSRF-Token": found[1]}, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _workers_line(base: str, batch_id: int) -> str:
    return str(requests.get(f"{base}/api/batches/{batch_id}", timeout=10).json()["workers"] or "")


@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 0)],
                         ids=["sigterm", "ctrl-c"])
def test_serve_workers_run_a_from_the_page_and_leave_nothing_behind(tmp_path: Path, sig: signal.Signals,
                                                                           exit_code: int) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "2"]) as sim:  # a job stays in flight long enough to be seen
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = str(write_manifest(tmp_path, sim.base_url, items=1, styles=1))
        assert nanobatch(["run", manifest], home, tmp_path, **env).returncode == 0
        assert nanobatch(["review", "reject", "1", "--all"], home, tmp_path, **env).returncode == 0
        log = tmp_path / "serve.log"
        with serving(home, tmp_path, sim.base_url, log, "--workers", "--concurrency", "2") as (serve, base):
            assert children_of(serve.pid) == []  # no worker before the page queues work
            answer = _from_the_page(base, 1)
            assert answer["queued"] == 1 and answer["hint"] == "serve's workers run them", answer
            assert wait_until(lambda: "serve's workers run batch 1" in _workers_line(base, 1), timeout=10)
            assert wait_until(lambda: status_of(home, tmp_path, 1)["counts"] == {"succeeded": 2},
                              timeout=TIMEOUT), log.read_text()
            assert wait_until(lambda: "batch 1 settled; its workers stopped" in log.read_text(),
                              timeout=60), log.read_text()
            assert children_of(serve.pid) == []
            assert _workers_line(base, 1) == ""

            assert nanobatch(["review", "reject", "1", "--all"], home, tmp_path, **env).returncode == 0
            assert _from_the_page(base, 1)["queued"] == 1
            assert wait_until(lambda: sim.stats()["submits"] >= 3 and len(children_of(serve.pid)) >= 2,
                              timeout=TIMEOUT), log.read_text()  # the worker and its beat, a job in flight
            spawned = [*children_of(serve.pid), int((home / "redis" / "redis.pid").read_text())]
            serve.send_signal(sig)
            code = serve.wait(60)
            gone = wait_until(lambda: not any(alive(p) for p in spawned), timeout=10, interval=0.1)
            assert gone, [Path(f"/proc/{p}/cmdline").read_bytes() for p in spawned if alive(p)]
            assert code == exit_code, log.read_text()  # Ctrl-C: uvicorn's own clean exit, as without --workers
            assert "Traceback" not in log.read_text()


def test_serve_workers_run_the_rest_of_a_pilot_approved_on_the_page(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.2"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = str(write_manifest(tmp_path, sim.base_url, items=3, styles=1, extra="pilot: {size: 1}\n"))
        waiting = nanobatch(["run", manifest], home, tmp_path, **env)
        assert waiting.returncode == 4, waiting.stdout + waiting.stderr  # the pilot ran; the rest waits parked
        log = tmp_path / "serve.log"
        with serving(home, tmp_path, sim.base_url, log, "--workers") as (serve, base):
            answer = _from_the_page(base, 1, "pilot", {"decision": "approve"})
            assert answer["released"] == 2 and answer["hint"] == "serve's workers run them", answer
            assert wait_until(lambda: status_of(home, tmp_path, 1)["counts"] == {"succeeded": 3},
                              timeout=TIMEOUT), log.read_text()
            assert wait_until(lambda: children_of(serve.pid) == [], timeout=60), log.read_text()


def test_without_workers_a_rerun_waits_and_the_page_names_resume(tmp_path: Path) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=2)) as sim:
        rt = make_runtime(make_settings(tmp_path, f"sqlite:///{tmp_path / 'nb.db'}", sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=1, styles=1), time.time())
        drain(rt, batch_id, timeout=60)
    csrf = "test-csrf-token-0123456789"
    clock = [time.time()]
    state = WebState(rt.sessions, ThumbCache(tmp_path / "thumbs"), PriceTable(), csrf, "ann", clock=lambda: clock[0])
    client = TestClient(build_app(state), base_url="http://127.0.0.1")
    with rt.sessions() as s:
        outputs = list(s.scalars(select(Output.id).join(Job, Job.id == Output.job_id).where(Job.batch_id == batch_id)))
    headers = {"X-CSRF-Token": csrf}
    review = client.post(f"/api/batches/{batch_id}/review", json={"outputs": outputs, "decision": "rejected"},
                         headers=headers)
    assert review.status_code == 200, review.text
    answer = client.post(f"/api/batches/{batch_id}/rerun", json={"confirm": True}, headers=headers).json()
    assert answer["queued"] == 1 and answer["hint"] == f"run them with: nanobatch resume {batch_id}"
    clock[0] += 90  # a minute past due and no worker took it
    assert client.get(f"/api/batches/{batch_id}").json()["workers"].startswith("1 job waiting with no worker")
    assert f"nanobatch resume {batch_id}" in client.get(f"/batch/{batch_id}").text  # still there on reload
    with rt.sessions() as s:
        assert sorted(s.scalars(select(Job.state).where(Job.batch_id == batch_id))) == ["pending", "succeeded"]
