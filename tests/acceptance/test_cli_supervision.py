"""Nothing stalls silently, nothing outlives its command: ``nanobatch run`` under faults, as users meet them.

A killed beat or worker is replaced and said so; what ``run`` started has stopped when it returns.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batch.embedded.children import alive
from batch.simulator import spawn_simulator
from batch.testing.cluster import wait_until
from tests.acceptance.test_cli_embedded_redis import RUN_TIMEOUT, children_of, run_env, started_run
from tests.acceptance.test_cli_ops import status_of
from tests.helpers import write_manifest

TRICKLE_RUN_TIMEOUT = 90  # seconds: far less than one trickling file takes (600 s)


def processes_using(home: Path) -> list[int]:
    """The live processes whose command line or environment names ``home`` (this test's data directory)."""
    found = []
    needle = str(home).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_when_run_returns_what_it_started_has_stopped(tmp_path: Path) -> None:
    """The embedded server's supervisor used to stop it a moment after run returned, writing into the home."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.2"]) as sim, \
            started_run(tmp_path / "work", home, sim.base_url, items=2, styles=1, name="clean") as run:
        out, _ = run.communicate(timeout=RUN_TIMEOUT)
        assert run.returncode == 0, out
        assert processes_using(home) == []
        shutil.rmtree(home)  # "Directory not empty" when something still writes there
        assert processes_using(home) == [] and not home.exists()


def _direct_children(pid: int) -> list[int]:
    return [child for child in children_of(pid) if _parent(child) == pid]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _worker_and_beat(run_pid: int) -> tuple[int, int] | None:
    """The pids of the run's worker (its child) and of that worker's beat (the worker's child), once both run."""
    workers = _direct_children(run_pid)
    beats = _direct_children(workers[0]) if len(workers) == 1 else []
    return (workers[0], beats[0]) if len(beats) == 1 else None


@pytest.mark.parametrize("target", ["beat", "worker"])
def test_a_killed_beat_or_worker_is_replaced_and_the_batch_finishes(tmp_path: Path, target: str) -> None:
    """A beat SIGKILLed inside run's worker stayed a zombie (no tick, the batch never moved again);
    a SIGKILLed worker ended run with exit 1."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "2"]) as sim, \
            started_run(tmp_path / "work", home, sim.base_url, items=3, styles=2, name=f"killed-{target}") as run:
        assert wait_until(lambda: sim.stats()["submits"] >= 2 and _worker_and_beat(run.pid) is not None, timeout=30)
        found = _worker_and_beat(run.pid)
        assert found is not None
        worker, beat = found
        os.kill(beat if target == "beat" else worker, signal.SIGKILL)
        out, _ = run.communicate(timeout=RUN_TIMEOUT)
        said = " ".join(out.split())  # the terminal width may wrap the line
        assert run.returncode == 0, out
        killed = beat if target == "beat" else worker
        assert f"warning: the {target} (pid {killed}) stopped unexpectedly (killed by SIGKILL); started another" \
            in said, out
        assert not alive(worker) and not alive(beat)
    assert status_of(home, tmp_path / "work", 1)["counts"] == {"succeeded": 6}


def test_a_killed_run_leaves_nothing_running_within_the_grace_during_slow_downloads(tmp_path: Path) -> None:
    """Its worker used to wait out each trickling download's deadline (minutes) before exiting, with
    its beat and the embedded server kept alive meanwhile."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.2", "--slow-download-rate", "1", "--slow-seconds", "120"]) as sim, \
            started_run(tmp_path / "work", home, sim.base_url, items=2, styles=1, name="slow-files",
                        NANOBATCH_DOWNLOAD_STALL_SECONDS="300") as run:  # the downloads go on: the grace ends them
        assert wait_until(lambda: sim.stats()["slow_downloads"] >= 2, timeout=60)
        spawned = processes_using(home)
        assert len(spawned) >= 4  # run, its worker, the worker's beat, the server (and its supervisor)
        os.kill(run.pid, signal.SIGKILL)
        gone = wait_until(lambda: processes_using(home) == [], timeout=15, interval=0.2)
        assert gone, [_describe(p) for p in processes_using(home)]
    log = (home / "worker.log").read_text(errors="replace")
    assert "2 job(s) given back to the queue" in log, log[-3000:]
    assert status_of(home, tmp_path / "work", 1)["counts"] == {"downloading": 2}


def _describe(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid}: gone"
    return f"{pid}: {command}"


def test_files_that_trickle_do_not_hold_up_the_other_jobs(tmp_path: Path) -> None:
    """Ten trickling files used to pin the worker's threads for minutes (a normal job finished at 237 s,
    not 12 s). Here a trickle lasts far longer than the run may take: only a run that leaves a
    trickling file and comes back to it, with a thread kept for submits and polls, finishes in time."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    with spawn_simulator(["--latency", "0.3", "--slow-download-rate", "0.5", "--slow-seconds", "600",
                          "--seed", "11"]) as sim:
        manifest = write_manifest(work, sim.base_url, items=8, styles=1, name="trickles")
        env = {**run_env(home, sim.base_url), "NANOBATCH_DOWNLOAD_STALL_SECONDS": "2", "NANOBATCH_DOWNLOAD_SLOTS": "1",
               "NANOBATCH_LEASE_SECONDS": "60"}  # no lease expires and hands a stuck download to another thread
        done = subprocess.run([sys.executable, "-m", "batch", "run", str(manifest), "--concurrency", "2"], cwd=work,
                              env=env, text=True, capture_output=True, timeout=TRICKLE_RUN_TIMEOUT)
        trickled = sim.stats()["slow_downloads"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert trickled >= 1
    assert status_of(home, work, 1)["counts"] == {"succeeded": 8}


def test_the_first_step_does_not_wait_for_the_beat(tmp_path: Path) -> None:
    """A run's first tick came from its worker's beat: a process started after the worker, which sends
    its first tick one period after its own start (here 120 s). The worker now sends one when ready."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0"]) as sim, \
            started_run(tmp_path / "work", home, sim.base_url, items=1, styles=1, name="first-tick",
                        NANOBATCH_TICK_SECONDS="120"):
        assert wait_until(lambda: sim.stats()["submits"] >= 1, timeout=60), sim.stats()
