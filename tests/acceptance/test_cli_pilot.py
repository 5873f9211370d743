"""Pilot first, then the whole catalog (issue 22), through the CLI against the simulator.

A manifest with a ``pilot:`` block (or ``run --pilot N``) runs a sample first; the rest waits
parked, unpaid, until ``nanobatch pilot approve`` (the rest runs, the pilot's results count) or
``reject`` (the rest is cancelled unpaid). The simulator's journal counts every submit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from batch.simulator.journal import body_sha256
from tests.acceptance.test_cli import nanobatch
from tests.helpers import SAMPLES, journal_submits, write_manifest

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


def _variants_manifest(folder: Path, base_url: str, items: int) -> Path:
    """``studio`` with two prompt variants, ``plain`` without; a pilot of 4 items x styles."""
    lines = "\n".join(f"    - {{sku: sku-{i:03d}, image: {SAMPLES[i % len(SAMPLES)]}}}" for i in range(items))
    path = folder / "jobs.yaml"
    path.write_text(f"""name: variants
output_dir: {folder / 'out'}
pilot: {{size: 4}}
defaults: {{resolution: 1K, output_format: png}}
matrix:
  items:
{lines}
  styles:
    - name: studio
      variants:
        - {{name: warm, prompt: "studio shot, warm light"}}
        - {{name: neutral, prompt: "studio shot, neutral white"}}
    - {{name: plain, prompt: "plain background"}}
  image_urls: ["{base_url}/samples/{{image}}"]
""")
    return path


def test_variants_are_chosen_per_style_and_the_others_never_paid_beyond_the_pilot(tmp_path: Path) -> None:
    home, journal, items = tmp_path / "home", tmp_path / "journal.jsonl", 6  # 6 images: no two jobs alike
    with spawn_simulator(["--latency", "0.1-0.3", "--workers", "8", "--journal", str(journal)]) as sim:
        env = _sim_env(sim.base_url)
        manifest = _variants_manifest(tmp_path, sim.base_url, items)
        first = nanobatch(["run", str(manifest)], home, tmp_path, **env)
        assert first.returncode == WAITING, first.stdout + first.stderr
        assert "pilot 6/6 done, waiting for approval" in first.stderr  # 2 studio items x 2 variants + 2 plain
        unchosen = nanobatch(["pilot", "approve", "1"], home, tmp_path, **env)
        assert unchosen.returncode == 2 and "--variant studio=neutral|warm" in unchosen.stderr
        unknown = nanobatch(["pilot", "approve", "1", "--variant", "studio=cold"], home, tmp_path, **env)
        assert unknown.returncode == 2 and "has the variants neutral, warm" in unknown.stderr
        approved = nanobatch(["pilot", "approve", "1", "--variant", "studio=neutral"], home, tmp_path,
                             NANOBATCH_REVIEWER="alice", **env)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert f"{items - 2} jobs of the other variants cancelled unpaid" in approved.stdout
    specs = {spec.id: spec for spec in load_manifest(manifest).jobs}
    submits = _submits_by_job(manifest, journal)
    report = tmp_path / "report.json"
    assert nanobatch(["report", "1", "-o", str(report)], home, tmp_path).returncode == 0
    doc = json.loads(report.read_text())
    rows = {row["id"]: row for row in doc["jobs"]}
    for job_id, spec in specs.items():
        row = rows[job_id]
        if spec.variant == "warm" and not row["pilot"]:
            assert submits[job_id] == 0 and row["state"] == "cancelled", job_id  # never paid beyond the pilot
        else:
            assert submits[job_id] == 1 and row["state"] == "succeeded", job_id
    assert sum(row["pilot"] for row in rows.values()) == 6
    assert sum(submits.values()) == 6 + (items - 2) * 2  # the pilot, then one variant of studio and plain
    said = doc["batch"]["pilot"]
    assert re.fullmatch(r"pilot 6/6 done, approved by alice at \S+Z \(studio=neutral\)", said), said
    shown = nanobatch(["status", "1", "--json"], home, tmp_path)
    assert json.loads(shown.stdout)["pilot"] == said


def _gated(tmp_path: Path, sim_args: list[str]) -> tuple[int, str, list[dict[str, object]], dict[str, int], Path]:
    """Run the test manifest under ``pilot: {size: 6, gate: {max_failed: 10%}}`` with a notify command;
    (exit status, stderr, the notifications received, submits by job id, manifest)."""
    journal, notes = tmp_path / "journal.jsonl", tmp_path / "notes.jsonl"
    gate = (f"pilot: {{size: {PILOT}, gate: {{max_failed: 10%}}}}\n"
            f"notify: {{command: \"cat >> {notes}; echo >> {notes}\"}}\n")
    with spawn_simulator(["--latency", "0.1-0.3", "--workers", "8", "--journal", str(journal), *sim_args]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=ITEMS, styles=STYLES, extra=gate)
        done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path,
                         **_sim_env(sim.base_url, NANOBATCH_NOTIFY_SECONDS="0.3", NANOBATCH_MAX_ATTEMPTS="1"))
    received = [json.loads(line) for line in notes.read_text().splitlines() if line.strip()] if notes.exists() else []
    return done.returncode, done.stderr, received, _submits_by_job(manifest, journal), manifest


def test_a_pilot_that_passes_its_gate_goes_on_alone(tmp_path: Path) -> None:
    code, said, received, submits, _ = _gated(tmp_path, [])
    assert code == 0, said
    assert set(submits.values()) == {1} and len(submits) == JOBS
    pilot_notes = [n for n in received if n.get("event") == "pilot"]
    assert len(pilot_notes) == 1
    assert str(pilot_notes[0]["pilot"]).startswith(f"pilot {PILOT}/{PILOT} done, approved by gate")
    assert _status(tmp_path / "home", tmp_path, 1)["counts"] == {"succeeded": JOBS}


def test_a_pilot_that_fails_its_gate_stops_and_says_why(tmp_path: Path) -> None:
    code, said, received, submits, _ = _gated(tmp_path, ["--fail-rate", "1"])
    assert code == WAITING, said
    reason = f"the pilot failed its gate: {PILOT} of {PILOT} jobs failed (100% > max_failed 10%)"
    assert reason in said and "nanobatch pilot approve 1" in said
    assert sum(submits.values()) == PILOT  # the rest never submitted
    pilot_notes = [n for n in received if n.get("event") == "pilot"]
    assert len(pilot_notes) == 1 and reason in str(pilot_notes[0]["pilot"])
    status = _status(tmp_path / "home", tmp_path, 1)
    assert status["counts"] == {"failed": PILOT, "parked": JOBS - PILOT} and status["pilot_waiting"]


def test_a_pilot_of_a_batch_already_run_pays_nothing_again(tmp_path: Path) -> None:
    home, journal = tmp_path / "home", tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0.1-0.3", "--workers", "8", "--journal", str(journal)]) as sim:
        env = _sim_env(sim.base_url)
        manifest = write_manifest(tmp_path, sim.base_url, items=ITEMS, styles=STYLES)
        assert nanobatch(["run", str(manifest)], home, tmp_path, **env).returncode == 0
        again = nanobatch(["run", str(manifest), "--pilot", str(PILOT)], home, tmp_path, **env)
        assert again.returncode == WAITING, again.stdout + again.stderr
        approved = nanobatch(["pilot", "approve", "2"], home, tmp_path, **env)
        assert approved.returncode == 0, approved.stdout + approved.stderr
    assert set(_submits_by_job(manifest, journal).values()) == {1}  # the first batch's submits only
    assert _status(home, tmp_path, 2)["counts"] == {"cached": JOBS}
