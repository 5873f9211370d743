"""``nanobatch run`` whose embedded Redis is SIGKILLed mid-run goes on within seconds, not one lease later.

The server is killed while task messages are on their way (jobs leased to messages no worker has
started), so that the broker loses them. Its supervisor restarts it within a second; the jobs of the
lost messages used to wait out their lease (and a tick lock restored from the append-only file
stopped every tick for its minute). ``bench/bench_broker_loss.py`` measures the same.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sqlalchemy import select

from batch.simulator import spawn_simulator
from batch.store import db
from batch.store.jobs import STARTED
from batch.store.models import Job
from batch.testing.cluster import wait_until
from tests.acceptance.test_cli_embedded_redis import pid_in, started_run
from tests.acceptance.test_cli_ops import status_of

LEASE = 60.0  # seconds (the default): what the jobs of the lost messages would wait
RESUMED = 10.0  # those jobs are at work again this soon after the kill (bench_broker_loss: ~3 s)
ENDED = 25.0  # and the run ends this soon (its jobs need 4 s more upstream, the machine may be busy)


def leases(db_url: str) -> set[tuple[int, str]]:
    """(job id, lease owner) of every leased job."""
    with db.session_factory(db_url)() as session:
        leased = session.execute(select(Job.id, Job.lease_owner).where(Job.lease_owner.is_not(None))).all()
    return {(job_id, str(owner)) for job_id, owner in leased}


def on_their_way(db_url: str) -> set[tuple[int, str]]:
    """The leases whose task message no worker has started."""
    return {(job_id, owner) for job_id, owner in leases(db_url) if not owner.endswith(STARTED)}


def test_a_run_whose_embedded_redis_is_killed_goes_on_within_seconds(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "4"]) as sim:
        with started_run(tmp_path, home, sim.base_url, items=6, styles=1, name="broker-loss",
                         NANOBATCH_LEASE_SECONDS=f"{LEASE:g}") as run:
            assert wait_until(lambda: sim.stats()["submits"] >= 6, timeout=60)
            db_url = f"sqlite:///{home / 'nanobatch.db'}"
            held: set[tuple[int, str]] = set()

            def messages_on_their_way() -> bool:
                held.update(on_their_way(db_url))
                return bool(held)

            assert wait_until(messages_on_their_way, timeout=30, interval=0.005)
            os.kill(pid_in(home / "redis" / "redis.pid"), signal.SIGKILL)
            killed = time.monotonic()
            resumed = wait_until(lambda: not held & leases(db_url), timeout=RESUMED, interval=0.05)
            moved_on = time.monotonic() - killed
            out, _ = run.communicate(timeout=3 * LEASE)
            took = time.monotonic() - killed
            assert run.returncode == 0, out
        assert "server exited (code -9); restarting" in (home / "redis" / "supervisor.log").read_text()
        assert status_of(home, tmp_path, 1)["counts"] == {"succeeded": 6}
        assert resumed, f"leases {held} still held {moved_on:.1f} s after the kill (lease {LEASE:g} s)"
        assert took < ENDED, f"the run ended {took:.1f} s after the kill (lease {LEASE:g} s)\n{out}"
