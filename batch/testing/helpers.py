"""Builders shared by the tests and the benchmarks: a manifest of simulator samples, settings and a
Runtime on a given database, a stored batch, and the count of submits in the simulator's journal."""

from __future__ import annotations

import json
from pathlib import Path

from batch.commands.batches import create_batch
from batch.config import Settings
from batch.engine.runtime import Runtime, build_runtime
from batch.manifest import load_manifest

SAMPLES = ["shoe.png", "mug.png", "lamp.png", "chair.png", "watch.png", "bag.png"]


def write_manifest(folder: Path, sim_url: str, *, items: int = 4, styles: int = 3, name: str = "test-batch",
                   fmt: str = "png", extra: str = "") -> Path:
    """A matrix manifest of ``items`` x ``styles`` jobs over the simulator's samples."""
    item_lines = "\n".join(
        f"    - {{sku: sku-{i:03d}, title: item {i}, image: {SAMPLES[i % len(SAMPLES)]}}}" for i in range(items)
    )
    ratios = ["1:1", "4:5", "16:9", "3:2", "9:16"]
    style_lines = "\n".join(
        f"    - {{name: s{j}, prompt: 'style {j} of the {{title}}', aspect_ratio: '{ratios[j % len(ratios)]}'}}"
        for j in range(styles)
    )
    text = f"""name: {name}
output_dir: {folder / 'out'}
output_name: "{{sku}}/{{style}}"
defaults:
  resolution: 1K
  output_format: {fmt}
matrix:
  items:
{item_lines}
  styles:
{style_lines}
  id: "{{sku}}-{{style}}"
  image_urls: ["{sim_url}/samples/{{image}}"]
{extra}"""
    path = folder / "jobs.yaml"
    path.write_text(text)
    return path


def make_settings(home: Path, db_url: str, api_base: str, **overrides: object) -> Settings:
    """Settings for a test: token 'test-token', short leases."""
    values: dict[str, object] = {
        "home": home, "api_base": api_base, "token": "test-token", "database_url": db_url,
        "lease_seconds": 5.0, "max_attempts": 6, "http_timeout": 5.0, "requests_per_second": 1000.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def make_runtime(settings: Settings, redis_url: str | None = None) -> Runtime:
    """An in-process Runtime, wired as the workers wire theirs (NullLimiter unless a Redis URL is given)."""
    return build_runtime(settings, redis_url=redis_url)


def submit_manifest(rt: Runtime, manifest: Path, now: float) -> int:
    """Store the manifest as a batch; return its id."""
    return create_batch(rt.sessions, load_manifest(manifest), now=now)


def journal_submits(journal: Path) -> dict[str, int]:
    """How many times each submit body hash appears with an accepted (200) or dropped answer."""
    counts: dict[str, int] = {}
    for line in journal.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("body_sha256") and entry.get("status") in (200, None, "drop"):
            counts[entry["body_sha256"]] = counts.get(entry["body_sha256"], 0) + 1
    return counts
