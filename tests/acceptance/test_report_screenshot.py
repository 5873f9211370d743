"""The HTML report rendered by a real headless Chromium (``bench/report_screenshot.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "report_screenshot.py"

NO_BROWSER = "no chromium binary on PATH (install it: apt-get install -y chromium)"


@pytest.fixture(autouse=True)
def browser() -> None:
    """Skip without chromium, except where NANOBATCH_REQUIRE_BROWSER=1 (CI): a skip there is a failure."""
    if shutil.which("chromium") is not None:
        return
    if os.environ.get("NANOBATCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{NO_BROWSER}; NANOBATCH_REQUIRE_BROWSER=1 requires the browser test to run")
    pytest.skip(NO_BROWSER)


def test_report_screenshot_is_not_blank(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    png = tmp_path / "report.png"
    assert f"screenshot: {png}" in done.stdout
    assert png.stat().st_size > 20 * 1024
    with Image.open(png) as img:
        assert img.size == (1400, 1800)
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, "the screenshot is (nearly) a single colour"
        # the thumbnails are there: the header band is dark, the cards' images are colourful
        saturation = rgb.resize((140, 180)).convert("HSV").getchannel("S").histogram()
        assert sum(saturation[100:]) > 200
