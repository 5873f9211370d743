"""Screenshot the HTML report in headless Chromium, to see what a reviewer sees.

By default runs a small demo batch in-process against the simulator (a fifth of the jobs fail
upstream, one job has an input that does not exist, one has two inputs), writes its HTML report
and screenshots it. With ``--batch ID`` it reports an existing batch of the configured database
(NANOBATCH_HOME / NANOBATCH_DATABASE_URL) instead. Prints where the report and the PNG are.

Usage: ``.venv/bin/python bench/report_screenshot.py [--out DIR] [--batch ID] [--width 1400 --height 1800]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from batch.commands.batches import create_batch
from batch.config import Settings
from batch.engine.runtime import Runtime
from batch.engine.tick import drain
from batch.manifest import load_manifest
from batch.reports.writer import write_report
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import db
from batch.upstream.client import ApiClient
from batch.upstream.limiter import NullLimiter

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

DEMO_MANIFEST = """name: report-demo
output_dir: {out}
output_name: "{{sku}}/{{style}}"
defaults: {{resolution: 1K, output_format: png}}
matrix:
  items:
    - {{sku: shoe-01, title: trail running shoe, image: shoe.png}}
    - {{sku: mug-01, title: ceramic mug, image: mug.png}}
    - {{sku: lamp-01, title: desk lamp, image: lamp.png}}
    - {{sku: chair-01, title: oak chair, image: chair.png}}
  styles:
    - {{name: studio, prompt: "The {{title}} on a seamless white studio background", aspect_ratio: "1:1"}}
    - {{name: banner, prompt: "Wide spring banner with the {{title}} on the right third", aspect_ratio: "16:9",
       output_format: jpeg}}
  id: "{{sku}}-{{style}}"
  image_urls: ["{sim}/samples/{{image}}"]
jobs:
  - id: travel-bundle
    output_name: "hero/{{id}}"
    prompt: "Combine the bag and the watch into one flat-lay on a linen sheet, top-down"
    image_urls: ["{sim}/samples/bag.png", "{sim}/samples/watch.png"]
    aspect_ratio: "3:2"
  - id: missing-input
    output_name: "hero/{{id}}"
    prompt: "An input that does not exist: this job must fail and show its error"
    image_urls: ["{sim}/samples/no-such-image.png"]
"""


def find_browser() -> str | None:
    """The path of a Chromium (or Chrome) binary, if one is installed."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html: Path, png: Path, *, width: int = 1400, height: int = 1800, browser: str | None = None) -> Path:
    """Render ``html`` in headless Chromium into ``png``; raise RuntimeError when it cannot."""
    binary = browser or find_browser()
    if binary is None:
        raise RuntimeError("no chromium binary found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="nb-chromium-") as profile:
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png}", html.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return png


def demo_report(folder: Path) -> Path:
    """Run the demo batch against a local simulator and write its HTML report; return its path."""
    config = SimulatorConfig(port=0, latency=(0.0, 0.1), workers=8, fail_rate=0.2, seed=7)
    with running_simulator(config) as sim:
        (folder / "jobs.yaml").write_text(DEMO_MANIFEST.format(out=folder / "out", sim=sim.base_url))
        settings = Settings(home=folder, api_base=sim.base_url, token="demo-token",
                            database_url=f"sqlite:///{folder / 'demo.db'}", lease_seconds=5.0,
                            max_attempts=2, http_timeout=5.0, requests_per_second=1000.0)
        rt = Runtime(settings=settings, sessions=db.session_factory(settings.db_url),
                     client=ApiClient(sim.base_url, "demo-token", http=requests.Session(), timeout=5.0),
                     limiter=NullLimiter(), http=requests.Session())
        batch_id = create_batch(rt.sessions, load_manifest(folder / "jobs.yaml"), now=time.time())
        drain(rt, batch_id, timeout=60)
        # while the simulator still serves the inputs the report embeds
        return write_report(rt.sessions, batch_id, folder / "report.html")


def existing_report(folder: Path, batch_id: int) -> Path:
    """Write the HTML report of an existing batch of the configured database."""
    from batch.commands import service

    return write_report(service.sessions(), batch_id, folder / f"report-{batch_id}.html")


def main(argv: list[str] | None = None) -> int:
    """Build (or pick) a batch, write its HTML report, screenshot it, print both paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the report and PNG (default: a new temp folder)")
    parser.add_argument("--batch", type=int, help="report this existing batch instead of running the demo")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1800)
    args = parser.parse_args(argv)
    folder = (args.out or Path(tempfile.mkdtemp(prefix="nb-report-"))).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    html = existing_report(folder, args.batch) if args.batch else demo_report(folder)
    print(f"report: {html} ({html.stat().st_size / 1024:.0f} KiB, {time.perf_counter() - started:.1f} s)")
    try:
        png = screenshot(html, folder / "report.png", width=args.width, height=args.height)
    except RuntimeError as exc:
        print(f"screenshot: {exc}", file=sys.stderr)
        return 1
    print(f"screenshot: {png} ({png.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
