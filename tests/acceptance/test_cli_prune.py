"""``nanobatch prune`` as a user runs it: a bad age, a running batch kept, a finished one deleted."""

from __future__ import annotations

import json
import time
from pathlib import Path

from batch.core.states import JobState as S
from batch.store import db
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch
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
