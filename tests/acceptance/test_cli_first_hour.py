"""A newcomer's first hour: commands typed from the wrong directory, a lone worker, a failed run's next step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from batch.embedded import redis as redis_server
from batch.simulator import spawn_simulator
from batch.testing.cluster import wait_until
from tests.helpers import write_manifest


def plain_nanobatch(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``nanobatch ARGS`` in ``cwd`` with no NANOBATCH_ or RUNCOMFY_ variable: every default applies."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    full_env.update({"COLUMNS": "200", **env})
    return subprocess.run([sys.executable, "-m", "batch", *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=240)


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["status"], 0, "stdout"),
        (["status", "--json"], 0, "stderr"),
        (["status", "3"], 2, "stderr"),
        (["status", "3", "--watch"], 2, "stderr"),
        (["report", "3"], 2, "stderr"),
        (["retry", "3"], 2, "stderr"),
        (["cancel", "3"], 2, "stderr"),
        (["resume", "3"], 2, "stderr"),
    ],
)
def test_reading_from_another_directory_creates_nothing_and_says_where_it_looked(
        tmp_path: Path, args: list[str], code: int, said: str) -> None:
    done = plain_nanobatch(args, tmp_path)
    home = tmp_path / ".nanobatch"
    assert done.returncode == code, done.stdout + done.stderr
    where = f"in {home} (sqlite:///{home / 'nanobatch.db'})"
    text = done.stdout if said == "stdout" else done.stderr
    assert where in text and len(text.strip().splitlines()) == 1
    assert not home.exists()


def test_status_json_lists_nothing_on_stdout(tmp_path: Path) -> None:
    done = plain_nanobatch(["status", "--json"], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "[]"


def test_schedules_list_without_a_database_creates_none(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("name: m\njobs: []\n")
    (tmp_path / "s.yaml").write_text("schedules:\n  - name: nightly\n    manifest: m.yaml\n    cron: '0 3 * * *'\n")
    done = plain_nanobatch(["schedules", "list", "--file", "s.yaml"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "nightly" in done.stdout and "never" in done.stdout
    assert not (tmp_path / ".nanobatch").exists()


def test_status_where_a_batch_exists_still_lists_it(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1)
    env = {"RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "t"}  # submit wants a token, any base
    assert plain_nanobatch(["submit", str(manifest)], tmp_path, **env).returncode == 0
    listed = plain_nanobatch(["status"], tmp_path)
    assert listed.returncode == 0 and "test-batch" in listed.stdout and "no batches" not in listed.stdout


@contextmanager
def lone_worker(cwd: Path, log: Path, *args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``nanobatch worker ARGS`` in ``cwd`` (default home), stopped warm on exit with its embedded Redis."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "batch", "worker", "--concurrency", "4", *args], cwd=cwd,
                                  env={**full_env, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield worker
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            redis_server.stop_redis(cwd / ".nanobatch")


def _counts(cwd: Path) -> dict[str, int]:
    done = plain_nanobatch(["status", "1", "--json"], cwd)
    assert done.returncode == 0, done.stderr
    counts: dict[str, int] = json.loads(done.stdout)["counts"]
    return counts


@pytest.mark.slow
def test_submit_then_a_lone_worker_finishes_the_batch(tmp_path: Path) -> None:
    with spawn_simulator(["--latency", "0.2-0.5", "--workers", "8"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=2)
        assert plain_nanobatch(["submit", str(manifest)], tmp_path, **env).returncode == 0
        log = tmp_path / "worker.log"
        with lone_worker(tmp_path, log, **env):
            finished = wait_until(lambda: _counts(tmp_path) == {"succeeded": 4}, timeout=120, interval=0.5)
    said = log.read_text(errors="replace")
    assert finished, f"{_counts(tmp_path)}\n{said}"
    assert "no beat is alive, so this worker runs one" in said


@pytest.mark.slow
def test_a_worker_told_no_beat_stays_idle(tmp_path: Path) -> None:
    """The other side of the default: without a beat nothing moves (why the default runs one)."""
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1)
    env = {"RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "t"}
    assert plain_nanobatch(["submit", str(manifest)], tmp_path, **env).returncode == 0
    log = tmp_path / "worker.log"
    with lone_worker(tmp_path, log, "--no-beat", **env):
        assert wait_until(lambda: redis_server.is_running(tmp_path / ".nanobatch"), timeout=30)
        moved = wait_until(lambda: _counts(tmp_path) != {"pending": 1}, timeout=5, interval=0.5)
    assert not moved and "no beat is alive" not in log.read_text(errors="replace")


def test_run_that_ends_with_failures_points_at_report_and_retry(tmp_path: Path) -> None:
    with spawn_simulator(["--latency", "0", "--fail-rate", "1", "--seed", "3"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2)
        done = plain_nanobatch(["run", str(manifest)], tmp_path, RUNCOMFY_API_BASE=sim.base_url,
                               RUNCOMFY_API_TOKEN="t")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 jobs failed" in done.stdout
    assert "nanobatch report 1" in done.stdout and "nanobatch retry 1" in done.stdout


def test_run_dry_run_prices_without_writing_and_says_when_over_budget(tmp_path: Path) -> None:
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2, extra="budget_usd: 0.2\n"))
    env = {"RUNCOMFY_API_BASE": "http://127.0.0.1:9"}
    done = plain_nanobatch(["run", "--dry-run", manifest], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["jobs in manifest: 4", "jobs cached (verified files reused, no API call): 0", "jobs to run: 4",
                         "estimated cost: $0.60", "budget: $0.20"]
    assert lines[5].startswith("over budget: the estimate exceeds the budget by $0.40")
    assert not (tmp_path / ".nanobatch").exists()
    raised = plain_nanobatch(["submit", "--dry-run", "--json", "--budget", "1", manifest], tmp_path, **env)
    assert json.loads(raised.stdout) == {"jobs": 4, "cached": 0, "waiting": 0, "to_run": 4, "paid_again": 0,
                                         "estimated_cost_usd": 0.6,
                                         "budget_usd": 1.0, "over_budget": False}


HELP_PROBE = """
import sys
from click.testing import CliRunner
from batch.cli.main import main
result = CliRunner().invoke(main, ["--help"], terminal_width=80)
print(result.output)
print("simulator imported:", "batch.simulator.cli" in sys.modules)
"""


def test_help_lists_every_command_on_one_line_grouped_without_loading_the_simulator(tmp_path: Path) -> None:
    from batch.cli.main import main

    done = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, timeout=60, check=True)
    out = done.stdout
    assert out.rstrip().endswith("simulator imported: False")
    headings = [line for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert headings == ["Options:", "Running:", "Operating:", "Reporting:", "Reviewing:", "Scheduling:", "Simulator:"]
    names = main.list_commands(None)  # type: ignore[arg-type]
    commands = out.split("Running:", 1)[1].split("simulator imported:")[0]
    listed = [line.split()[0] for line in commands.splitlines() if line.startswith("  ")]
    assert sorted(listed) == sorted(names)  # each exactly once, and no wrapped second lines
    assert "..." not in commands and max(len(line) for line in out.splitlines()) <= 80
