"""``nanobatch export --approved`` as a user (or a careless script) runs it: only the approved files,
as recorded, never over anyone else's, and an ``export.csv`` a spreadsheet opens safely."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

EVIL = "=HYPERLINK(\"http://evil.example\",\"ok\")"


def test_export_keeps_what_is_not_its_own(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_REVIEWER": EVIL}
        manifest = str(write_manifest(tmp_path, sim.base_url, items=2, styles=1))
        assert nanobatch(["run", manifest], home, tmp_path, **env).returncode == 0
    assert nanobatch(["review", "approve", "1", "--all"], home, tmp_path, **env).returncode == 0
    out = tmp_path / "out"
    first, second = out / "sku-000" / "s0.png", out / "sku-001" / "s0.png"
    originals = {p: p.read_bytes() for p in (first, second)}

    # DEST inside an output folder: another job's verified file would be overwritten
    inside = nanobatch(["export", "1", "--approved", str(out / "sku-001")], home, tmp_path)
    assert inside.returncode == 2 and inside.stderr.strip().splitlines() == [
        f"error: cannot export to {out / 'sku-001'}: it is inside the output folder {out} of batch 1 (an export "
        "there could replace that batch's files); choose another folder"]
    assert not (out / "sku-001" / "export.csv").exists() and not (out / "sku-001" / "sku-001").exists()
    assert {p: p.read_bytes() for p in originals} == originals

    # a file retouched after approval (no bucket copy): refused with the job named, nothing written
    first.write_bytes(originals[first] + b"retouched")
    dest = tmp_path / "shop"
    changed = nanobatch(["export", "1", "--approved", str(dest)], home, tmp_path)
    assert changed.returncode == 2 and "job sku-000-s0" in changed.stderr and "sku-001-s0" not in changed.stderr
    assert not dest.exists() or not any(dest.rglob("*"))
    first.write_bytes(originals[first])

    # a different file already in DEST stays unless --overwrite; an identical one is fine
    (dest / "sku-001").mkdir(parents=True)
    (dest / "sku-001" / "s0.png").write_bytes(b"the shop's own picture")
    kept = nanobatch(["export", "1", "--approved", str(dest)], home, tmp_path)
    assert kept.returncode == 2 and "sku-001/s0.png" in kept.stderr and "--overwrite" in kept.stderr
    assert (dest / "sku-001" / "s0.png").read_bytes() == b"the shop's own picture"
    assert not (dest / "export.csv").exists() and not (dest / "sku-000").exists()  # nothing written at all
    done = nanobatch(["export", "1", "--approved", str(dest), "--overwrite"], home, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"2 files exported to {dest}", done.stderr
    assert (dest / "sku-001" / "s0.png").read_bytes() == originals[second]
    again = nanobatch(["export", "1", "--approved", str(dest)], home, tmp_path)  # all identical now
    assert again.returncode == 0, again.stderr

    # every cell escaped like the reports: the reviewer's name does not run as a formula
    with (dest / "export.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["approved_by"] for r in rows} == {"'" + EVIL}

    # a link inside DEST is never followed
    elsewhere, linked = tmp_path / "elsewhere", tmp_path / "linked"
    elsewhere.mkdir()
    linked.mkdir()
    os.symlink(elsewhere, linked / "sku-000")
    link = nanobatch(["export", "1", "--approved", str(linked), "--overwrite"], home, tmp_path)
    assert link.returncode == 2 and f"{linked / 'sku-000'}: it is a link" in link.stderr
    assert list(elsewhere.iterdir()) == []
    os.symlink(tmp_path / "victim.png", dest / "sku-000" / "s1.png")  # not ours: harmless
    (dest / "sku-000" / "s0.png").unlink()
    os.symlink(tmp_path / "victim.png", dest / "sku-000" / "s0.png")
    (tmp_path / "victim.png").write_bytes(b"victim")
    target = nanobatch(["export", "1", "--approved", str(dest), "--overwrite"], home, tmp_path)
    assert target.returncode == 2 and "s0.png: it is a link" in target.stderr
    assert (tmp_path / "victim.png").read_bytes() == b"victim"

    # another batch's output folder lying inside DEST: a file exported there would replace its files
    nested = tmp_path / "nested"
    other = Path(manifest).read_text().replace(f"output_dir: {out}", f"output_dir: {nested / 'sku-000'}")
    (tmp_path / "other.yaml").write_text(other.replace("name: test-batch", "name: other"))
    offline = {"RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "t"}
    assert nanobatch(["submit", str(tmp_path / "other.yaml")], home, tmp_path, **offline).returncode == 0
    before = {p: p.read_bytes() for p in nested.rglob("*") if p.is_file()}  # its jobs were cached: files there
    into = nanobatch(["export", "1", "--approved", str(nested), "--overwrite"], home, tmp_path)
    assert into.returncode == 2 and into.stderr.strip() == (
        f"error: cannot export to {nested}: sku-000/s0.png would land in the output folder {nested / 'sku-000'} "
        "of batch 2; choose another folder")
    assert {p: p.read_bytes() for p in nested.rglob("*") if p.is_file()} == before
