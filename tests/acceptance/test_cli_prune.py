"""``nanobatch prune`` as a user runs it: a bad age, a running batch kept, a finished one deleted."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import select, update

from batch.core.states import JobState as S
from batch.store import db
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch, Job
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

OFFLINE = {"RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "t"}  # submit wants a token, any base


def age(home: Path, batch_id: int, days: float, end: S | None = None) -> None:
    """Make the batch ``days`` old (and, with ``end``, move its pending jobs there, that long ago)."""
    sessions = db.session_factory(f"sqlite:///{home / 'nanobatch.db'}")
    at = time.time() - days * 86_400
    with transaction(sessions) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        batch.created_at = at
        if end is not None:
            store.transition_all(session, batch_id, S.PENDING, end, now=at)
    db.dispose_engines()


def test_bad_age_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = nanobatch(["prune", "--older-than", "ninety", "--yes"], tmp_path / "home", tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --older-than 'ninety': expected a positive number and a unit (s, min, h, d, w), e.g. 90d"]


def test_m_is_refused_as_ambiguous_and_nothing_goes(tmp_path: Path) -> None:
    """``3m`` once meant three minutes and deleted the batches of the last hour: now it is refused."""
    home = tmp_path / "home"
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1))
    assert nanobatch(["submit", manifest], home, tmp_path, **OFFLINE).returncode == 0
    age(home, 1, 0.01, end=S.CANCELLED)  # 15 minutes old, finished
    done = nanobatch(["prune", "--older-than", "3m", "--yes"], home, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --older-than '3m': 'm' could be minutes or months; write 3min for minutes, "
        "or days (e.g. 90d) for months"]
    listed = json.loads(nanobatch(["status", "--json"], home, tmp_path).stdout)
    assert [b["batch_id"] for b in listed] == [1]
    minutes = nanobatch(["prune", "--older-than", "3min", "--yes"], home, tmp_path)
    assert minutes.returncode == 0 and "deleted 1 batches" in minutes.stdout, minutes.stdout + minutes.stderr


def test_yes_still_prints_the_cutoff_and_what_goes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2))
    assert nanobatch(["submit", manifest], home, tmp_path, **OFFLINE).returncode == 0
    age(home, 1, 100, end=S.CANCELLED)
    done = nanobatch(["prune", "--older-than", "90d", "--yes"], home, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cutoff: 20") and "90d ago" in lines[0]
    assert lines[1] == "1 batches older than 90d (4 jobs) will be deleted:"
    assert lines[2].startswith("  batch 1 'test-batch', created 20") and lines[2].endswith(", 4 jobs")


def test_running_batch_stays_and_finished_one_goes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2))
    for _ in range(2):
        assert nanobatch(["submit", manifest], home, tmp_path, **OFFLINE).returncode == 0
    age(home, 1, 100)  # old, but its jobs are still pending
    age(home, 2, 100, end=S.CANCELLED)
    asked = nanobatch(["prune", "--older-than", "90d"], home, tmp_path)  # no --yes, no answer: nothing goes
    assert asked.returncode != 0 and "1 batches older than 90d (4 jobs) will be deleted:\n  batch 2 " in asked.stdout
    done = nanobatch(["prune", "--older-than", "90d", "--yes"], home, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "deleted 1 batches: 4 jobs, 4 events, 0 output rows, 0 notifications; 0 files" in done.stdout
    listed = json.loads(nanobatch(["status", "--json"], home, tmp_path).stdout)
    assert [b["batch_id"] for b in listed] == [1]
    again = nanobatch(["prune", "--older-than", "90d", "--yes"], home, tmp_path)
    assert again.returncode == 0 and "no finished batch older than 90d" in again.stdout


def test_ids_of_a_pruned_newest_batch_are_never_handed_out_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2))
    for _ in range(2):
        assert nanobatch(["submit", manifest, "--force"], home, tmp_path, **OFFLINE).returncode == 0
    age(home, 2, 100, end=S.CANCELLED)  # the newest batch goes
    assert nanobatch(["prune", "--older-than", "90d", "--yes"], home, tmp_path).returncode == 0
    done = nanobatch(["submit", manifest, "--force"], home, tmp_path, **OFFLINE)
    assert done.returncode == 0, done.stderr
    listed = json.loads(nanobatch(["status", "--json"], home, tmp_path).stdout)
    assert sorted(b["batch_id"] for b in listed) == [1, 3]  # not 2 again: what named batch 2 still means the pruned one
    sessions = db.session_factory(f"sqlite:///{home / 'nanobatch.db'}")
    with sessions() as session:
        new_jobs = session.scalars(select(Job.id).where(Job.batch_id == 3)).all()
    db.dispose_engines()
    assert min(new_jobs) > 8  # batches 1 and 2 had jobs 1..8

def test_files_changed_since_recorded_are_kept_and_listed(tmp_path: Path) -> None:
    from batch.simulator import spawn_simulator

    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0"]) as sim:
        manifest = str(write_manifest(tmp_path, sim.base_url, items=3, styles=1))
        done = nanobatch(["run", manifest], home, tmp_path, RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
        assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    intact, retouched, linked = (out / f"sku-00{i}" / "s0.png" for i in range(3))
    retouched.write_bytes(retouched.read_bytes() + b"retouched by hand")
    linked.unlink()
    linked.symlink_to(intact)  # a link, even to an image of the batch, is not the recorded file
    age(home, 1, 100)
    sessions = db.session_factory(f"sqlite:///{home / 'nanobatch.db'}")
    with transaction(sessions) as session:  # and its jobs finished that long ago
        session.execute(update(Job).values(finished_at=time.time() - 100 * 86_400))
    db.dispose_engines()
    pruned = nanobatch(["prune", "--older-than", "90d", "--files", "--yes"], home, tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 1 batches: 3 jobs" in pruned.stdout and "; 1 files" in pruned.stdout
    assert pruned.stdout.splitlines()[-3:] == [
        "kept 2 files changed since they were recorded (size or sha256 differs, or a link):",
        f"  {retouched}", f"  {linked}"]
    assert not intact.exists() and retouched.read_bytes().endswith(b"retouched by hand") and linked.is_symlink()
