"""How long a batch stalls when its embedded broker is SIGKILLed mid-run, against the lease length.

Usage: ``.venv/bin/python bench/bench_broker_loss.py [--runs 3] [--jobs 12] [--latency 4] [--lease 30]``

Each run is ``nanobatch run`` of a fresh batch on the simulator (its own home, the embedded Valkey);
once every job is submitted and a task message is on its way, the server is SIGKILLed (its
supervisor starts it again). Measured from the kill: when the server answers again (``back``),
when the API sees its first call after that (``first call``), when every job whose lease's task
message was on its way at the kill has moved on from that lease (``resumed``: the jobs whose
messages were lost are at work again), and when the run exits (``end``), against the lease length:
without a way to hand back the leases whose messages the broker lost, those jobs wait out their
lease (and a tick lock restored from the server's append-only file stopped every tick for its
60 s). Prints one line per run, the medians, and a RESULT line (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from batch.embedded import redis as redis_server
from batch.simulator import SimulatorHandle, spawn_simulator
from batch.store import db
from batch.store.jobs import STARTED
from batch.store.models import Job
from batch.testing.cluster import wait_until
from batch.testing.helpers import write_manifest

CALLS = ("submit_calls", "status_calls", "result_calls")
STEP = 0.02  # seconds between looks


RESUME_WITHIN = 5.0  # issue 23: work resumes within 5 s of a lost broker's return


def calls(sim: SimulatorHandle) -> int:
    """API calls the simulator has answered so far."""
    stats = sim.stats()
    return sum(int(stats[name]) for name in CALLS)


def start_run(folder: Path, sim: SimulatorHandle, jobs: int, lease: float) -> tuple[subprocess.Popen[bytes], Path]:
    """``nanobatch run`` of ``jobs`` fresh jobs in ``folder`` (its own home); the process and the home."""
    home = folder / "home"
    folder.mkdir(parents=True)
    manifest = write_manifest(folder, sim.base_url, items=jobs, styles=1, name=folder.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(home), "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t",
                "NANOBATCH_LEASE_SECONDS": str(lease)})
    proc = subprocess.Popen([sys.executable, "-m", "batch", "run", str(manifest)], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, home


def finish(proc: subprocess.Popen[bytes], home: Path, timeout: float) -> None:
    """Wait for the run to exit 0 (killed and raised if it does not in time)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        redis_server.stop_redis(home)
    if code != 0:
        raise RuntimeError(f"nanobatch run exited {code}")


def killed(folder: Path, sim: SimulatorHandle, jobs: int, lease: float) -> dict[str, float]:
    """One run whose server is SIGKILLed once every job is submitted: its figures, in seconds."""
    before = int(sim.stats()["submits"])
    proc, home = start_run(folder, sim, jobs, lease)
    if not wait_until(lambda: int(sim.stats()["submits"]) >= before + jobs, timeout=120, interval=STEP):
        raise RuntimeError("the jobs were not all submitted in time")
    pid_file = home / "redis" / "redis.pid"
    old_pid = int(pid_file.read_text())
    sessions = db.session_factory(f"sqlite:///{home / 'nanobatch.db'}")
    held: dict[int, str] = {}

    def on_their_way() -> bool:
        held.update(waiting(sessions))
        return bool(held)

    if not wait_until(on_their_way, timeout=60, interval=STEP / 4):
        raise RuntimeError("no job was ever leased to a task message not yet started")
    os.kill(old_pid, signal.SIGKILL)  # while those messages are on their way
    kill = time.monotonic()
    client = redis.Redis(unix_socket_path=str(redis_server.socket_for(home)), socket_timeout=1)
    wait_until(lambda: _restarted(pid_file, old_pid, client), timeout=60, interval=STEP)
    back = time.monotonic()
    seen = calls(sim)
    wait_until(lambda: calls(sim) > seen or proc.poll() is not None, timeout=10 * lease, interval=STEP)
    first_call = time.monotonic()
    wait_until(lambda: not held.items() & leases(sessions).items(), timeout=10 * lease, interval=STEP)
    resumed = time.monotonic()
    finish(proc, home, timeout=10 * lease)
    end = time.monotonic()
    return {"back": back - kill, "first_call": first_call - kill, "resumed": resumed - kill, "end": end - kill,
            "leased": len(held)}


def waiting(sessions: sessionmaker[Session]) -> dict[int, str]:
    """The leases whose task message no worker has started yet: job id -> owner."""
    return {job_id: owner for job_id, owner in leases(sessions).items() if not owner.endswith(STARTED)}


def leases(sessions: sessionmaker[Session]) -> dict[int, str]:
    """The owner of each leased job."""
    with sessions() as session:
        return {job_id: str(owner) for job_id, owner in
                session.execute(select(Job.id, Job.lease_owner).where(Job.lease_owner.is_not(None))).all()}


def _restarted(pid_file: Path, old_pid: int, client: redis.Redis) -> bool:
    try:
        return int(pid_file.read_text()) != old_pid and bool(client.ping())
    except (OSError, ValueError, redis.RedisError):
        return False


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--latency", type=float, default=4.0, help="the simulator's run time per job (s)")
    parser.add_argument("--lease", type=float, default=30.0, help="NANOBATCH_LEASE_SECONDS (s)")
    parser.add_argument("--quick", action="store_true", help="one run")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    rows = []
    with spawn_simulator(["--latency", str(args.latency)]) as sim, \
            tempfile.TemporaryDirectory(prefix="nb-broker-loss-") as tmp:
        print(f"{args.jobs} jobs, latency {args.latency:g} s, lease {args.lease:g} s")
        for n in range(args.runs):
            row = killed(Path(tmp) / f"run{n}", sim, args.jobs, args.lease)
            rows.append(row)
            print(f"run {n}: server back {row['back']:.2f} s after the kill, first API call {row['first_call']:.2f} s, "
                  f"the {row['leased']:g} job(s) whose messages were on their way at work again "
                  f"{row['resumed']:.2f} s, batch ended {row['end']:.1f} s")
    medians = {key: statistics.median(r[key] for r in rows) for key in ("back", "first_call", "resumed", "end")}
    print(f"median after the kill: jobs at work again {medians['resumed']:.2f} s "
          f"({medians['resumed'] / args.lease:.2f} of the {args.lease:g} s lease), batch ended {medians['end']:.1f} s")
    print("RESULT " + json.dumps({"bench": "broker_loss", "lease": args.lease, "runs": args.runs,
                      "met": medians["resumed"] <= RESUME_WITHIN,
                      **{f"median_{k}": round(v, 2) for k, v in medians.items()}}))


if __name__ == "__main__":
    main()
