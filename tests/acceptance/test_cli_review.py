"""Reviews as a user runs them: approve, reject, list, status, retry --rejected (cost first), resume, export."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest


def test_review_then_rerun_rejected_and_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_REVIEWER": "ann"}
        manifest = str(write_manifest(tmp_path, sim.base_url, items=2, styles=2))
        assert nanobatch(["run", manifest], home, tmp_path, **env).returncode == 0

        nobody = nanobatch(["review", "approve", "1"], home, tmp_path, **env)
        assert nobody.returncode == 2 and nobody.stderr.strip().startswith("error: name the jobs")
        unknown = nanobatch(["review", "reject", "1", "sku-404-s0"], home, tmp_path, **env)
        assert unknown.returncode == 2 and unknown.stderr.strip() == "error: batch 1 has no job 'sku-404-s0'"
        rejected = nanobatch(["review", "reject", "1", "sku-000-s1", "--note", "strap changed"], home, tmp_path, **env)
        assert rejected.stdout.strip() == "1 jobs rejected", rejected.stderr
        assert nanobatch(["review", "approve", "1", "--all"], home, tmp_path, **env).stdout.strip() == "3 jobs approved"
        listed = json.loads(nanobatch(["review", "list", "1", "--json", "--only", "rejected"], home, tmp_path,
                                      **env).stdout)
        assert [(r["id"], r["who"], r["note"]) for r in listed] == [("sku-000-s1", "ann", "strap changed")]
        status = json.loads(nanobatch(["status", "1", "--json"], home, tmp_path, **env).stdout)
        assert status["reviews"] == {"approved": 3, "rejected": 1}
        assert "reviewed: 3 approved, 1 rejected" in nanobatch(["status", "1"], home, tmp_path, **env).stdout

        declined = subprocess.run([sys.executable, "-m", "batch", "retry", "1", "--rejected"], cwd=tmp_path,
                                  env={**_env(home), **env}, input="n\n", text=True, capture_output=True, timeout=60)
        assert "1 rejected jobs of batch 1 to run again, about $0.15" in declined.stdout
        assert declined.returncode == 1  # aborted: nothing queued
        queued = nanobatch(["retry", "1", "--rejected", "--prompt-append", "keep the strap", "--yes"], home, tmp_path,
                           **env)
        assert "1 new jobs queued" in queued.stdout, queued.stderr
        assert nanobatch(["resume", "1"], home, tmp_path, **env).returncode == 0
        assert sim.stats()["submits"] == 5

    out = tmp_path / "out" / "sku-000"
    assert (out / "s1.png").exists() and (out / "s1~r2.png").exists()  # the rejected file is kept
    dest = tmp_path / "shop"
    exported = nanobatch(["export", "1", "--approved", str(dest)], home, tmp_path, **env)
    assert exported.stdout.strip() == f"3 files exported to {dest}", exported.stderr
    with (dest / "export.csv").open() as handle:
        assert sorted(r["output"] for r in csv.DictReader(handle)) == [
            "sku-000/s0.png", "sku-001/s0.png", "sku-001/s1.png"]
    assert not (dest / "sku-000" / "s1.png").exists()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    return {**env, "NANOBATCH_HOME": str(home), "COLUMNS": "120"}
