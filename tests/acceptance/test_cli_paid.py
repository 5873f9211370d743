"""Every cent upstream charged is recorded, even when the files cannot be written (issue 13 item 2).

Against the simulator: a batch whose outputs cannot be put in place (a folder stands where each
file should go, so the final rename fails, as root too) is paid upstream and recorded to the
cent; ``retry`` then downloads the paid results again with no new submit.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import requests

from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import journal_submits, write_manifest


def charged_upstream(base_url: str) -> tuple[Decimal, int]:
    """What the simulator charged in all, and how many submits it accepted."""
    stats = requests.get(f"{base_url}/_sim/stats", timeout=10).json()
    return Decimal(str(stats["cost_charged"])), int(stats["submits"])


def recorded(home: Path, cwd: Path) -> tuple[Decimal, dict[str, int]]:
    """The batch's recorded cost, read exactly as ``status --json`` prints it, and its counts."""
    done = nanobatch(["status", "1", "--json"], home, cwd)
    doc = json.loads(done.stdout, parse_float=Decimal)
    return doc["cost_usd"], doc["counts"]


def test_outputs_that_cannot_be_written_are_still_paid_recorded_and_downloaded_again(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.3", "--journal", str(journal)]) as sim:
        # one attempt per job: a write failure is retried like any other, and this test is about money
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_MAX_ATTEMPTS": "1"}
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=2)
        jobs = load_manifest(manifest).jobs
        blockers = [tmp_path / "out" / spec.output_name for spec in jobs]
        for blocker in blockers:
            blocker.mkdir(parents=True)
        failed = nanobatch(["run", str(manifest)], home, tmp_path, **env)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        cost, counts = recorded(home, tmp_path)
        paid, submits = charged_upstream(sim.base_url)
        assert counts == {"failed": len(jobs)} and submits == len(jobs)
        assert paid > 0 and cost == paid  # to the cent, and beyond
        assert list((tmp_path / "out").rglob("*.part*")) == []  # no .part file, no .parts folder

        for blocker in blockers:
            blocker.rmdir()
        again = nanobatch(["retry", "1"], home, tmp_path, **env)
        assert again.returncode == 0, again.stderr
        assert f"downloading again their paid results (no new charge): {len(jobs)}" in again.stdout
        resumed = nanobatch(["resume", "1"], home, tmp_path, **env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        cost, counts = recorded(home, tmp_path)
        assert counts == {"succeeded": len(jobs)}
        assert charged_upstream(sim.base_url) == (paid, len(jobs))  # not one new submit, not one new cent
        assert cost == paid
    assert sorted(journal_submits(journal).values()) == [1] * len(jobs)
    assert all((tmp_path / "out" / spec.output_name).is_file() for spec in jobs)


def test_a_result_that_cannot_be_read_for_a_while_is_read_again_recorded_and_not_paid_twice(tmp_path: Path) -> None:
    """A request upstream has is charged whatever we read: errors reading it spend no attempt of the job.

    Every request's first two ``/result`` reads answer 503 while the job runs on and is charged;
    with one attempt per job, the jobs still end succeeded, each submitted once, paid to the cent.
    """
    journal = tmp_path / "journal.jsonl"
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.3", "--journal", str(journal), "--result-errors", "2"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_MAX_ATTEMPTS": "1"}
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2)
        done = nanobatch(["run", str(manifest)], home, tmp_path, **env)
        cost, counts = recorded(home, tmp_path)
        paid, submits = charged_upstream(sim.base_url)
        assert (counts, submits) == ({"succeeded": 2}, 2), done.stdout + done.stderr
        assert done.returncode == 0
        assert paid > 0 and cost == paid
    assert sorted(journal_submits(journal).values()) == [1, 1]
