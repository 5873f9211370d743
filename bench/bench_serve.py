"""Time to first paint and page weight of a 1,000-job contact sheet in ``nanobatch serve``.

Runs 1,000 simulated jobs in-process (200 items x 5 styles), serves them on 127.0.0.1 and opens
the contact sheet in Debian's chromium through Playwright: once cold (no thumbnail made yet) and
once warm (thumbnails cached on disk), at the default page size and with all 1,000 on one page.
Prints first contentful paint (ms), the time until every thumbnail in view has loaded, and the
bytes transferred (HTML + CSS + JS + thumbnails loaded so far; lazy thumbnails below the fold
are not fetched until scrolled to).

First, the cost at scale: batches of 300 and 100,000 finished jobs written with bulk INSERTs
(not run), and the server time of the first page of each contact sheet (median of 15 requests
after the first, which indexes the batch once), their ratio (target: at most 1.5), and the size
of an idle page's live-refresh answer (target: near zero).

    .venv/bin/python bench/bench_serve.py [--items 200] [--styles 5] [--big 100000] [--scale-only]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from batch.commands.review import reviewer  # noqa: E402
from batch.core.cost import PriceTable  # noqa: E402
from batch.engine.tick import drain  # noqa: E402
from batch.simulator import SimulatorConfig, running_simulator  # noqa: E402
from batch.store import db  # noqa: E402
from batch.store.models import Batch  # noqa: E402
from batch.testing.helpers import make_runtime, make_settings, submit_manifest, write_manifest  # noqa: E402
from batch.web.app import WebState, background_server, build_app  # noqa: E402
from batch.web.thumbcache import ThumbCache  # noqa: E402
from bench.history_seed import _insert_chunk  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
MEASURE = """() => {
  const paint = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const bytes = nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0);
  const imgs = res.filter(r => r.initiatorType === 'img');
  const last = imgs.reduce((t, r) => Math.max(t, r.responseEnd), 0);
  return {fcp: paint ? paint.startTime : null, html: nav.transferSize, bytes: bytes, images: imgs.length,
          images_done: last, tiles: document.querySelectorAll('.tile').length};
}"""


def _visit(browser: Any, url: str) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function("Array.from(document.images).filter(i => i.loading !== 'lazy' || "
                               "i.getBoundingClientRect().top < innerHeight).every(i => i.complete)", timeout=120_000)
        page.wait_for_timeout(300)
        result: dict[str, Any] = page.evaluate(MEASURE)
        return result
    finally:
        page.close()


def _sheet_rows(batch_id: int, first_id: int, numbers: range, now: float) -> list[dict[str, object]]:
    return [{"id": first_id + i, "batch_id": batch_id, "key": f"sku-{i // 5:06d}-s{i % 5}", "state": "succeeded",
             "inputs": {"prompt": f"style {i % 5}", "image_urls": [f"https://cdn.example/p/{i // 5}.png"]},
             "output_name": f"sku-{i // 5:06d}/s{i % 5}.png", "fingerprint": f"{first_id + i:064d}",
             "next_action_at": now, "attempts": 1, "submits": 1, "polls": 1, "uncertain_submits": 0, "cost": 0.15,
             "created_at": now, "submitted_at": now, "completed_at": now, "finished_at": now, "error": None}
            for i in numbers]


def _seed(db_url: str, sizes: list[int]) -> list[int]:
    """One finished batch per size (one output and one event per job), bulk-inserted; their ids."""
    db.session_factory(db_url)  # migrated first
    engine = db.get_engine(db_url)
    now, first_id, ids = time.time(), 1, []
    with engine.begin() as conn:
        for n, size in enumerate(sizes, start=1):
            conn.execute(insert(Batch), [{"id": n, "name": f"scale-{size}", "manifest_path": "/srv/m.yaml",
                                          "output_dir": "/srv/out", "created_at": now, "charged_usd": 0.0,
                                          "options": {}}])
            for start in range(0, size, 20_000):
                _insert_chunk(conn, _sheet_rows(n, first_id, range(start, min(start + 20_000, size)), now))
            first_id += size
            ids.append(n)
    return ids


def _median_ms(client: Any, url: str, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def scale(folder: Path, big: int) -> None:
    """Print the sheet page's server time at 300 and ``big`` jobs, their ratio, and the idle refresh size."""
    from starlette.testclient import TestClient

    db_url = f"sqlite:///{folder / 'scale.db'}"
    small_id, big_id = _seed(db_url, [300, big])
    state = WebState(db.session_factory(db_url), ThumbCache(folder / "thumbs"), PriceTable(), "bench-csrf-token",
                     "bench")
    client = TestClient(build_app(state), base_url="http://127.0.0.1")
    found = {}
    for batch_id, size in ((small_id, 300), (big_id, big)):
        started = time.perf_counter()
        page = client.get(f"/batch/{batch_id}")
        first = (time.perf_counter() - started) * 1000
        found[size] = _median_ms(client, f"/batch/{batch_id}")
        cursor = page.text.split('data-cursor="', 1)[1].split('"', 1)[0]
        idle = client.get(f"/api/batches/{batch_id}/changes", params={"since": cursor})
        out = int(page.text.split('data-out="', 1)[1].split('"', 1)[0])
        client.post(f"/api/batches/{batch_id}/review", json={"outputs": [out], "decision": "approved"},
                    headers={"X-CSRF-Token": "bench-csrf-token"})
        changed = _median_ms(client, f"/batch/{batch_id}", runs=1)  # the counts are read again once
        print(f"sheet page of a {size:,}-job batch: {found[size]:.1f} ms (median; the first, which indexes the "
              f"batch: {first:.0f} ms; the first after a decision, which counts again: {changed:.0f} ms), "
              f"{len(page.content) / 1024:.0f} KiB; idle refresh answer {len(idle.content)} bytes")
    ratio = found[big] / found[300]
    print(f"sheet-page({big:,}) / sheet-page(300) = {ratio:.2f}x (target <= 1.5x): {'ok' if ratio <= 1.5 else 'over'}")
    db.dispose_engines()


def main() -> None:
    """Run the batch, then measure each page four ways and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--styles", type=int, default=5)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--scale-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-scale-") as tmp:
        scale(Path(tmp), args.big)
    if args.scale_only:
        return
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, \
            running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=8)) as sim:
        folder = Path(tmp)
        rt = make_runtime(make_settings(folder, f"sqlite:///{folder / 'nb.db'}", sim.base_url))
        started = time.monotonic()
        batch_id = submit_manifest(rt, write_manifest(folder, sim.base_url, items=args.items, styles=args.styles),
                                   time.time())
        drain(rt, batch_id, timeout=1200)
        jobs = args.items * args.styles
        print(f"batch of {jobs} simulated jobs ran in {time.monotonic() - started:.1f} s")
        state = WebState(rt.sessions, ThumbCache(folder / "thumbs"), PriceTable(), "bench-csrf-token", reviewer())
        with background_server(build_app(state)) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for label, query in (("default page (240)", ""), (f"all {jobs} on one page", f"?per={jobs}")):
                for run in ("cold", "warm"):
                    m = _visit(browser, f"{base}/batch/{batch_id}{query}")
                    print(f"{label:>22} {run}: first paint {m['fcp']:.0f} ms, thumbnails in view loaded by "
                          f"{m['images_done']:.0f} ms ({m['images']} fetched), {m['tiles']} tiles, "
                          f"page weight {m['bytes'] / 1024:.0f} KiB (HTML {m['html'] / 1024:.0f} KiB)")
            browser.close()


if __name__ == "__main__":
    main()
