"""Money in exact units: migration 0010 (float dollars to integer micro-dollars, and back) and exact sums
(both databases)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from alembic import command
from sqlalchemy import select, text

from batch.commands.batches import create_batch
from batch.core.states import JobState as S
from batch.manifest import JobSpec, Limits, Manifest
from batch.store import db, queries
from batch.store import jobs as store
from batch.store.models import Batch, Job
from tests.conftest import Backend


def test_0010_turns_float_dollars_into_micro_dollars_and_its_downgrade_back(tmp_path: Path,
                                                                           backend: Backend) -> None:
    specs = [JobSpec(id=f"j{i}", inputs={"prompt": "p"}, output_name=f"j{i}.png", line=1, vars={}) for i in range(3)]
    manifest = Manifest(name="t", path=str(tmp_path / "m.yaml"), jobs=specs, output_dir=str(tmp_path / "out"),
                        limits=Limits(), budget_usd=0.9, notify=None, warnings=[])
    sessions = db.session_factory(backend.db_url)
    batch_id = create_batch(sessions, manifest, now=100.0)
    engine = db.get_engine(backend.db_url)
    cfg = db.alembic_config(engine)
    command.downgrade(cfg, "0009")
    with engine.begin() as conn:  # what float arithmetic left: three $0.15 jobs summed to 0.44999999999999996
        conn.execute(text("UPDATE jobs SET cost = 0.15"))
        conn.execute(text("UPDATE batches SET charged_usd = :total"), {"total": 0.15 + 0.15 + 0.15})

    def money() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            batches = conn.execute(text("SELECT charged_usd, budget_usd FROM batches")).all()
            costs = conn.execute(text("SELECT DISTINCT cost FROM jobs")).all()
        return [tuple(row) for row in [*batches, *costs]]

    command.upgrade(cfg, "0010")
    assert money() == [(450_000, 900_000), (150_000,)]
    with sessions() as session:
        batch = session.get_one(Batch, batch_id)
        assert (batch.charged_usd, batch.budget_usd) == (Decimal("0.45"), Decimal("0.9"))
    command.downgrade(cfg, "0009")
    assert money() == [(0.45, 0.9), (0.15,)]
    command.upgrade(cfg, "head")


def test_forty_fifteen_cent_costs_show_as_exactly_six_dollars(tmp_path: Path, backend: Backend) -> None:
    specs = [JobSpec(id=f"j{i}", inputs={"prompt": "p"}, output_name=f"j{i}.png", line=1, vars={}) for i in range(40)]
    manifest = Manifest(name="t", path=str(tmp_path / "m.yaml"), jobs=specs, output_dir=str(tmp_path / "out"),
                        limits=Limits(), budget_usd=None, notify=None, warnings=[])
    sessions = db.session_factory(backend.db_url)
    batch_id = create_batch(sessions, manifest, now=100.0)
    with db.transaction(sessions) as session:
        for job_id in session.scalars(select(Job.id).where(Job.batch_id == batch_id)).all():
            store.transition(session, job_id, S.PENDING, S.FAILED, now=101.0, cost=0.15)  # as the API's JSON gives it
    status = queries.batch_status(sessions, batch_id)
    assert status is not None
    assert json.dumps(status.as_json()["cost_usd"]) == "6.0"  # floats summed to 6.000000000000002
    assert sum(0.15 for _ in range(40)) != 6.0
