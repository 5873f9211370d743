"""Hostile manifests: nested YAML aliases (the "billion laughs" shape) and oversized files are refused."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from batch.manifest import ManifestError, load_manifest, parse_manifest
from batch.manifest import items as items_module
from batch.manifest import parse as parse_module
from batch.manifest.yamlsrc import MAX_ALIAS_NODES

JOB = '{id: "j{n}", prompt: p, image_urls: ["https://x.example/a.png"]}'


def alias_bomb(levels: int, width: int = 9) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the one before: width**levels leaves."""
    lines = ["name: bomb", "vars:", f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    lines.append(f"jobs: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_a_line_within_a_bounded_memory() -> None:
    text = alias_bomb(7)  # 9**7 = 4.8 million strings: seconds and 500 MB if expanded
    assert len(text) < 500
    tracemalloc.start()
    try:
        with pytest.raises(ManifestError) as err:
            parse_manifest(text, "bomb.yaml", Path("."), {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [str(p) for p in err.value.problems] == [
        f"bomb.yaml:3: YAML aliases here expand to more than {MAX_ALIAS_NODES:,} nodes: "
        "write the values out, or nest fewer aliases"
    ]
    assert peak < 100 * 1024 * 1024


def test_aliases_and_merge_keys_below_the_bound_still_work(tmp_path: Path) -> None:
    first = '  - &job {id: j0, prompt: p, image_urls: ["https://x.example/a.png"]}'
    others = [f"  - {{<<: *job, id: j{n}}}" for n in range(1, 200)]
    text = "name: merged\njobs:\n" + "\n".join([first, *others]) + "\n"
    manifest = parse_manifest(text, "ok.yaml", tmp_path, {})
    assert [job.id for job in manifest.jobs] == [f"j{n}" for n in range(200)]


def test_manifest_larger_than_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_module, "MAX_MANIFEST_BYTES", 1000)
    path = tmp_path / "big.yaml"
    jobs = "\n".join("  - " + JOB.replace("{n}", str(n)) for n in range(40))
    path.write_text(f"name: big\njobs:\n{jobs}\n")
    with pytest.raises(ManifestError) as err:
        load_manifest(path, env={})
    assert [str(p) for p in err.value.problems] == [
        f"{path}:1: the manifest is larger than 1,000 bytes: split it, "
        "or list the items in a CSV file (matrix: items: {csv: ...})"
    ]


def test_csv_of_items_larger_than_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(items_module, "MAX_CSV_BYTES", 1000)
    (tmp_path / "items.csv").write_text("sku,url\n" + "".join(f"s{n},https://x.example/{n}.png\n" for n in range(100)))
    path = tmp_path / "jobs.yaml"
    path.write_text("name: m\nmatrix:\n  items: {csv: items.csv}\n"
                    "  styles: [{name: a, prompt: p}]\n  image_urls: ['{url}']\n")
    with pytest.raises(ManifestError) as err:
        load_manifest(path, env={})
    shown = str(tmp_path / "items.csv")
    assert f"{path}:3: matrix.items.csv: {shown} is larger than 1,000 bytes: " \
           "split the batch into several manifests" in [str(p) for p in err.value.problems]
