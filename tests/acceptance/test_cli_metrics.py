"""Prometheus metrics, scraped from a real ``nanobatch worker --metrics-port`` during a batch against the
simulator (rate limited, so that some calls answer 429), then checked against the database
(``status --json``) and the simulator's own counts; and from ``nanobatch serve --metrics-port``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

JOBS = 6
DEADLINE = 120.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def process(args: list[str], home: Path, cwd: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m batch *args`` in the background; SIGTERM and waited for on exit."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    full.update({"NANOBATCH_HOME": str(home), **env})
    with open(cwd / f"{args[0]}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "batch", *args], cwd=cwd, env=full, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scrape(port: int) -> Samples | None:
    """Every sample of ``/metrics`` as {(name, labels): value}, or None while nothing listens."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.ConnectionError:
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def named(samples: Samples, name: str, **match: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (n, labels), value in samples.items()
            if n == name and all((k, v) in labels for k, v in match.items())}


def jobs_by_state(samples: Samples, batch: str) -> dict[str, int]:
    found = named(samples, "nanobatch_jobs", batch=batch)
    return {dict(labels)["state"]: int(value) for labels, value in found.items()}


@pytest.mark.slow
def test_worker_metrics_during_a_batch_match_the_database(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    with spawn_simulator(["--latency", "1-2", "--workers", "8", "--rate-limit", "1"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_REQUESTS_PER_SECOND": "50",
               "NANOBATCH_SUBMITS_PER_SECOND": "50"}
        manifest = write_manifest(tmp_path, sim.base_url, items=JOBS // 2, styles=2, extra="budget_usd: 1.00\n")
        assert nanobatch(["submit", str(manifest)], home, tmp_path, **env).returncode == 0
        scrapes: list[Samples] = []
        with process(["worker", "--metrics-port", str(port), "--concurrency", "4"], home, tmp_path, **env) as worker:
            deadline = time.monotonic() + DEADLINE
            status: dict[str, object] = {}
            while time.monotonic() < deadline and not status.get("done"):
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                found = scrape(port)
                if found is not None:
                    scrapes.append(found)
                status = json.loads(nanobatch(["status", "1", "--json"], home, tmp_path).stdout)
            final = scrape(port)
        stats = sim.stats()
    assert status.get("done"), status
    assert final is not None and scrapes
    during = [s for s in scrapes if set(jobs_by_state(s, "1")) - {"succeeded"}]
    assert during, "no scrape saw the batch in flight"
    assert all(sum(jobs_by_state(s, "1").values()) == JOBS for s in scrapes)
    # the end, against the database (status --json) and the simulator
    assert jobs_by_state(final, "1") == status["counts"] == {"succeeded": JOBS}
    [spend] = named(final, "nanobatch_spend_usd", batch="1").values()
    assert spend == status["cost_usd"] == stats["cost_charged"] == 0.9
    assert sum(named(final, "nanobatch_api_calls_total", kind="submit", answer="200").values()) == stats["submits"]
    assert stats["rate_limited"] > 0
    assert sum(named(final, "nanobatch_api_calls_total", answer="429").values()) == stats["rate_limited"]
    assert sum(named(final, "nanobatch_api_rate_limited_total").values()) == stats["rate_limited"]
    calls = sum(named(final, "nanobatch_api_calls_total").values())
    assert calls == sum(stats[f"{kind}_calls"] for kind in ("submit", "status", "result", "cancel"))
    assert named(final, "nanobatch_download_lag_seconds_count") == {(): JOBS}
    assert named(final, "nanobatch_uncertain_submits", batch="1") == {(("batch", "1"),): 0}
    assert named(final, "nanobatch_budget_usd", batch="1") == {(("batch", "1"),): 1.0}
    assert named(final, "nanobatch_beat_alive") == {(): 1}
    assert named(final, "nanobatch_queue_depth") == {(): 0}
    dashboard = (Path(__file__).parents[2] / "examples" / "grafana-dashboard.json").read_text()
    used = set(re.findall(r"nanobatch_[a-z_]+", dashboard))
    assert used and used <= {name for name, _ in final}, used - {name for name, _ in final}
    # serve: the same gauges on its own opt-in port
    web, metrics_port = free_port(), free_port()
    with process(["serve", "--port", str(web), "--metrics-port", str(metrics_port)], home, tmp_path):
        served = None
        for _ in range(100):
            served = scrape(metrics_port)
            if served is not None:
                break
            time.sleep(0.1)  # waiting for a process to listen, not timing logic
    assert served is not None and jobs_by_state(served, "1") == {"succeeded": JOBS}
    assert named(served, "nanobatch_spend_usd", batch="1") == {(("batch", "1"),): 0.9}
