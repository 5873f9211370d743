"""Odd answers from upstream (issue 20): a request id that is no plain id, a cost that is no amount.

Against the simulator over real HTTP, made to answer them (``--request-id-prefix``, ``--answer-cost``),
through the commands people run: ``run``, ``status`` (table and ``--json``) and ``report``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest


def test_a_request_id_that_could_leave_its_url_path_fails_the_job_and_is_never_requested(tmp_path: Path) -> None:
    journal, home = tmp_path / "journal.jsonl", tmp_path / "home"
    with spawn_simulator(["--latency", "0", "--journal", str(journal), "--request-id-prefix", "../../v1/x?y="]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_MAX_ATTEMPTS": "1"}
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2)
        done = nanobatch(["run", str(manifest)], home, tmp_path, **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(nanobatch(["status", "1", "--json"], home, tmp_path).stdout)["counts"] == {"failed": 2}
    report = nanobatch(["report", "1", "--format", "json", "--output", str(tmp_path / "r.json")], home, tmp_path)
    assert report.returncode == 0, report.stderr
    errors = [row["error"] for row in json.loads((tmp_path / "r.json").read_text())["jobs"]]
    assert all("request_id nanobatch will not put in a URL ('../../v1/x?y=" in e for e in errors), errors
    paths = [json.loads(line)["path"] for line in journal.read_text().splitlines()]
    assert paths == ["/v1/models/google/nano-banana/pro/edit"] * 2  # nothing asked at a path the id made


@pytest.mark.parametrize("cost", ["1e30", "-98.95", '"free"'])
def test_a_cost_that_is_no_amount_is_kept_raw_flagged_and_the_result_still_recorded(tmp_path: Path, cost: str) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0", "--answer-cost", cost]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2)
        done = nanobatch(["run", str(manifest)], home, tmp_path, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(list((tmp_path / "out").rglob("*.png"))) == 2  # the paid results are downloaded all the same
    doc = json.loads(nanobatch(["status", "1", "--json"], home, tmp_path).stdout)
    assert doc["counts"] == {"succeeded": 2} and doc["cost_usd"] == 0 and doc["odd_costs"] == 2
    shown = nanobatch(["status", "1"], home, tmp_path).stdout
    assert "cost charged: $0.00" in shown and "$-" not in shown
    assert "odd costs: 2 jobs were answered a cost that is no amount of money" in " ".join(shown.split())
    assert nanobatch(["report", "1", "--format", "json", "--output", str(tmp_path / "r.json")], home, tmp_path
                     ).returncode == 0
    rows = json.loads((tmp_path / "r.json").read_text())["jobs"]
    assert [(row["cost"], row["odd_cost"]) for row in rows] == [(None, json.dumps(json.loads(cost)))] * 2
