"""Operations as a user runs them: dry-run, a killed run resumed, retry and cancel from the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from batch.embedded import redis as redis_server
from batch.simulator import spawn_simulator
from batch.testing.cluster import wait_until
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest


def status_of(home: Path, cwd: Path, batch_id: int) -> dict[str, object]:
    done = nanobatch(["status", str(batch_id), "--json"], home, cwd)
    assert done.returncode == 0, done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


def test_dry_run_prices_then_reports_everything_cached(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = str(write_manifest(tmp_path, sim.base_url, items=2, styles=2))
        before = nanobatch(["submit", "--dry-run", manifest], home, tmp_path, **env)
        assert before.returncode == 0, before.stderr
        assert before.stdout.splitlines() == [
            "jobs in manifest: 4", "jobs cached (verified files reused, no API call): 0", "jobs to run: 4",
            "estimated cost: $0.60"]
        assert not (home / "nanobatch.db").exists()  # a dry run writes nothing
        assert nanobatch(["run", manifest], home, tmp_path, **env).returncode == 0
        after = nanobatch(["submit", "--dry-run", "--json", manifest], home, tmp_path, **env)
        assert json.loads(after.stdout) == {"jobs": 4, "cached": 4, "waiting": 0, "to_run": 0, "paid_again": 0,
                                              "estimated_cost_usd": 0.0}
        again = nanobatch(["run", manifest], home, tmp_path, **env)
        assert again.returncode == 0 and "cached" in again.stdout
        assert sim.stats()["submits"] == 4


def test_a_rerun_all_cached_starts_neither_worker_nor_broker(tmp_path: Path) -> None:
    """Nothing is due after a rerun's submit: ``run`` used to start the embedded broker and a worker
    (seconds of start-up and stop) only for them to find nothing to do."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = str(write_manifest(tmp_path, sim.base_url, items=1, styles=2))
        assert nanobatch(["run", manifest], home, tmp_path, **env).returncode == 0
        worker_log, redis_log = (home / "worker.log").stat().st_size, (home / "redis" / "supervisor.log").read_text()
        submits = sim.stats()["submits"]
        again = nanobatch(["run", manifest], home, tmp_path, **env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "cached" in again.stdout and "no workers started" in again.stdout, again.stdout
        assert (home / "worker.log").stat().st_size == worker_log  # no worker wrote its banner
        assert (home / "redis" / "supervisor.log").read_text() == redis_log  # no server started nor stopped
        assert sim.stats()["submits"] == submits


def test_killed_run_is_resumed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        with spawn_simulator(["--latency", "1-2", "--workers", "8"]) as sim:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))},
                   "NANOBATCH_HOME": str(home), "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t",
                   "NANOBATCH_LEASE_SECONDS": "3"}
            manifest = str(write_manifest(tmp_path, sim.base_url, items=5, styles=4))
            run = subprocess.Popen([sys.executable, "-m", "batch", "run", manifest], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                assert wait_until(lambda: (home / "nanobatch.db").exists() and sim.stats()["submits"] >= 5, 60)
                time.sleep(0.5)
            finally:
                os.killpg(run.pid, signal.SIGKILL)  # the run and its worker die; the embedded Redis lives on
                run.wait()
            left = status_of(home, tmp_path, 1)
            assert left["done"] is False
            resumed = nanobatch(["resume", "1"], home, tmp_path, RUNCOMFY_API_BASE=sim.base_url,
                                RUNCOMFY_API_TOKEN="t", NANOBATCH_LEASE_SECONDS="3")
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            final = status_of(home, tmp_path, 1)
            assert final["counts"] == {"succeeded": 20}
            twice = nanobatch(["resume", "1"], home, tmp_path, RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
            assert twice.returncode == 0
            # the kill may land between a POST and its commit: such a submit is uncertain, resubmitted and
            # reported; any other duplicate would be a silent double charge
            assert sim.stats()["duplicate_submits"] <= int(final["uncertain_submits"])  # type: ignore[call-overload]
    finally:
        redis_server.stop_redis(home)  # the run started it; the kill left it running


def test_retry_and_cancel_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0", "--fail-rate", "1", "--seed", "5"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = str(write_manifest(tmp_path, sim.base_url, items=1, styles=2))
        assert nanobatch(["run", manifest], home, tmp_path, **env).returncode == 1
        retried = nanobatch(["retry", "1", "--error", "fail-rate"], home, tmp_path, **env)
        assert retried.returncode == 0 and retried.stdout.startswith("2 jobs queued again")
        assert status_of(home, tmp_path, 1)["counts"] == {"pending": 2}
        cancelled = nanobatch(["cancel", "1"], home, tmp_path, **env)
        assert cancelled.returncode == 0
        assert "cancelled before submitting: 2" in cancelled.stdout
        assert status_of(home, tmp_path, 1)["counts"] == {"cancelled": 2}
    missing = nanobatch(["cancel", "99"], home, tmp_path, **env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: no batch 99 in {home} (sqlite:///{home / 'nanobatch.db'})"
