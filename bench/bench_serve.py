"""Time to first paint and page weight of a 1,000-job contact sheet in ``nanobatch serve``.

Runs 1,000 simulated jobs in-process (200 items x 5 styles), serves them on 127.0.0.1 and opens
the contact sheet in Debian's chromium through Playwright: once cold (no thumbnail made yet) and
once warm (thumbnails cached on disk), at the default page size and with all 1,000 on one page.
Prints first contentful paint (ms), the time until every thumbnail in view has loaded, and the
bytes transferred (HTML + CSS + JS + thumbnails loaded so far; lazy thumbnails below the fold
are not fetched until scrolled to).

    .venv/bin/python bench/bench_serve.py [--items 200] [--styles 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from batch.commands.review import reviewer  # noqa: E402
from batch.core.cost import PriceTable  # noqa: E402
from batch.engine.tick import drain  # noqa: E402
from batch.simulator import SimulatorConfig, running_simulator  # noqa: E402
from batch.testing.helpers import make_runtime, make_settings, submit_manifest, write_manifest  # noqa: E402
from batch.web.app import WebState, background_server, build_app  # noqa: E402
from batch.web.thumbcache import ThumbCache  # noqa: E402

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


def main() -> None:
    """Run the batch, then measure each page four ways and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--styles", type=int, default=5)
    args = parser.parse_args()
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
