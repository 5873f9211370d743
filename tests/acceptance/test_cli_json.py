"""``--json`` of every command that reports: each document's keys and types, as docs/json.md promises.

A schema change (a key renamed, added or dropped, a type changed) fails here: change docs/json.md
with it, since scripts read these documents.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from batch.core.states import JobState as S
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import db
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch
from tests.acceptance.test_cli_status_report import Prepared as World
from tests.acceptance.test_cli_status_report import prepared  # noqa: F401 (the fixture)
from tests.helpers import write_manifest

NUMBER = (int, float)
TEXT_OR_NONE = (str, type(None))
STATUS = {"batch_id": int, "name": str, "total": int, "counts": dict, "done": bool, "uncertain_submits": int,
          "cost_usd": NUMBER, "parked": TEXT_OR_NONE, "budget_usd": (int, float, type(None)), "reviews": dict,
          "paused": TEXT_OR_NONE, "odd_costs": int, "waiting_on_identical": int, "pilot": TEXT_OR_NONE,
          "pilot_waiting": bool}


def check(doc: Any, schema: dict[str, Any]) -> None:
    """``doc`` has exactly the keys of ``schema``, each value of the type given (bool is not an int here)."""
    assert isinstance(doc, dict), doc
    assert sorted(doc) == sorted(schema), f"keys changed: {sorted(doc)} != {sorted(schema)}"
    for key, kinds in schema.items():
        allowed = kinds if isinstance(kinds, tuple) else (kinds,)
        assert type(doc[key]) in allowed, f"{key}: {doc[key]!r} is not {allowed}"


@pytest.fixture(scope="module")
def world(prepared: World) -> World:  # noqa: F811 (the imported fixture)
    """``prepared``'s batches, the finished one's outputs all approved."""
    assert nb(prepared, "review", "approve", str(prepared.done_id), "--all").returncode == 0
    return prepared


def nb(world: World, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "batch", *args], env=world.env, cwd=world.folder,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == code, done.stdout + done.stderr
    return done


def as_json(world: World, *args: str, code: int = 0) -> Any:
    """The command's stdout: one JSON document and nothing else."""
    out = nb(world, *args, code=code).stdout
    assert len(out.strip().splitlines()) == 1, out
    return json.loads(out)


def test_validate_json(world: World) -> None:
    ok = as_json(world, "validate", "--json", str(world.folder / "jobs.yaml"))
    schema = {"manifest": str, "ok": bool, "name": TEXT_OR_NONE, "jobs": int, "warnings": list, "problems": list}
    check(ok, schema)
    assert (ok["ok"], ok["name"], ok["jobs"], ok["problems"]) == (True, "done", 4, [])
    bad = world.folder / "bad.yaml"
    bad.write_text("name: bad\njobs:\n  - id: a\n    prompt: '{titel}'\n    image_urls: [https://x.example/a.png]\n"
                   "    resolution: 3K\n")
    refused = as_json(world, "validate", "--json", str(bad), code=2)
    check(refused, schema)
    assert refused["ok"] is False and len(refused["problems"]) == 2
    for problem in refused["problems"]:
        check(problem, {"file": str, "line": int, "field": str, "message": str})
    assert [p["line"] for p in refused["problems"]] == [4, 6]
    (world.folder / "blocker").write_text("a file where the output folder goes")
    blocked = world.folder / "blocked.yaml"
    blocked.write_text(f"name: b\noutput_dir: {world.folder / 'blocker'}\njobs:\n"
                       "  - {id: a, prompt: p, image_urls: ['https://x.example/a.png']}\n")
    unwritable = as_json(world, "validate", "--json", str(blocked), code=2)
    check(unwritable, schema)
    [problem] = unwritable["problems"]
    assert (problem["line"], problem["field"]) == (0, "") and "blocker" in problem["message"]


def test_review_list_json(world: World) -> None:
    listed = as_json(world, "review", "list", str(world.done_id), "--json")
    assert len(listed) == 4
    for line in listed:
        check(line, {"id": str, "state": str, "decision": TEXT_OR_NONE, "note": TEXT_OR_NONE, "who": TEXT_OR_NONE,
                     "at": TEXT_OR_NONE})
    assert {line["decision"] for line in listed} == {"approved"}


def test_export_json(world: World, tmp_path: Path) -> None:
    doc = as_json(world, "export", str(world.done_id), str(tmp_path / "dest"), "--approved", "--json")
    check(doc, {"batch_id": int, "dest": str, "files": list})
    assert doc["dest"] == str(tmp_path / "dest") and len(doc["files"]) == 4
    for row in doc["files"]:
        check(row, {"id": str, "output": str, "source": str, "bytes": int, "sha256": str, "approved_by": str,
                    "approved_at": str})
        assert (tmp_path / "dest" / row["output"]).stat().st_size == row["bytes"]


def test_report_to_stdout_writes_no_file(world: World) -> None:
    report = json.loads(nb(world, "report", str(world.done_id), "-o", "-").stdout)
    assert len(report["jobs"]) == 4
    text = nb(world, "report", str(world.done_id), "-o", "-", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["state"] for row in rows] == ["succeeded"] * 4
    assert not (world.folder / "-").exists()


def test_cancel_retry_and_resume_json(world: World) -> None:
    batch = str(world.pending_id)
    cancelled = as_json(world, "cancel", batch, "--json")
    check(cancelled, {"batch_id": int, "not_submitted": int, "cancelled_upstream": int, "not_sent": int,
                      "still_running": int})
    assert (cancelled["batch_id"], cancelled["not_submitted"]) == (world.pending_id, 2)
    retried = as_json(world, "retry", batch, "--cancelled", "--json")
    check(retried, {"batch_id": int, "queued": int, "downloads": int, "resubmits": int, "repaid": int, "reread": int,
                    "unreadable": int})
    assert (retried["queued"], retried["resubmits"], retried["downloads"]) == (2, 2, 0)
    resumed = as_json(world, "resume", batch, "--detach", "--json")
    check(resumed, {"batch_id": int, "released": int, "status": type(None)})


def test_retry_rejected_json(world: World) -> None:
    nothing = as_json(world, "retry", str(world.done_id), "--rejected", "--yes", "--json")
    check(nothing, {"batch_id": int, "rejected": list, "estimated_cost_usd": NUMBER, "queued": int})
    assert (nothing["rejected"], nothing["queued"]) == ([], 0)
    refused = nb(world, "retry", str(world.done_id), "--rejected", "--json", code=2)
    assert refused.stderr.strip() == "error: --json with --rejected needs --yes (nothing can be asked)"


def test_resume_json_in_the_foreground_has_the_status(tmp_path: Path) -> None:
    with running_simulator(SimulatorConfig(port=0, latency=(0.0, 0.0), workers=8)) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
        env.update({"NANOBATCH_HOME": str(tmp_path / "home"), "RUNCOMFY_API_BASE": sim.base_url,
                    "RUNCOMFY_API_TOKEN": "t"})
        world = World(env, tmp_path, 1, 1)
        manifest = str(write_manifest(tmp_path, sim.base_url, items=1, styles=2))
        assert nb(world, "submit", manifest).stdout.strip() == "1"
        resumed = as_json(world, "resume", "1", "--json")
    check(resumed, {"batch_id": int, "released": int, "status": dict})
    check(resumed["status"], STATUS)
    assert resumed["status"]["counts"] == {"succeeded": 2}


def test_prune_json(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(tmp_path / "home"), "RUNCOMFY_API_BASE": "http://127.0.0.1:9",
                "RUNCOMFY_API_TOKEN": "t"})
    world = World(env, tmp_path, 1, 1)
    assert nb(world, "submit", str(write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=2))).stdout
    sessions = db.session_factory(f"sqlite:///{tmp_path / 'home' / 'nanobatch.db'}")
    with transaction(sessions) as session:  # made 100 days ago, its jobs cancelled then
        batch = session.get(Batch, 1)
        assert batch is not None
        batch.created_at = time.time() - 100 * 86_400
        store.transition_all(session, 1, S.PENDING, S.CANCELLED, now=batch.created_at)
    db.dispose_engines()
    nb(world, "prune", "--older-than", "90d", "--json", code=2)  # nothing can be asked
    doc = as_json(world, "prune", "--older-than", "90d", "--yes", "--json")
    check(doc, {"older_than": str, "cutoff": str, "files": bool, "batches": list, "deleted": dict})
    [old] = doc["batches"]
    check(old, {"batch_id": int, "name": str, "created_at": str, "jobs": int})
    check(doc["deleted"], {"batches": int, "jobs": int, "events": int, "outputs": int, "notifications": int,
                           "files": int, "kept": list, "changed": list})
    assert (old["batch_id"], old["jobs"], doc["deleted"]["batches"], doc["deleted"]["jobs"]) == (1, 2, 1, 2)


def test_schedules_list_and_run_json(world: World, tmp_path: Path) -> None:
    write_manifest(tmp_path, world.env["RUNCOMFY_API_BASE"], items=1, styles=1, name="catalog")
    path = tmp_path / "schedules.yaml"
    path.write_text(f"schedules:\n  - {{name: nightly, manifest: {tmp_path / 'jobs.yaml'}, cron: '0 2 * * *'}}\n")
    fired = as_json(world, "schedules", "run", "nightly", "--file", str(path), "--json")
    check(fired, {"schedule": str, "batch_id": int, "slot": str, "state": str, "runner": str, "status": type(None)})
    assert (fired["schedule"], fired["state"], fired["runner"]) == ("nightly", "fired", "none")
    [entry] = as_json(world, "schedules", "list", "--file", str(path), "--json")
    check(entry, {"name": str, "cron": str, "timezone": str, "next": list, "last_run": dict})
    check(entry["last_run"], {"slot": str, "state": str, "batch_id": int, "running": bool, "detail": TEXT_OR_NONE})
    assert len(entry["next"]) == 3 and entry["last_run"]["batch_id"] == fired["batch_id"]


def test_schedules_run_prints_only_the_batch_id_and_says_who_runs_it(world: World, tmp_path: Path) -> None:
    write_manifest(tmp_path, world.env["RUNCOMFY_API_BASE"], items=1, styles=1, name="catalog")
    path = tmp_path / "schedules.yaml"
    path.write_text(f"schedules:\n  - {{name: nightly, manifest: {tmp_path / 'jobs.yaml'}, cron: '0 2 * * *'}}\n")
    done = nb(world, "schedules", "run", "nightly", "--file", str(path))
    batch_id = int(done.stdout)
    assert "no beat is alive" in done.stderr and f"nanobatch resume {batch_id}" in done.stderr
    waited = nb(world, "schedules", "run", "nightly", "--file", str(path), "--wait", "--no-progress")
    first, *rest = waited.stdout.splitlines()
    assert first.isdigit() and any("total" in line for line in rest), waited.stdout
    status = json.loads(nb(world, "status", first, "--json").stdout)
    assert status["done"] is True and status["total"] == 1


def test_status_json(world: World) -> None:
    one = as_json(world, "status", str(world.done_id), "--json")
    check(one, STATUS)
    listed = as_json(world, "status", "--json")
    assert len(listed) >= 2
    for row in listed:
        check(row, {"batch_id": int, "name": str, "created_at": str, "total": int, "done": int, "succeeded": int,
                    "failed": int, "counts": dict, "cost_usd": NUMBER})


def test_submit_json(world: World, tmp_path: Path) -> None:
    manifest = str(write_manifest(tmp_path, world.env["RUNCOMFY_API_BASE"], items=1, styles=1, extra="budget_usd: 5\n"))
    planned = as_json(world, "submit", manifest, "--dry-run", "--json")
    check(planned, {"jobs": int, "cached": int, "waiting": int, "paid_again": int, "to_run": int,
                    "estimated_cost_usd": NUMBER, "budget_usd": NUMBER, "over_budget": bool})
    check(as_json(world, "submit", manifest, "--json"), {"batch_id": int, "jobs": int})
