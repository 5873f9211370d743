"""Slow file hosts against the other jobs: ``nanobatch run`` of 20 jobs, with and without trickling outputs.

Half the output downloads (``--slow-download-rate 0.5``) trickle out over 120 s, more files than
the worker has threads (8). Printed for each case: the seconds from the start of ``run`` until
half the jobs had succeeded, until all had, and how many downloads trickled. Before trickling
files were left and tried again later, they held every thread until they ended.

Usage: ``.venv/bin/python bench/bench_trickle.py [--jobs 20]``
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batch.simulator import spawn_simulator
from batch.testing.helpers import write_manifest

SLOW_SECONDS = 120
LATENCY = "2"


def one_run(folder: Path, jobs: int, slow_rate: float) -> tuple[float, float, float, int]:
    """Run the batch; (seconds until half succeeded, until all did, run's wall time, trickled downloads)."""
    home, work = folder / "home", folder / "work"
    work.mkdir(parents=True)
    sim_args = ["--latency", LATENCY, "--workers", str(jobs), "--slow-download-rate", str(slow_rate),
                "--slow-seconds", str(SLOW_SECONDS), "--seed", "5"]
    with spawn_simulator(sim_args) as sim:
        manifest = write_manifest(work, sim.base_url, items=jobs, styles=1, name="trickle-bench")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
        env.update({"NANOBATCH_HOME": str(home), "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"})
        started = time.time()
        done = subprocess.run([sys.executable, "-m", "batch", "run", str(manifest)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=1800)
        wall = time.time() - started
        trickled = int(sim.stats()["slow_downloads"])
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    with sqlite3.connect(home / "nanobatch.db") as db:
        ends = sorted(at for (at,) in db.execute("select at from job_events where to_state = 'succeeded'"))
    return ends[len(ends) // 2 - 1] - started, ends[-1] - started, wall, trickled


def main() -> None:
    """Both cases, one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    jobs = parser.parse_args().jobs
    for rate in (0.0, 0.5):
        with tempfile.TemporaryDirectory(prefix="nb-bench-trickle-") as tmp:
            half, last, wall, trickled = one_run(Path(tmp), jobs, rate)
        print(f"{jobs} jobs, {trickled} downloads trickled over {SLOW_SECONDS} s: half succeeded at {half:.1f} s, "
              f"all at {last:.1f} s, run returned at {wall:.1f} s")


if __name__ == "__main__":
    main()
