"""The pilot page of ``nanobatch serve`` in a real browser (Playwright, Debian's chromium): the variants
of each sampled item side by side, an output approved, a variant chosen and the pilot approved."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from batch.core.cost import PriceTable
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store.models import Batch, Job
from batch.web.app import WebState, background_server, build_app
from batch.web.thumbcache import ThumbCache
from tests.acceptance.test_cli_pilot import _variants_manifest
from tests.acceptance.test_serve_browser import _shot, page  # noqa: F401 (the browser fixture)
from tests.helpers import make_runtime, make_settings, submit_manifest

ITEMS = 6


def test_choose_a_variant_and_approve_the_pilot_in_the_browser(tmp_path: Path, page: Any) -> None:  # noqa: F811
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=8)) as sim:
        rt = make_runtime(make_settings(tmp_path, f"sqlite:///{tmp_path / 'nb.db'}", sim.base_url))
        batch_id = submit_manifest(rt, _variants_manifest(tmp_path, sim.base_url, ITEMS), time.time())
        drain(rt, batch_id, timeout=120)  # the pilot runs; the rest stays parked
        state = WebState(rt.sessions, ThumbCache(tmp_path / "thumbs"), PriceTable(), "csrf-" + "x" * 20, "alice")
        with background_server(build_app(state)) as base:
            page.goto(f"{base}/")
            assert page.text_content(f"#batch-{batch_id} .pilot") == "pilot 6/6 done, waiting for approval"
            page.goto(f"{base}/batch/{batch_id}")
            page.wait_for_selector("#pilot-link")
            assert page.text_content("#pilot-link") == "pilot 6/6 done, waiting for approval"
            page.click("#pilot-link")
            page.wait_for_selector(".pilot-item")
            assert page.locator(".pilot-item").count() == 4  # 2 items x studio (2 variants each), 2 x plain
            studio = page.locator(".pilot-item", has=page.locator('[data-variant="warm"]')).first
            assert studio.locator(".tile").count() == 2  # warm and neutral side by side
            page.wait_for_function("Array.from(document.querySelectorAll('.tile img')).every(i => i.naturalWidth)")
            _shot(page, tmp_path, "pilot-1")
            studio.locator('.tile[data-variant="neutral"] button[data-decision="approved"]').click()
            page.wait_for_selector('small.tally[data-variant="neutral"]:has-text("1 approved")')
            page.check('input[name="variant-studio"][value="neutral"]')
            page.click("#pilot-approve")
            page.wait_for_selector("#message:has-text('pilot approved')")
            assert "cancelled unpaid" in (page.text_content("#message") or "")
            _shot(page, tmp_path, "pilot-2")
        drain(rt, batch_id, timeout=120)  # the workers' part, in-process
    with rt.sessions() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        pilot = batch.options["pilot"]
        assert (pilot["decision"], pilot["by"], pilot["variants"]) == ("approved", "alice", {"studio": "neutral"})
        jobs = session.execute(select(Job.variant, Job.pilot, Job.state).where(Job.batch_id == batch_id)).all()
    assert {state for variant, pilot_job, state in jobs if variant == "warm" and not pilot_job} == {"cancelled"}
    assert {state for variant, pilot_job, state in jobs if variant != "warm" or pilot_job} == {"succeeded"}
