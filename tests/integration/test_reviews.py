"""Reviews, reruns of rejected jobs and the export of approved files, over the simulator (both databases)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from batch.commands.export import MANIFEST_NAME, export_approved
from batch.commands.rerun import attempt_name, plan, rerun
from batch.commands.review import decide, list_reviews
from batch.core.cost import PriceTable
from batch.engine.tick import drain
from batch.errors import InputError
from batch.reports.data import load_report, render_csv
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import reviews
from batch.store.db import transaction
from batch.store.models import Batch, Job, Output
from batch.store.queries import batch_status
from batch.store.sheet import PageQuery, batch_events, index_new_jobs, page_ids, sheet_jobs
from batch.web.sheet import describe
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest


def _outputs(rt: object, batch_id: int) -> dict[str, list[Output]]:
    found: dict[str, list[Output]] = {}
    with rt.sessions() as s:  # type: ignore[attr-defined]
        for key, out in s.execute(select(Job.key, Output).join(Output, Output.job_id == Job.id)
                                  .where(Job.batch_id == batch_id)).all():
            found.setdefault(key, []).append(out)
    return found


def test_review_rerun_and_export(tmp_path: Path, backend: Backend) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.05), workers=8)) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url), backend.redis_url)
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=3, styles=2), time.time())
        drain(rt, batch_id, timeout=60)
        now = time.time()
        assert decide(rt.sessions, batch_id, ["sku-000-s0", "sku-001-s1"], "rejected", now=now, who="ann") == 2
        # the latest decision wins, the earlier stays in the history
        decide(rt.sessions, batch_id, ["sku-001-s1"], "approved", now=now + 1, note="fine after all", who="bob")
        assert decide(rt.sessions, batch_id, [], "approved", now=now + 2, who="ann", every_unreviewed=True) == 4
        with pytest.raises(InputError, match="no job 'nope'"):
            decide(rt.sessions, batch_id, ["nope"], "approved", now=now)
        status = batch_status(rt.sessions, batch_id)
        assert status is not None and status.reviews == {"approved": 5, "rejected": 1}
        lines = {line.key: line for line in list_reviews(rt.sessions, batch_id)}
        assert lines["sku-001-s1"].decision is not None and lines["sku-001-s1"].decision.who == "bob"
        with rt.sessions() as s:
            job_id = reviews.ids_by_key(s, batch_id, ["sku-001-s1"])["sku-001-s1"]
            assert [d.decision for d in reviews.history(s, [job_id])] == ["rejected", "approved"]
        report = {row["id"]: row for row in load_report(rt.sessions, batch_id).rows}
        assert report["sku-000-s0"]["review"] == "rejected" and report["sku-001-s1"]["review_note"] == "fine after all"
        assert "review" in render_csv(load_report(rt.sessions, batch_id)).splitlines()[0]

        planned = plan(rt.sessions, PriceTable(0.15, 0.3), batch_id, "keep the logo")
        assert planned.keys == ["sku-000-s0~r2"] and planned.cost_usd == pytest.approx(0.15)
        with transaction(rt.sessions) as s:  # cancelled meanwhile: a rerun opens it again
            batch = s.get(Batch, batch_id)
            assert batch is not None
            batch.cancelled_at = time.time()
        new_ids = rerun(rt.sessions, batch_id, now=time.time(), prompt_append="keep the logo")
        assert len(new_ids) == 1
        assert rerun(rt.sessions, batch_id, now=time.time()) == []  # twice: nothing more
        drain(rt, batch_id, timeout=60)

    with transaction(rt.sessions) as s:  # the contact sheet's queries, on this database too
        assert index_new_jobs(s, batch_id, describe) == 7
        assert index_new_jobs(s, batch_id, describe) == 0
    with rt.sessions() as s:
        ids = page_ids(s, batch_id, PageQuery())
        sheet = {j.key: j for j in sheet_jobs(s, ids)}
        assert sheet["sku-000-s0~r2"].rerun_of == sheet["sku-000-s0"].id and len(sheet) == 7
        assert ids.index(sheet["sku-000-s0~r2"].id) == ids.index(sheet["sku-000-s0"].id) + 1  # beside it
        assert page_ids(s, batch_id, PageQuery(review="rejected")) == [sheet["sku-000-s0"].id]
        assert sheet["sku-000-s0"].decision is not None and sheet["sku-000-s0"].outputs[0].width > 0
        assert batch_events(s, batch_id) == []
    files = _outputs(rt, batch_id)
    old, new = files["sku-000-s0"][0], files["sku-000-s0~r2"][0]
    assert Path(old.path).exists() and Path(new.path).exists() and old.path != new.path
    assert Path(new.path).name == "s0~r2.png"
    with rt.sessions() as s:
        rerun_job = s.get(Job, new_ids[0])
        assert rerun_job is not None and rerun_job.state == "succeeded"
        assert rerun_job.inputs["prompt"].endswith(" keep the logo")
        assert reviews.rerun_links(s, batch_id) == {new_ids[0]: reviews.ids_by_key(s, batch_id, ["sku-000-s0"])[
            "sku-000-s0"]}

    dest = tmp_path / "export"
    exported = export_approved(rt.sessions, batch_id, dest)
    assert sorted(f.key for f in exported) == ["sku-000-s1", "sku-001-s0", "sku-001-s1", "sku-002-s0", "sku-002-s1"]
    assert (dest / "sku-001" / "s1.png").read_bytes() == Path(files["sku-001-s1"][0].path).read_bytes()
    assert not (dest / "sku-000" / "s0.png").exists()
    with (dest / MANIFEST_NAME).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["output"] for r in rows] == [f.relative for f in exported] and rows[0]["approved_by"] == "ann"
    assert not list(dest.rglob("*.part"))


def test_attempt_names() -> None:
    assert attempt_name("sku-1-s0") == ("sku-1-s0", 2)
    assert attempt_name("sku-1-s0~r2") == ("sku-1-s0", 3)
