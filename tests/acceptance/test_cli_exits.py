"""Exit codes a script branches on (README, "Exit codes"), and what ``run`` prints when no person watches.

0 (all succeeded) and 1 (some failed) are covered by test_cli.py's ``test_run_a_whole_batch`` and
``test_run_exits_1_when_jobs_fail``; 4 for a paused batch by test_cli_setup_errors.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batch.cli.exits import Exit
from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

PLAIN_LINE = re.compile(r"^\d+/\d+ jobs done \(\d+%\); .*; \$\d+\.\d\d spent; \S+; ETA \S+$")


def test_a_budget_stop_exits_3(tmp_path: Path) -> None:
    with spawn_simulator(["--latency", "0"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=2)  # 4 jobs at $0.15
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        done = nanobatch(["run", str(manifest), "--budget", "0.3"], tmp_path / "home", tmp_path, **env)
        assert done.returncode == Exit.BUDGET == 3, done.stdout + done.stderr
        assert "stopped:" in done.stdout and "parked" in done.stdout
        resumed = nanobatch(["resume", "1", "--budget", "5", "--quiet"], tmp_path / "home", tmp_path, **env)
    assert resumed.returncode == 0 and resumed.stdout == "", resumed.stdout + resumed.stderr


def test_a_usage_error_exits_2(tmp_path: Path) -> None:
    assert nanobatch(["run"], tmp_path / "home", tmp_path).returncode == Exit.USAGE == 2
    missing = nanobatch(["run", str(tmp_path / "none.yaml")], tmp_path / "home", tmp_path,
                        RUNCOMFY_API_BASE="http://127.0.0.1:9", RUNCOMFY_API_TOKEN="t")
    assert missing.returncode == 2 and missing.stderr.startswith("error: "), missing.stderr


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("background", [False, True], ids=["foreground", "sigint-ignored"])
def test_ctrl_c_stops_run_with_130(tmp_path: Path, background: bool) -> None:
    """Also in a process started with SIGINT ignored (a shell's background job): run installs its handler."""
    with spawn_simulator(["--latency", "30"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
        env.update({"NANOBATCH_HOME": str(tmp_path / "home"), "RUNCOMFY_API_BASE": sim.base_url,
                    "RUNCOMFY_API_TOKEN": "t"})
        run = subprocess.Popen([sys.executable, "-m", "batch", "run", str(manifest)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ignore_sigint if background else None)
        try:
            assert run.stdout is not None
            first = run.stdout.readline()  # "batch 1: workers started": the watch loop comes next
            assert "workers started" in first, first
            run.send_signal(signal.SIGINT)
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode == Exit.INTERRUPTED == 130, out + err
    assert "interrupted: nothing is lost" in err and "nanobatch resume 1" in err


def test_run_not_on_a_terminal_prints_plain_lines_quiet_prints_nothing(tmp_path: Path) -> None:
    with spawn_simulator(["--latency", "0.3-1.5", "--workers", "8"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        manifest = write_manifest(tmp_path, sim.base_url, items=5, styles=2)
        done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path, **env)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = [line for line in done.stdout.splitlines() if PLAIN_LINE.match(line)]
        assert len(lines) >= 2 and lines[-1].startswith("10/10 jobs done (100%); succeeded 10; $1.50 spent"), \
            done.stdout
        assert not [line for line in done.stdout.splitlines() if "ETA" in line and "━" in line], done.stdout  # no bar
        assert "\x1b" not in done.stdout  # nor any terminal code
        assert "total" in done.stdout  # the summary still follows

        (tmp_path / "quiet").mkdir()
        again = write_manifest(tmp_path / "quiet", sim.base_url, items=1, styles=2, name="quiet")
        quiet = nanobatch(["run", str(again), "--quiet", "--force"], tmp_path / "home", tmp_path, **env)
        assert quiet.returncode == 0 and quiet.stdout == "", quiet.stdout + quiet.stderr
        bare = nanobatch(["resume", "2", "--no-progress"], tmp_path / "home", tmp_path, **env)
        assert bare.returncode == 0 and not any(PLAIN_LINE.match(line) for line in bare.stdout.splitlines())
        assert "total" in bare.stdout, bare.stdout


def test_held_jobs_wait_for_a_person_exit_4(tmp_path: Path) -> None:
    """Every submit's answer lost, with the hold policy: the jobs are held for a person to decide."""
    with spawn_simulator(["--latency", "0", "--drop-rate", "1"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2)
        done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE=sim.base_url,
                         RUNCOMFY_API_TOKEN="t", NANOBATCH_UNCERTAIN_SUBMIT="hold")
    assert done.returncode == Exit.PERSON == 4, done.stdout + done.stderr
    assert "2 jobs held after an uncertain submit" in done.stdout
