"""``prune``: old finished batches' rows go in bounded transactions; running batches and files stay."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from batch.commands import prune as pruning
from batch.commands.batches import create_batch
from batch.core.states import JobState as S
from batch.errors import InputError
from batch.manifest import load_manifest
from batch.store import db, notifications
from batch.store import jobs as store
from batch.store.db import transaction
from batch.store.models import Batch, Job, JobEvent, Notification, Output
from tests.conftest import Backend
from tests.helpers import write_manifest

DAY = 86_400.0
NOW = time.time()


def make_batch(sessions: sessionmaker[Session], folder: Path, name: str, *, age_days: float,
               end: S | None, files: bool = False) -> int:
    """A 2 x 3 batch created ``age_days`` ago; with ``end``, every job moved there then (with a file each)."""
    folder.mkdir(parents=True, exist_ok=True)
    at = NOW - age_days * DAY
    batch_id = create_batch(sessions, load_manifest(write_manifest(folder, "http://127.0.0.1:9", items=2, styles=3,
                                                                   name=name)), now=at)
    if end is None:
        return batch_id
    with transaction(sessions) as session:
        ids = store.transition_all(session, batch_id, S.PENDING, end, now=at)
        rows = []
        for i in ids:
            path = folder / "out" / f"{i}.png"
            if files:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"x")
            rows.append({"job_id": i, "idx": 0, "path": str(path), "url": None, "bytes": 1,
                         "sha256": hashlib.sha256(b"x").hexdigest(), "width": 1, "height": 1, "format": "png"})
        store.add_outputs(session, rows)
        notifications.add(session, [{"batch_id": batch_id, "channel": "webhook", "state": "sent", "attempts": 1,
                                     "next_attempt_at": at, "created_at": at}])
    return batch_id


def count(sessions: sessionmaker[Session], model: type, **where: object) -> int:
    with sessions() as session:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return int(session.scalar(stmt) or 0)


def test_only_old_finished_batches_go_in_bounded_transactions(tmp_path: Path, backend: Backend,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = db.session_factory(backend.db_url)
    old = make_batch(sessions, tmp_path / "old", "old", age_days=120, end=S.CACHED, files=True)
    running = make_batch(sessions, tmp_path / "running", "running", age_days=200, end=None)
    recent = make_batch(sessions, tmp_path / "recent", "recent", age_days=10, end=S.FAILED)
    monkeypatch.setattr(pruning, "JOBS_PER_TRANSACTION", 4)  # 6 jobs: two transactions
    found = pruning.candidates(sessions, pruning.parse_age("90d"), NOW)
    assert [b.batch_id for b in found] == [old] and found[0].jobs == 6
    done = pruning.prune(sessions, found)
    assert (done.batches, done.jobs, done.events, done.outputs, done.notifications, done.files) == (1, 6, 6, 6, 1, 0)
    assert count(sessions, Batch, id=old) == 0 and count(sessions, Job, batch_id=old) == 0
    assert count(sessions, Output) == 6 and count(sessions, JobEvent) == 6 and count(sessions, Notification) == 1
    assert count(sessions, Job, batch_id=running) == 6 and count(sessions, Job, batch_id=recent) == 6
    assert len(list((tmp_path / "old" / "out").glob("*.png"))) == 6  # files stay unless asked


def test_files_go_when_asked_except_those_a_kept_batch_records(tmp_path: Path, sqlite_url: str) -> None:
    sessions = db.session_factory(sqlite_url)
    old = make_batch(sessions, tmp_path / "old", "old", age_days=120, end=S.CACHED, files=True)
    newer = make_batch(sessions, tmp_path / "new", "new", age_days=1, end=S.CACHED)
    with sessions.begin() as session:  # the newer batch reused one of the old batch's files in place
        shared = session.scalars(select(Output).join(Job).where(Job.batch_id == old).order_by(Output.id)).first()
        mine = session.scalars(select(Output).join(Job).where(Job.batch_id == newer)).first()
        assert shared is not None and mine is not None
        mine.path = shared.path
    done = pruning.prune(sessions, pruning.candidates(sessions, 90 * DAY, NOW), files=True)
    assert done.batches == 1 and done.files == 5
    assert [p.name for p in (tmp_path / "old" / "out").glob("*.png")] == [Path(shared.path).name]


def test_a_batch_running_again_meanwhile_is_kept(tmp_path: Path, sqlite_url: str) -> None:
    sessions = db.session_factory(sqlite_url)
    old = make_batch(sessions, tmp_path / "old", "old", age_days=120, end=S.FAILED)
    found = pruning.candidates(sessions, 90 * DAY, NOW)
    with transaction(sessions) as session:  # someone runs ``retry`` between the listing and the deletes
        store.transition_all(session, old, S.FAILED, S.PENDING, now=NOW, only=Job.key == "sku-000-s0")
    done = pruning.prune(sessions, found)
    assert done.kept == [old] and done.batches == 0 and done.jobs == 5
    assert count(sessions, Job, batch_id=old, state="pending") == 1 and count(sessions, Batch, id=old) == 1
    assert pruning.candidates(sessions, 90 * DAY, NOW) == []  # not again while it runs


@pytest.mark.parametrize("text", ["90", "d", "-3d", "0d", "90days", "1y", "", "3m", "45m"])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--older-than"):
        pruning.parse_age(text)


def test_ages() -> None:
    assert [pruning.parse_age(t) for t in ("90d", "2w", "36h", "45min", "30s", "1.5d")] == \
        [90 * DAY, 14 * DAY, 36 * 3600, 45 * 60, 30, 1.5 * DAY]


def test_the_output_folder_a_prune_empties_goes_too(tmp_path: Path, sqlite_url: str) -> None:
    sessions = db.session_factory(sqlite_url)
    make_batch(sessions, tmp_path / "old", "old", age_days=120, end=S.CACHED, files=True)
    (tmp_path / "old" / "out" / "sub").mkdir()  # an empty sub-folder (output names may have folders)
    done = pruning.prune(sessions, pruning.candidates(sessions, 90 * DAY, NOW), files=True)
    assert done.files == 6
    assert not (tmp_path / "old" / "out").exists(), list((tmp_path / "old" / "out").rglob("*"))
    assert (tmp_path / "old").is_dir()  # above the batch's output folder nothing is touched
