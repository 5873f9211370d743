"""Each unique job is paid once, across batches (issue 20, "Money").

The same manifest submitted twice before the first batch finished, or run twice at once: a job
identical to one under way does not submit; it waits (no worker held) and ends ``cached`` with
verified copies of that job's files. The dry run counts such jobs apart, at $0; ``--force`` pays
again and says so. Everything real: the simulator over HTTP (its journal counts the submits),
subprocesses of the CLI sharing one home (SQLite, the embedded Redis).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from batch.simulator import spawn_simulator
from batch.testing.cluster import wait_until
from tests.acceptance.test_cli import nanobatch
from tests.acceptance.test_cli_first_hour import lone_worker
from tests.helpers import journal_submits, write_manifest

ITEMS, STYLES = 5, 4
JOBS = ITEMS * STYLES


def _spawn(args: list[str], home: Path, cwd: Path, **env: str) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    full_env.update({"NANOBATCH_HOME": str(home), "COLUMNS": "120", **env})
    return subprocess.Popen([sys.executable, "-m", "batch", *args], cwd=cwd, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _status(home: Path, cwd: Path, batch_id: int) -> dict[str, object]:
    done = nanobatch(["status", str(batch_id), "--json"], home, cwd)
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def _verified_files(home: Path, cwd: Path, batch_id: int) -> list[dict[str, object]]:
    """The batch's report rows, each output file checked on disk against its recorded sha256."""
    report = cwd / f"report-{batch_id}.json"
    assert nanobatch(["report", str(batch_id), "-o", str(report)], home, cwd).returncode == 0
    rows: list[dict[str, object]] = json.loads(report.read_text())["jobs"]
    for row in rows:
        paths, sums = row["outputs"], row["sha256"]
        assert isinstance(paths, list) and isinstance(sums, list) and paths
        for path, digest in zip(paths, sums, strict=True):
            assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    return rows


def test_two_runs_of_one_manifest_at_once_pay_each_job_once(tmp_path: Path) -> None:
    home, journal = tmp_path / "home", tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0.3-0.8", "--workers", "8", "--journal", str(journal)]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = write_manifest(tmp_path, sim.base_url, items=ITEMS, styles=STYLES)
        runs = [_spawn(["run", str(manifest)], home, tmp_path, **env) for _ in range(2)]
        for run in runs:
            out, err = run.communicate(timeout=240)
            assert run.returncode == 0, out + err
        charged = sim.stats()["cost_charged"]
    submits = journal_submits(journal)
    assert len(submits) == JOBS and set(submits.values()) == {1}  # one submit per unique job, none twice
    assert charged == JOBS * 0.15
    states: dict[str, int] = {}
    for batch_id in (1, 2):
        status = _status(home, tmp_path, batch_id)
        counts = status["counts"]
        assert isinstance(counts, dict) and sum(counts.values()) == JOBS
        assert set(counts) <= {"succeeded", "cached"}, counts
        for state, n in counts.items():
            states[state] = states.get(state, 0) + n
        _verified_files(home, tmp_path, batch_id)
    assert states == {"succeeded": JOBS, "cached": JOBS}  # each job paid in one batch, copied in the other


def test_submit_twice_then_a_worker_pays_once_and_the_dry_run_says_so(tmp_path: Path) -> None:
    home = tmp_path / ".nanobatch"  # the worker's default home, in its working directory
    journal = tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0.2-0.5", "--workers", "8", "--journal", str(journal)]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = write_manifest(tmp_path, sim.base_url, items=ITEMS, styles=STYLES)
        assert nanobatch(["submit", str(manifest)], home, tmp_path, **env).returncode == 0
        planned = nanobatch(["submit", "--dry-run", str(manifest)], home, tmp_path, **env)
        assert planned.returncode == 0, planned.stderr
        assert f"jobs waiting on an identical job in flight (its files copied, no API call, $0): {JOBS}" \
            in planned.stdout
        assert "jobs to run: 0" in planned.stdout and "estimated cost: $0.00" in planned.stdout
        assert nanobatch(["submit", str(manifest)], home, tmp_path, **env).returncode == 0
        with lone_worker(tmp_path, tmp_path / "worker.log", **env):
            settled = wait_until(lambda: all(_status(home, tmp_path, b)["done"] for b in (1, 2)), timeout=180,
                                 interval=0.5)
    assert settled, (tmp_path / "worker.log").read_text(errors="replace")
    submits = journal_submits(journal)
    assert len(submits) == JOBS and set(submits.values()) == {1}
    rows = _verified_files(home, tmp_path, 1) + _verified_files(home, tmp_path, 2)
    assert sorted(str(row["state"]) for row in rows) == ["cached"] * JOBS + ["succeeded"] * JOBS
    assert all(row["cost"] == 0 for row in rows if row["state"] == "cached")


def test_force_pays_again_and_says_so(tmp_path: Path) -> None:
    home, journal = tmp_path / "home", tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "3-4", "--workers", "8", "--journal", str(journal)]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=2)
        plain = _spawn(["run", str(manifest)], home, tmp_path, **env)
        assert wait_until(lambda: nanobatch(["status", "1"], home, tmp_path).returncode == 0, timeout=60)
        planned = nanobatch(["submit", "--dry-run", "--force", str(manifest)], home, tmp_path, **env)
        assert "jobs to run: 4" in planned.stdout and "estimated cost: $0.60" in planned.stdout, planned.stdout
        assert "identical to a job in flight, paid again (--force): 4" in planned.stdout
        forced = _spawn(["run", "--force", str(manifest)], home, tmp_path, **env)
        outputs = [run.communicate(timeout=240) for run in (plain, forced)]
        assert [plain.returncode, forced.returncode] == [0, 0], outputs
    assert "4 jobs are identical to jobs in flight: --force submits them all the same, paid again" in outputs[1][1]
    assert sorted(journal_submits(journal).values()) == [2] * 4  # paid twice, as asked


def test_an_input_upstream_could_not_decode_fails_at_submit_for_free(tmp_path: Path) -> None:
    """Rerun: the job whose input already failed upstream as not a decodable image fails unsubmitted,
    naming the earlier job; ``--force`` submits it anyway."""
    home, journal = tmp_path / "home", tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0", "--journal", str(journal)]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = tmp_path / "m.yaml"
        manifest.write_text(f"""name: photos
output_dir: {tmp_path / 'out'}
jobs:
  - {{id: good, prompt: a shoe, image_urls: ["{sim.base_url}/samples/shoe.png"]}}
  - {{id: bad, prompt: a shoe, image_urls: ["{sim.base_url}/samples/not-an-image.txt"]}}
""")
        first = nanobatch(["run", str(manifest)], home, tmp_path, **env)
        assert first.returncode == 1, first.stdout + first.stderr
        assert sum(journal_submits(journal).values()) == 2
        again = nanobatch(["run", str(manifest)], home, tmp_path, **env)
        assert again.returncode == 1, again.stdout + again.stderr
        assert sum(journal_submits(journal).values()) == 2  # not one call more: the good one cached, the bad refused
        warned = [line for line in again.stderr.splitlines() if line.startswith("warning: job bad:")]
        assert len(warned) == 1 and "not-an-image.txt already failed upstream as not a decodable image (job 2" \
            in warned[0] and "--force" in warned[0]
        report = tmp_path / "r.json"
        assert nanobatch(["report", "2", "-o", str(report)], home, tmp_path).returncode == 0
        rows = {row["id"]: row for row in json.loads(report.read_text())["jobs"]}
        assert (rows["good"]["state"], rows["bad"]["state"], rows["bad"]["submits"]) == ("cached", "failed", 0)
        forced = nanobatch(["run", "--force", str(manifest)], home, tmp_path, **env)
        assert forced.returncode == 1 and "already failed upstream" not in forced.stderr
        assert sorted(journal_submits(journal).values()) == [2, 2]  # --force: both paid (or tried) again
