"""The CLI run as a user runs it: subprocesses, embedded defaults, the simulator over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batch.simulator import spawn_simulator
from tests.helpers import write_manifest


def nanobatch(args: list[str], home: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    full_env.update({"NANOBATCH_HOME": str(home), "COLUMNS": "120", **env})
    return subprocess.run([sys.executable, "-m", "batch", *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=240)


@pytest.fixture
def sim_url() -> object:
    with spawn_simulator(["--latency", "0.2-1", "--workers", "16"]) as sim:
        yield sim.base_url


def test_run_a_whole_batch(tmp_path: Path, sim_url: str) -> None:
    manifest = write_manifest(tmp_path, sim_url, items=3, styles=2, fmt="webp")
    done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path,
                     RUNCOMFY_API_BASE=sim_url, RUNCOMFY_API_TOKEN="t")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout and str(tmp_path / "out") in done.stdout.replace("\n", "")
    assert len(list((tmp_path / "out").rglob("*.webp"))) == 6
    status = nanobatch(["status", "1", "--json"], tmp_path / "home", tmp_path)
    doc = json.loads(status.stdout)
    assert doc["counts"] == {"succeeded": 6} and doc["done"] is True and doc["total"] == 6


def test_run_exits_1_when_jobs_fail(tmp_path: Path) -> None:
    with spawn_simulator(["--latency", "0", "--fail-rate", "1", "--seed", "3"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2)
        done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path,
                         RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed" in done.stdout


def test_submit_json_then_status(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2)
    done = nanobatch(["submit", "--json", str(manifest)], tmp_path / "home", tmp_path,
                     RUNCOMFY_API_BASE="http://127.0.0.1:9", RUNCOMFY_API_TOKEN="t")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"batch_id": 1, "jobs": 4}
    status = json.loads(nanobatch(["status", "1", "--json"], tmp_path / "home", tmp_path).stdout)
    assert status["counts"] == {"pending": 4} and status["done"] is False


def test_bad_manifest_names_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\njobs:\n  - id: a\n    prompt: p\n    image_urls: [not-a-url]\n    resolution: 8K\n")
    done = nanobatch(["submit", str(bad)], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE="http://127.0.0.1:9",
                     RUNCOMFY_API_TOKEN="t")
    assert done.returncode == 2
    assert "bad.yaml:5" in done.stderr and "bad.yaml:6" in done.stderr and "resolution" in done.stderr
    assert not (tmp_path / "home" / "nanobatch.db").exists()


def test_missing_token_against_the_real_api_fails_before_writing(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "https://cdn.example.com", items=1, styles=1)
    done = nanobatch(["submit", str(manifest)], tmp_path / "home", tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: no API token") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "nanobatch.db").exists()


def test_token_never_printed(tmp_path: Path, sim_url: str) -> None:
    manifest = write_manifest(tmp_path, sim_url, items=1, styles=1)
    secret = "sk-do-not-print-me"
    done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path,
                     RUNCOMFY_API_BASE=sim_url, RUNCOMFY_API_TOKEN=secret)
    assert done.returncode == 0
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "home").rglob("*.log"))
    assert secret not in done.stdout + done.stderr + logs
    assert secret.encode() not in (tmp_path / "home" / "nanobatch.db").read_bytes()
