"""Reviewing with the keyboard in a real browser: decisions land on the image under focus.

Playwright drives Debian's chromium (headless) over ``nanobatch serve``'s app on a 36-job batch
(12 items x 3 styles, run on the simulator): the live refresh held in flight while keys are
pressed, Enter on links, keys with a button focused, undo and clear, approve-group over a
rejection, range selection, export from the page, axe-core on every page, and screenshots at
800, 1400 and 2560 px (in /tmp/review-shots/).
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from batch.commands.review import decide
from batch.core.cost import PriceTable
from batch.engine.runtime import Runtime
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import reviews
from batch.store.models import Job
from batch.web.app import WebState, background_server, build_app
from batch.web.thumbcache import ThumbCache
from tests.browser import chromium, serious_violations
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

SHOTS = Path("/tmp/review-shots")
ITEMS, STYLES = 12, 3
FOCUSED = "document.activeElement.dataset.tile || null"


@dataclass
class Served:
    rt: Runtime
    base: str
    folder: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("keys")
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=8)) as sim:
        rt = make_runtime(make_settings(folder, f"sqlite:///{folder / 'nb.db'}", sim.base_url))
        (folder / "sim_url").write_text(sim.base_url)
        state = WebState(rt.sessions, ThumbCache(folder / "thumbs"), PriceTable(), "csrf-" + "k" * 20, "tester")
        with background_server(build_app(state)) as base:
            yield Served(rt, base, folder)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


def _batch(served: Served, tmp_path: Path) -> int:
    """A fresh batch of ITEMS x STYLES finished jobs (each test decides on its own)."""
    sim_url = (served.folder / "sim_url").read_text()
    manifest = write_manifest(tmp_path, sim_url, items=ITEMS, styles=STYLES)
    batch_id = submit_manifest(served.rt, manifest, time.time())
    drain(served.rt, batch_id, timeout=120)
    return batch_id


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def _decisions(served: Served, batch_id: int) -> dict[str, str]:
    """Each output's decision now, by its job key (the batch's jobs have one output each)."""
    with served.rt.sessions() as s:
        keys = {job_id: key for job_id, key, _ in reviews.reviewable_jobs(s, batch_id, [])}
        return {keys[j]: d.decision for (j, _), d in reviews.of_batch_outputs(s, batch_id).items()}


def _tile(page: Any, n: int) -> dict[str, str]:
    found: dict[str, str] = page.evaluate("n => { const t = document.querySelectorAll('.tile')[n]; "
                                          "return {tile: t.dataset.tile, key: t.dataset.key}; }", n)
    return found


def _settled(page: Any) -> None:
    page.wait_for_function("window.nbSheet.inflight === 0")


def test_a_refresh_in_flight_moves_no_decision_and_no_focus(served: Served, tmp_path: Path, page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    held: list[tuple[Any, Any]] = []
    page.route("**/changes?*", lambda route: held.append((route, route.fetch())))
    page.goto(f"{served.base}/batch/{batch_id}")
    page.wait_for_selector(".tile img")
    first = [_tile(page, n) for n in range(6)]
    page.keyboard.press("ArrowRight")  # the first press lands on the first tile, not the second
    assert page.evaluate(FOCUSED) == first[0]["tile"]
    # someone else decides on the first five images: the next refresh carries their tiles
    decide(served.rt.sessions, batch_id, [t["key"] for t in first[:5]], "rejected", now=time.time(), who="other")
    page.evaluate("() => { window.nbSheet.refresh(); }")
    while not held:  # the refresh's answer is computed now (the five as rejected by "other"), and held
        page.wait_for_timeout(20)
    for key in "aara":  # pressed while that answer is in flight
        page.keyboard.press(key)
    _settled(page)
    for route, answer in held:  # the stale answers land after the decisions
        route.fulfill(response=answer)
    page.unroute("**/changes?*")
    page.wait_for_function("window.nbSheet.refreshStarts >= 1")
    page.wait_for_timeout(200)
    assert page.evaluate(FOCUSED) == first[4]["tile"]  # focus survived the patch of its own tile
    wanted = {first[0]["key"]: "approved", first[1]["key"]: "approved", first[2]["key"]: "rejected",
              first[3]["key"]: "approved", first[4]["key"]: "rejected"}
    assert {k: v for k, v in _decisions(served, batch_id).items() if k in wanted} == wanted
    shown = page.evaluate("Array.from(document.querySelectorAll('.tile')).slice(0, 5).map(t => t.dataset.decision)")
    assert shown == ["approved", "approved", "rejected", "approved", "rejected"]
    page.evaluate("window.nbSheet.refresh()")  # a fresh answer agrees (awaited)
    page.wait_for_timeout(300)
    assert page.evaluate(FOCUSED) == first[4]["tile"]
    assert page.evaluate("Array.from(document.querySelectorAll('.tile')).slice(0, 5).map(t => t.dataset.decision)") \
        == shown


def test_enter_follows_links_and_keys_skip_buttons(served: Served, tmp_path: Path, page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    page.goto(f"{served.base}/batch/{batch_id}?per=10")
    page.wait_for_selector(".tile img")
    page.focus("#rerun")
    page.keyboard.press("a")  # a button has focus: no image is decided behind it
    page.keyboard.press("r")
    assert _decisions(served, batch_id) == {}
    page.focus("a[rel=next]")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=page 2 of 4")
    assert page.is_hidden("#viewer")


def test_undo_and_clear(served: Served, tmp_path: Path, page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    page.goto(f"{served.base}/batch/{batch_id}")
    page.wait_for_selector(".tile img")
    keys = [_tile(page, n)["key"] for n in range(3)]
    for key in ("ArrowRight", "a", "r", "a"):
        page.keyboard.press(key)
    _settled(page)
    assert _decisions(served, batch_id) == {keys[0]: "approved", keys[1]: "rejected", keys[2]: "approved"}
    page.keyboard.press("u")
    _settled(page)
    page.keyboard.press("Control+z")
    _settled(page)
    assert _decisions(served, batch_id) == {keys[0]: "approved"}
    assert page.evaluate(FOCUSED) == _tile(page, 1)["tile"]  # undo goes back to the image it undid
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("c")  # clear: back to unreviewed
    _settled(page)
    assert _decisions(served, batch_id) == {}
    assert page.locator(".tile.d-approved").count() == 0


def test_approve_group_asks_before_overriding_and_acts_on_the_whole_group(served: Served, tmp_path: Path,
                                                                         page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    decide(served.rt.sessions, batch_id, ["sku-011-s0"], "rejected", now=time.time(), who="other")
    page.goto(f"{served.base}/batch/{batch_id}?group=style&per=5")  # the page shows 5 of style s0's 12
    page.wait_for_selector(".tile img")
    assert page.text_content(".group .gcount") == f"{ITEMS} images"
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept() if len(asked) > 1 else dialog.dismiss()

    page.on("dialog", answer)
    page.click(".group .bulk")
    while not asked:
        page.wait_for_timeout(20)
    assert asked[0].startswith(f"1 of the {ITEMS} images of this group are rejected")
    assert _decisions(served, batch_id) == {"sku-011-s0": "rejected"}  # refused: nothing changed
    page.click(".group .bulk")
    page.wait_for_selector(f"text={ITEMS} approved")
    assert _decisions(served, batch_id) == {f"sku-{i:03d}-s0": "approved" for i in range(ITEMS)}
    page.keyboard.press("u")
    _settled(page)
    assert _decisions(served, batch_id) == {"sku-011-s0": "rejected"}


def test_range_selection_and_bulk_decisions(served: Served, tmp_path: Path, page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    page.goto(f"{served.base}/batch/{batch_id}")
    page.wait_for_selector(".tile img")
    keys = [_tile(page, n)["key"] for n in range(6)]
    for key in ("ArrowRight", "Shift+ArrowRight", "Shift+ArrowRight"):
        page.keyboard.press(key)
    assert page.locator(".tile[aria-selected=true]").count() == 3
    page.keyboard.press("r")
    _settled(page)
    assert _decisions(served, batch_id) == {k: "rejected" for k in keys[:3]}
    page.click(".tile >> nth=3", modifiers=[])
    page.keyboard.press("Escape")  # closes the viewer the click opened
    page.click(".tile >> nth=5", modifiers=["Shift"])
    assert page.locator(".tile[aria-selected=true]").count() == 3
    page.keyboard.press("a")
    _settled(page)
    assert _decisions(served, batch_id) == {**{k: "rejected" for k in keys[:3]}, **{k: "approved" for k in keys[3:]}}


def test_review_mode_walks_the_unreviewed_and_tiles_resize(served: Served, tmp_path: Path, page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    page.goto(f"{served.base}/batch/{batch_id}")
    page.wait_for_selector(".tile img")
    tiles = [_tile(page, n) for n in range(4)]
    decide(served.rt.sessions, batch_id, [tiles[1]["key"], tiles[2]["key"]], "approved", now=time.time(), who="other")
    page.evaluate("window.nbSheet.refresh()")  # the page learns of them (awaited)
    page.check("#mode")
    page.locator(".tile").first.focus()  # back to the grid (the grid's one tab stop)
    page.keyboard.press("r")
    assert page.evaluate(FOCUSED) == tiles[3]["tile"]  # on to the next unreviewed, past the two approved
    _settled(page)
    width = page.evaluate("document.querySelector('.tile').getBoundingClientRect().width")
    page.fill("#size", "400")
    assert page.evaluate("document.querySelector('.tile').getBoundingClientRect().width") > width * 1.5


def test_the_viewer_compares_input_and_output(served: Served, tmp_path: Path, page: Any) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    batch_id = _batch(served, tmp_path)
    page.goto(f"{served.base}/batch/{batch_id}")
    page.wait_for_selector(".tile img")
    second = _tile(page, 1)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('v-out').naturalWidth > 0 && "
                           "document.getElementById('v-in').naturalWidth > 0")
    with served.rt.sessions() as s:
        url = s.scalars(select(Job.inputs).where(Job.batch_id == batch_id).order_by(Job.id)).first()["image_urls"][0]
    with Image.open(io.BytesIO(requests.get(url, timeout=10).content)) as original:
        assert page.evaluate("document.getElementById('v-in').naturalWidth") == original.width  # not a thumbnail
    out_id = page.evaluate(f"document.querySelector('.tile[data-tile=\"{second['tile']}\"]').dataset.out")
    page.wait_for_function(f"performance.getEntriesByType('resource').some(r => r.name.endsWith('/files/{out_id}'))")
    page.keyboard.press("+")  # both to 100%
    widths = page.evaluate("['v-in', 'v-out'].map(i => { const m = document.getElementById(i); "
                           "return [m.getBoundingClientRect().width, m.naturalWidth]; })")
    assert all(abs(shown - natural) < 1 for shown, natural in widths)
    page.keyboard.press("+")  # 200%: both panes scroll, together
    page.wait_for_function("document.querySelector('.vpair').dataset.zoom === '2'")  # laid out at 200% first
    # the zoom's own scroll events (both panes centred) are dispatched with the next frames: let them
    # pass, as a person's pan always comes after them
    page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.evaluate("(() => { const p = document.querySelectorAll('.vpair figure'); "
                  "p[1].scrollLeft = (p[1].scrollWidth - p[1].clientWidth) * 0.75; })()")
    shares = ("Array.from(document.querySelectorAll('.vpair figure'))"
              ".map(p => p.scrollLeft / (p.scrollWidth - p.clientWidth))")
    with contextlib.suppress(PlaywrightTimeout):  # the other pane follows on its scroll event; asserted below
        page.wait_for_function(f"{shares}.every(f => Math.abs(f - 0.75) < 0.02)", timeout=5000)
    fractions = page.evaluate(shares)
    assert fractions[1] == pytest.approx(0.75, abs=0.02) and fractions[0] == pytest.approx(0.75, abs=0.02)
    decide(served.rt.sessions, batch_id, [_tile(page, 0)["key"]], "rejected", now=time.time(), who="other",
           note="seen elsewhere")
    page.evaluate("window.nbSheet.refresh()")  # a refresh that patches the open image's tile (awaited)
    assert page.text_content("#v-decision") == "rejected: seen elsewhere"
    assert page.evaluate("document.querySelector('.vpair').dataset.zoom") == "2"  # zoom and pan kept
    assert page.evaluate("document.querySelectorAll('.vpair figure')[0].scrollLeft") > 0
    page.keyboard.press("0")
    page.keyboard.press("b")  # before: the input alone, in the output's place
    assert page.is_visible("#v-in") and page.is_hidden("#v-out")
    page.keyboard.press("b")
    assert page.is_hidden("#v-in") and page.is_visible("#v-out")
    page.keyboard.press("Shift+B")
    assert page.is_visible("#v-in") and page.is_visible("#v-out")
    page.keyboard.press("Escape")
    assert page.evaluate(FOCUSED) == _tile(page, 0)["tile"]  # focus back on the image it opened from


def test_groups_sit_side_by_side_and_arrow_down_goes_to_the_image_below(served: Served, tmp_path: Path,
                                                                        page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    page.goto(f"{served.base}/batch/{batch_id}")  # 12 items of 3 images, at 1400 px
    page.wait_for_selector(".tile img")
    tops = page.evaluate("Array.from(document.querySelectorAll('.group')).slice(0, 2)"
                         ".map(g => g.getBoundingClientRect().top)")
    assert tops[0] == tops[1]  # two items on one line: the width is used
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    here, there = page.evaluate("[document.querySelector('.tile'), document.activeElement]"
                                ".map(t => { const b = t.getBoundingClientRect(); return [b.left, b.top]; })")
    assert there[0] == here[0] and there[1] > here[1]
    page.keyboard.press("ArrowUp")
    assert page.evaluate(FOCUSED) == _tile(page, 0)["tile"]


def test_export_from_the_page(served: Served, tmp_path: Path, page: Any) -> None:
    batch_id = _batch(served, tmp_path)
    dest = tmp_path / "approved"
    page.goto(f"{served.base}/batch/{batch_id}")
    page.wait_for_selector(".tile img")
    keys = [_tile(page, n)["key"] for n in range(2)]
    for key in ("ArrowRight", "a", "a"):
        page.keyboard.press(key)
    _settled(page)
    page.on("dialog", lambda dialog: dialog.accept(str(dest)))
    page.click("#export")
    page.wait_for_selector("text=exported 2 approved images")
    with (dest / "export.csv").open() as f:
        assert sorted(row["id"] for row in csv.DictReader(f)) == sorted(keys)


def test_every_page_passes_axe_and_is_shot_at_three_widths(served: Served, tmp_path: Path, browser: Any) -> None:
    batch_id = _batch(served, tmp_path)
    decide(served.rt.sessions, batch_id, ["sku-000-s1"], "rejected", now=time.time(), who="other", note="logo cut")
    decide(served.rt.sessions, batch_id, ["sku-000-s0"], "approved", now=time.time(), who="other")
    SHOTS.mkdir(exist_ok=True)
    found: dict[str, list[str]] = {}
    for width in (800, 1400, 2560):
        context = browser.new_context(viewport={"width": width, "height": 1000})
        try:
            page = context.new_page()
            page.goto(f"{served.base}/")
            page.wait_for_selector(f"#batch-{batch_id}")
            found[f"batches@{width}"] = serious_violations(page)
            page.screenshot(path=str(SHOTS / f"batches-{width}.png"))
            page.goto(f"{served.base}/batch/{batch_id}")
            page.wait_for_function("Array.from(document.querySelectorAll('#grid img'))"
                                   ".filter(i => i.getBoundingClientRect().top < innerHeight)"
                                   ".every(i => i.complete && i.naturalWidth)")
            page.keyboard.press("ArrowRight")
            page.keyboard.press("Shift+ArrowRight")
            found[f"sheet@{width}"] = serious_violations(page)
            page.screenshot(path=str(SHOTS / f"sheet-{width}.png"))
            page.keyboard.press("Enter")
            page.wait_for_function("document.getElementById('v-out').naturalWidth > 0")
            found[f"viewer@{width}"] = serious_violations(page)
            page.screenshot(path=str(SHOTS / f"viewer-{width}.png"))
            page.keyboard.press("Escape")
            page.keyboard.press("?")
            page.wait_for_selector("#help:not([hidden])")
            found[f"help@{width}"] = serious_violations(page)
            page.screenshot(path=str(SHOTS / f"help-{width}.png"))
        finally:
            context.close()
    bad = [f"{where}: {line}" for where, lines in found.items() for line in lines]
    assert not bad, "\n".join(bad)
