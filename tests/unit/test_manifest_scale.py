"""The shipped example manifest, and a 100,000-job matrix (1,000 CSV items x 100 styles)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from batch.manifest import Limits, load_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "jobs.example.yaml"
SAMPLES = ("shoe", "mug", "lamp", "chair", "watch", "bag")


@pytest.mark.parametrize(
    ("env", "base"),
    [
        ({}, "http://127.0.0.1:8765/samples"),
        ({"SAMPLES_BASE": "http://127.0.0.1:9999/s"}, "http://127.0.0.1:9999/s"),
    ],
)
def test_example_manifest(env: dict[str, str], base: str) -> None:
    manifest = load_manifest(EXAMPLE, env=env)
    assert manifest.name == "spring-catalog"
    assert manifest.warnings == []
    assert manifest.output_dir == str(ROOT / "out" / "spring-catalog")
    assert manifest.limits == Limits(requests_per_second=20, submits_per_second=5, max_in_flight=10)
    assert manifest.budget_usd == 5.0
    assert len(manifest.jobs) == 20
    assert Counter(job.inputs["output_format"] for job in manifest.jobs) == {"png": 7, "jpeg": 7, "webp": 6}
    assert len({job.inputs["aspect_ratio"] for job in manifest.jobs}) == 5
    assert {job.inputs["resolution"] for job in manifest.jobs} == {"1K"}
    urls = {url for job in manifest.jobs for url in job.inputs["image_urls"]}
    assert urls == {f"{base}/{name}.png" for name in SAMPLES}
    jobs = {job.id: job for job in manifest.jobs}
    assert jobs["shoe-01-studio"].output_name == "shoe-01/studio.png"
    assert jobs["bag-06-lifestyle"].output_name == "bag-06/lifestyle.jpg"
    assert jobs["lamp-03-banner"].output_name == "lamp-03/banner.webp"
    assert jobs["travel-bundle"].output_name == "hero/travel-bundle.jpg"
    assert "{" not in "".join(job.inputs["prompt"] for job in manifest.jobs)


def write_big_manifest(folder: Path, items: int, styles: int) -> Path:
    rows = "".join(f"sku-{i:04d},product {i},img{i % 6}.png\n" for i in range(items))
    (folder / "items.csv").write_text("sku,title,image\n" + rows)
    ratios = ("1:1", "16:9", "4:5", "3:2")
    style_text = "".join(
        f"    - name: style{s:03d}\n"
        f"      prompt: \"Place the {{title}} in scene {s}, soft light\"\n"
        f"      aspect_ratio: {ratios[s % 4]}\n"
        for s in range(styles)
    )
    path = folder / "big.yaml"
    path.write_text(
        "name: big\n"
        "output_name: \"{sku}/{style}\"\n"
        "vars: {cdn: \"${CDN:-https://cdn.example.com/catalog}\"}\n"
        "defaults: {resolution: 1K, output_format: webp}\n"
        "matrix:\n"
        "  items: {csv: items.csv}\n"
        "  image_urls: [\"{cdn}/{image}\"]\n"
        "  styles:\n" + style_text
    )
    return path


def test_hundred_thousand_jobs(tmp_path: Path) -> None:
    manifest = load_manifest(write_big_manifest(tmp_path, 1000, 100), env={})
    assert len(manifest.jobs) == 100_000
    last = manifest.jobs[-1]
    assert last.id == "sku-0999-style099"
    assert last.output_name == "sku-0999/style099.webp"
    assert last.inputs == {"aspect_ratio": "3:2", "resolution": "1K", "output_format": "webp",
                           "image_urls": ["https://cdn.example.com/catalog/img3.png"],
                           "prompt": "Place the product 999 in scene 99, soft light"}
    assert len({job.output_name for job in manifest.jobs}) == 100_000
