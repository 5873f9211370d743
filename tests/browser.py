"""Playwright plumbing for the browser tests: Debian's chromium, started headless and closed after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def browser_or_skip() -> Any:
    """Playwright's sync API, or a skip (a failure with NANOBATCH_REQUIRE_BROWSER=1)."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason is None and not CHROMIUM.exists():
        reason = f"no {CHROMIUM} (apt-get install -y chromium)"
    if reason is not None:
        if os.environ.get("NANOBATCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"NANOBATCH_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium browser, closed (with its processes) on the way out."""
    sync_playwright = browser_or_skip()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical WCAG violations on the page as it is now, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
