"""Pilot first, then the whole catalog (issue 22), through the CLI against the simulator.

A manifest with a ``pilot:`` block (or ``run --pilot N``) runs a sample first; the rest waits
parked, unpaid, until ``nanobatch pilot approve`` (the rest runs, the pilot's results count) or
``reject`` (the rest is cancelled unpaid). The simulator's journal counts every submit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from batch.simulator.journal import body_sha256
from tests.acceptance.test_cli import nanobatch
from tests.helpers import journal_submits, write_manifest

ITEMS, STYLES, PILOT = 10, 3, 6
JOBS = ITEMS * STYLES
WAITING = 4  # run's exit status while the batch waits for its pilot's approval


def _status(home: Path, cwd: Path, batch_id: int) -> dict[str, object]:
    done = nanobatch(["status", str(batch_id), "--json"], home, cwd)
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def _submits_by_job(manifest: Path, journal: Path) -> dict[str, int]:
    """Job id -> how many times the simulator accepted its request body (each job's body is its own)."""
    counts = journal_submits(journal)
    return {spec.id: counts.get(body_sha256(spec.inputs), 0) for spec in load_manifest(manifest).jobs}


def _sim_env(base_url: str, **extra: str) -> dict[str, str]:
    return {"RUNCOMFY_API_BASE": base_url, "RUNCOMFY_API_TOKEN": "t", **extra}


def _run_pilot(tmp_path: Path, base_url: str, *args: str, extra: str = f"pilot: {{size: {PILOT}}}\n",
               home_name: str = "home") -> tuple[Path, str]:
    """Write the test manifest, ``run`` it (with ``args``) and check it waits for its pilot; (manifest, stderr)."""
    manifest = write_manifest(tmp_path, base_url, items=ITEMS, styles=STYLES, extra=extra)
    done = nanobatch(["run", str(manifest), *args], tmp_path / home_name, tmp_path, **_sim_env(base_url))
    assert done.returncode == WAITING, done.stdout + done.stderr
    return manifest, done.stderr


def test_a_pilot_waits_then_approved_runs_the_rest_each_job_paid_once(tmp_path: Path) -> None:
    home, journal = tmp_path / "home", tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0.1-0.3", "--workers", "8", "--journal", str(journal)]) as sim:
        env = _sim_env(sim.base_url)
        manifest, said = _run_pilot(tmp_path, sim.base_url)
        assert f"pilot {PILOT}/{PILOT} done, waiting for approval" in said
        assert "nanobatch pilot approve 1" in said
        status = _status(home, tmp_path, 1)
        assert status["counts"] == {"succeeded": PILOT, "parked": JOBS - PILOT}
        assert status["pilot"] == f"pilot {PILOT}/{PILOT} done, waiting for approval" and status["pilot_waiting"]
        shown = nanobatch(["status", "1"], home, tmp_path)
        assert f"pilot {PILOT}/{PILOT} done, waiting for approval" in shown.stdout
        assert "nanobatch pilot approve 1" in shown.stdout
        assert sim.stats()["cost_charged"] == pytest.approx(PILOT * 0.15)  # the rest waited without spending

        approved = nanobatch(["pilot", "approve", "1"], home, tmp_path, **env)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert f"{JOBS - PILOT} jobs released" in approved.stdout
        charged = sim.stats()["cost_charged"]
    submits = _submits_by_job(manifest, journal)
    assert set(submits.values()) == {1}, submits  # every job paid once, the pilot's not again
    assert charged == pytest.approx(JOBS * 0.15)
    status = _status(home, tmp_path, 1)
    assert status["counts"] == {"succeeded": JOBS}
    assert str(status["pilot"]).startswith(f"pilot {PILOT}/{PILOT} done, approved by ")


def test_a_rejected_pilot_pays_for_nothing_more(tmp_path: Path) -> None:
    home, journal = tmp_path / "home", tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0.1-0.3", "--workers", "8", "--journal", str(journal)]) as sim:
        env = _sim_env(sim.base_url)
        manifest, _ = _run_pilot(tmp_path, sim.base_url, "--pilot", str(PILOT), extra="")
        rejected = nanobatch(["pilot", "reject", "1"], home, tmp_path, **env)
        assert rejected.returncode == 0, rejected.stderr
        assert f"{JOBS - PILOT} waiting jobs cancelled unpaid" in rejected.stdout
        again = nanobatch(["resume", "1"], home, tmp_path, **env)  # nothing left to run, nothing paid
        assert again.returncode == 1, again.stdout + again.stderr
        twice = nanobatch(["pilot", "approve", "1"], home, tmp_path, **env)
        assert twice.returncode == 2 and "already rejected" in twice.stderr
        charged = sim.stats()["cost_charged"]
    submits = _submits_by_job(manifest, journal)
    assert sum(submits.values()) == PILOT and set(submits.values()) == {0, 1}
    assert charged == pytest.approx(PILOT * 0.15)
    assert _status(home, tmp_path, 1)["counts"] == {"succeeded": PILOT, "cancelled": JOBS - PILOT}


def test_an_edited_manifest_reuses_the_unchanged_pilot_jobs(tmp_path: Path) -> None:
    home, journal = tmp_path / "home", tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0.1-0.3", "--workers", "8", "--journal", str(journal)]) as sim:
        env = _sim_env(sim.base_url)
        manifest, _ = _run_pilot(tmp_path, sim.base_url)
        manifest.write_text(manifest.read_text().replace("style 1 of the", "style 1, warmer, of the"))
        second = nanobatch(["run", str(manifest)], home, tmp_path, **env)
        assert second.returncode == WAITING, second.stdout + second.stderr
        charged = sim.stats()["cost_charged"]
    counts = _status(home, tmp_path, 2)["counts"]
    per_style = PILOT // STYLES
    assert counts == {"cached": PILOT - per_style, "succeeded": per_style, "parked": JOBS - PILOT}
    assert charged == pytest.approx((PILOT + per_style) * 0.15)  # only the changed style's pilot jobs ran again


def test_the_dry_run_prices_the_pilot_and_the_whole_batch_apart(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=ITEMS, styles=STYLES,
                              extra=f"pilot: {{size: {PILOT}}}\nbudget_usd: 4\n")
    done = nanobatch(["run", str(manifest), "--dry-run"], tmp_path / "home", tmp_path,
                     **_sim_env("http://127.0.0.1:9"))
    assert done.returncode == 0, done.stderr
    assert f"pilot: {PILOT} jobs first, estimated $0.90; the rest waits for approval" in done.stdout
    assert "estimated cost of the whole batch, pilot included: $4.50" in done.stdout
    assert "over budget" in done.stdout  # the budget covers both
    plan = json.loads(nanobatch(["submit", str(manifest), "--dry-run", "--json", "--pilot", "3"],
                                tmp_path / "home", tmp_path, **_sim_env("http://127.0.0.1:9")).stdout)
    assert plan["pilot_jobs"] == 3 and plan["pilot_cost_usd"] == 0.45 and plan["estimated_cost_usd"] == 4.5


def test_a_bad_pilot_block_is_an_error_at_its_line(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=1,
                              extra="pilot:\n  size: 0\n  gate: {max_failed: lots}\n")
    done = nanobatch(["validate", str(manifest)], tmp_path / "home", tmp_path)
    assert done.returncode == 2
    lines = manifest.read_text().splitlines()
    size_line = lines.index("  size: 0") + 1
    assert f"jobs.yaml:{size_line}: pilot.size: must be a whole number greater than 0" in done.stderr
    assert f"jobs.yaml:{size_line + 1}: pilot.gate.max_failed: must be a share" in done.stderr
