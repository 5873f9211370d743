"""``nanobatch serve`` in a real browser: Playwright driving Debian's chromium over a batch of 300 jobs.

Opens the batches page and a contact sheet, pages the grid, filters it, approves and rejects by
keyboard, re-runs the rejected jobs from the page and sees their new outputs appear. Screenshots
of each page go to the test's tmp dir and to /work/shots/ when that folder exists.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch.commands.review import reviewer
from batch.core.cost import PriceTable
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import reviews
from batch.web.app import WebState, background_server, build_app
from batch.web.thumbcache import ThumbCache
from tests.browser import chromium
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

SHOTS = Path("/work/shots")
ITEMS, STYLES = 60, 5
IN_VIEW_LOADED = ("Array.from(document.querySelectorAll('#grid img'))"
                  ".filter(i => i.getBoundingClientRect().top < innerHeight).every(i => i.complete && i.naturalWidth)")


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1400, "height": 900})


def _shot(page: Any, folder: Path, name: str) -> None:
    path = folder / f"serve-{name}.png"
    page.screenshot(path=str(path))
    if SHOTS.is_dir():
        shutil.copy(path, SHOTS / path.name)


def test_review_in_the_browser(tmp_path: Path, page: Any) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=8)) as sim:
        rt = make_runtime(make_settings(tmp_path, f"sqlite:///{tmp_path / 'nb.db'}", sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=ITEMS, styles=STYLES), time.time())
        drain(rt, batch_id, timeout=240)
        state = WebState(rt.sessions, ThumbCache(tmp_path / "thumbs"), PriceTable(), "csrf-" + "x" * 20, reviewer())
        with background_server(build_app(state)) as base:
            page.goto(base + "/")
            page.wait_for_selector(f"#batch-{batch_id} .done")
            assert page.text_content(f"#batch-{batch_id} .done") == f"{ITEMS * STYLES}/{ITEMS * STYLES}"
            _shot(page, tmp_path, "1-batches")

            page.click(f"#batch-{batch_id} a")
            page.wait_for_selector(".tile img")
            assert page.locator(".tile").count() == 240  # the default page
            page.wait_for_function(IN_VIEW_LOADED)
            _shot(page, tmp_path, "2-sheet")
            page.click("a[rel=next]")
            page.wait_for_selector("text=page 2 of 2")
            assert page.locator(".tile").count() == ITEMS * STYLES - 240

            page.select_option("select[name=style]", "s1")
            page.fill("input[name=q]", "sku-00")
            page.click("#filters button[type=submit]")
            page.wait_for_selector(f"text={10} shown of {10} matching")  # sku-000..sku-009, style s1
            page.wait_for_function(IN_VIEW_LOADED)
            _shot(page, tmp_path, "3-filtered")

            page.click(".tile >> nth=0")  # opens the viewer on the first tile
            page.wait_for_selector("#viewer:not([hidden]) #v-out")
            page.wait_for_function("document.getElementById('v-out').naturalWidth > 0")
            _shot(page, tmp_path, "4-viewer")
            page.keyboard.press("a")  # approve, then the viewer moves on
            page.wait_for_selector(".tile.d-approved")
            page.keyboard.press("r")
            page.wait_for_selector(".tile.d-rejected")
            page.keyboard.press("Escape")
            page.wait_for_selector("#viewer", state="hidden")
            page.keyboard.press("r")  # the third tile, from the grid
            page.wait_for_function("document.querySelectorAll('.tile.d-rejected').length === 2")
            page.wait_for_function("window.nbSheet.inflight === 0")
            with rt.sessions() as s:
                assert reviews.counts(s, batch_id) == {"approved": 1, "rejected": 2}

            page.on("dialog", lambda dialog: dialog.accept("keep the logo" if dialog.type == "prompt" else None))
            page.click("#rerun")
            page.wait_for_selector("text=2 jobs queued")
            page.wait_for_function("document.querySelectorAll('.tile[data-key$=\"~r2\"]').length === 2")
            drain(rt, batch_id, timeout=60)  # the workers' part, in-process
            page.wait_for_selector('.tile[data-key$="~r2"][data-out] img', timeout=30_000)
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.tile[data-key$=\"~r2\"] img'))"
                ".filter(i => i.complete && i.naturalWidth).length === 2", timeout=30_000)
            assert page.locator(".tile.d-rejected").count() == 2  # the rejected outputs are still there
            _shot(page, tmp_path, "5-rerun")
            page.click('.tile[data-key$="~r2"] >> nth=0')  # the viewer shows it beside the rejected original
            page.wait_for_function("document.querySelectorAll('#v-attempts .attempt').length === 2")
            captions = page.locator("#v-attempts figcaption").all_text_contents()
            assert captions[0].endswith(": rejected") and captions[1].endswith("~r2: unreviewed")
