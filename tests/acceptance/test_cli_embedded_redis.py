"""The embedded Redis as users meet it: shared by runs, restarted when killed, gone with its last user.

And no process outlives ``nanobatch run``: SIGTERM or SIGKILL of the run leaves neither the
worker, its beat, the server nor its supervisor behind (a killed worker is replaced: see
``test_cli_supervision``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from batch.embedded import redis as redis_server
from batch.embedded.children import alive
from batch.embedded.health import GRACE_SECONDS
from batch.simulator import spawn_simulator
from batch.testing.cluster import wait_until
from tests.acceptance.test_cli_ops import status_of
from tests.helpers import write_manifest

RUN_TIMEOUT = 60  # seconds: a run that hangs (the base's behaviour) fails the test instead
HEALTH_GRACE = GRACE_SECONDS


def run_env(home: Path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(home), "RUNCOMFY_API_BASE": api_base, "RUNCOMFY_API_TOKEN": "t",
                "NANOBATCH_LEASE_SECONDS": "3", "COLUMNS": "160"})
    return env


@contextmanager
def started_run(folder: Path, home: Path, api_base: str, *, items: int, styles: int,
                name: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    """``nanobatch run`` of a fresh manifest in ``folder``, in its own session; killed if still running at exit.

    ``env``: more variables for it (NANOBATCH_...)."""
    folder.mkdir(exist_ok=True)
    manifest = write_manifest(folder, api_base, items=items, styles=styles, name=name)
    proc = subprocess.Popen([sys.executable, "-m", "batch", "run", str(manifest)], cwd=folder,
                            env={**run_env(home, api_base), **env}, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group may outlive its leader: that is the bug
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        redis_server.stop_redis(home)


def children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from /proc (no psutil)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return [p for p in found if alive(p)]


def start_worker(cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``nanobatch worker`` alone (no beat, one process), in its own session, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "batch", "worker", "--no-beat", "--concurrency", "1"],
                                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def pid_in(path: Path) -> int:
    return int(path.read_text().strip())


def test_two_runs_share_the_embedded_redis(tmp_path: Path) -> None:
    """The first run to finish used to stop the server it started under the second one, which then hung."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "1-1.5"]) as fast, spawn_simulator(["--latency", "5"]) as slow:
        with started_run(tmp_path / "a", home, fast.base_url, items=1, styles=1, name="first") as first:
            assert wait_until(lambda: redis_server.is_running(home), timeout=30)
            with started_run(tmp_path / "b", home, slow.base_url, items=2, styles=1, name="second") as second:
                first_out, _ = first.communicate(timeout=RUN_TIMEOUT)
                assert first.returncode == 0, first_out
                assert second.poll() is None  # still waiting upstream when the first one left
                second_out, _ = second.communicate(timeout=RUN_TIMEOUT)
                assert second.returncode == 0, second_out
        assert status_of(home, tmp_path, 2)["counts"] == {"succeeded": 2}
        assert wait_until(lambda: not redis_server.is_running(home), timeout=5)  # the last user left


def test_a_killed_embedded_redis_is_restarted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "3"]) as sim:
        with started_run(tmp_path, home, sim.base_url, items=2, styles=2, name="killed-redis") as run:
            assert wait_until(lambda: sim.stats()["submits"] >= 4, timeout=30)
            killed = pid_in(home / "redis" / "redis.pid")
            os.kill(killed, signal.SIGKILL)
            out, _ = run.communicate(timeout=RUN_TIMEOUT)
            assert run.returncode == 0, out
        log = (home / "redis" / "supervisor.log").read_text()
        assert "server exited (code -9); restarting" in log, log
        assert status_of(home, tmp_path, 1)["counts"] == {"succeeded": 4}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_process_outlives_the_run(tmp_path: Path, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    # slow jobs: the run is in full flight when killed
    with spawn_simulator(["--latency", "30"]) as sim, \
            started_run(tmp_path, home, sim.base_url, items=2, styles=1, name="killed") as run:
        assert wait_until(lambda: sim.stats()["submits"] >= 2 and len(children_of(run.pid)) >= 2, timeout=30)
        supervisor = home / "redis" / "supervisor.pid"
        spawned = [*children_of(run.pid), pid_in(home / "redis" / "redis.pid"),
                   *([pid_in(supervisor)] if supervisor.exists() else [])]
        assert len(spawned) >= 3 and all(alive(p) for p in spawned)  # worker, beat, server (and its supervisor)
        os.kill(run.pid, sig)
        gone = wait_until(lambda: not any(alive(p) for p in spawned), timeout=10, interval=0.1)
        left = [p for p in spawned if alive(p)]
        out = run.communicate(timeout=RUN_TIMEOUT)[0]
        assert gone, f"still running: {[(p, Path(f'/proc/{p}/cmdline').read_bytes()) for p in left]}\n{out}"
        if sig == signal.SIGTERM:
            assert run.returncode == 128 + signal.SIGTERM and "terminated: nothing is lost" in out


def test_an_embedded_redis_whose_users_all_died_stops(tmp_path: Path) -> None:
    """A user killed outright never releases; the supervisor notices its pid is gone."""
    home = tmp_path / "home"
    user = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                             "from batch.embedded import redis; redis.ensure_redis(Path(sys.argv[1])); "
                             "print('up', flush=True); "
                             "time.sleep(60)", str(home)], stdout=subprocess.PIPE, text=True)
    try:
        assert user.stdout is not None and user.stdout.readline().strip() == "up"
        server = pid_in(home / "redis" / "redis.pid")
        user.kill()
        user.wait()
        started = time.monotonic()
        assert wait_until(lambda: not alive(server), timeout=5, interval=0.05)
        assert time.monotonic() - started < 5
    finally:
        user.kill()
        redis_server.stop_redis(home)


def test_run_says_when_its_broker_stops_answering(tmp_path: Path) -> None:
    """A server that hangs (SIGSTOP) is not restarted, but run names it and since when, then carries on."""
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "2"]) as sim, \
            started_run(tmp_path, home, sim.base_url, items=1, styles=2, name="hung-redis") as run:
        assert wait_until(lambda: sim.stats()["submits"] >= 2, timeout=30)
        server = pid_in(home / "redis" / "redis.pid")
        os.kill(server, signal.SIGSTOP)
        try:
            time.sleep(HEALTH_GRACE + 3)  # long enough to be reported (the report itself is unit-tested)
        finally:
            os.kill(server, signal.SIGCONT)
        out, _ = run.communicate(timeout=RUN_TIMEOUT)
        assert run.returncode == 0, out
        said = " ".join(out.split())  # the terminal width may wrap the line
        assert f"warning: broker (unix://{home / 'redis' / 'redis.sock'}) unreachable since" in said, out


def test_a_worker_logs_a_broker_that_stops_answering(tmp_path: Path) -> None:
    home = tmp_path / "home"
    url, _ = redis_server.ensure_redis(home)
    log = tmp_path / "worker.log"
    env = {**run_env(home, "http://127.0.0.1:9"), "NANOBATCH_REDIS_URL": url}
    try:
        worker = start_worker(tmp_path, env, log)
        try:
            declared = redis.Redis.from_url(url)  # the worker declares its queue as it becomes ready
            assert wait_until(lambda: bool(declared.exists("_kombu.binding.celery")), timeout=30), log.read_text()
            time.sleep(1)  # worker_ready, which starts the watch, follows the declaration
            server = pid_in(home / "redis" / "redis.pid")
            os.kill(server, signal.SIGSTOP)
            try:
                said = wait_until(lambda: b"unreachable since" in log.read_bytes(), timeout=HEALTH_GRACE + 5)
            finally:
                os.kill(server, signal.SIGCONT)
            text = log.read_text()
            assert said, text
            assert f"broker ({url}) unreachable since" in text
            assert wait_until(lambda: b"reachable again" in log.read_bytes(), timeout=10), log.read_text()
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    finally:
        redis_server.release(home)
        redis_server.stop_redis(home)
