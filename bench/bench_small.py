"""Small runs, as a person meets them: a one-job ``nanobatch run`` and a fully cached rerun.

1. A one-job ``nanobatch run`` against the simulator (latency 0), as a subprocess, timed from
   spawn to exit (the median of ``--runs``, default 5, each a job of its own, after one warm-up
   run on the same home); beside it, a plain ``requests`` script (also a subprocess) doing the
   same job's submit, poll, fetch and download against the same simulator. Target: <= 1.5 s.
2. A fully cached rerun of ``--jobs`` (default 1,000) jobs: the manifest is first run to the end
   (in this process, ``drain``, on the same database), then ``nanobatch run`` of it again, every
   job answered by the cache, beside ``nanobatch submit --dry-run`` of the same manifest (both
   subprocesses, medians of ``--runs``). Target: the run within 1 s of the dry run.

Usage: ``.venv/bin/python bench/bench_small.py [--runs 5] [--jobs 1000] [--quick]``
(``--quick``: 3 runs, 200 jobs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit, verdict, write_manifest

from batch.commands.batches import create_batch
from batch.config import Settings
from batch.engine.runtime import build_runtime
from batch.engine.tick import drain
from batch.manifest import load_manifest
from batch.simulator import spawn_simulator

ONE_JOB_TARGET = 1.5   # seconds, wall
CACHED_SLACK = 1.0     # seconds more than the dry run

PLAIN_SCRIPT = """
import sys, time, requests
base, out = sys.argv[1], sys.argv[2]
http = requests.Session()
http.headers["Authorization"] = "Bearer bench"
body = {"prompt": sys.argv[3], "image_urls": [base + "/samples/shoe.png"], "aspect_ratio": "1:1",
        "resolution": "1K", "output_format": "jpeg"}
rid = http.post(base + "/v1/models/google/nano-banana/pro/edit", json=body, timeout=30).json()["request_id"]
while http.get(f"{base}/v1/requests/{rid}/status", timeout=30).json()["status"] not in ("completed", "cancelled"):
    time.sleep(0.05)
result = http.get(f"{base}/v1/requests/{rid}/result", timeout=30).json()
images = (result.get("output") or {}).get("images") or []
url = images[0] if isinstance(images[0], str) else images[0]["url"]
with open(out, "wb") as f:
    f.write(http.get(url, timeout=30).content)
"""


def run_env(home: Path, api_base: str) -> dict[str, str]:
    """The environment of a person's ``nanobatch`` on ``home`` (embedded SQLite and Redis)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(home), "RUNCOMFY_API_BASE": api_base, "RUNCOMFY_API_TOKEN": "bench"})
    return env


def timed(cmd: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0,)) -> float:
    """Seconds from spawn to exit of ``cmd``; RuntimeError if it exits otherwise than ``ok``."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode not in ok:
        raise RuntimeError(f"{cmd} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return took


def nanobatch(*args: str) -> list[str]:
    """The ``nanobatch`` command line, as a subprocess of this interpreter."""
    return [sys.executable, "-m", "batch", *args]


def one_job(folder: Path, api_base: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds of one-job ``nanobatch run``s and of the plain script, ``runs`` of each, interleaved."""
    home = folder / "home"
    home.mkdir(mode=0o700)
    env = run_env(home, api_base)
    ours, plain = [], []
    for n in range(runs + 1):  # the first creates the database and is not counted
        where = folder / f"one-{n}"
        manifest = write_manifest(where, api_base, 1, name=f"small-{n}-{time.time_ns()}", styles=1)
        took = timed(nanobatch("run", str(manifest)), env, where)
        plain_took = timed([sys.executable, "-c", PLAIN_SCRIPT, api_base, str(where / "plain.jpg"),
                            f"plain {n} {time.time_ns()}"], env, where)
        if n:
            ours.append(took)
            plain.append(plain_took)
    return ours, plain


def cached_rerun(folder: Path, api_base: str, jobs: int, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds of ``nanobatch run`` of a finished manifest and of its ``submit --dry-run``."""
    home = folder / "cached-home"
    home.mkdir(mode=0o700)
    settings = Settings(home=home, api_base=api_base, token="bench", requests_per_second=2000.0,
                        max_in_flight=500, lease_seconds=30.0)
    manifest = write_manifest(folder / "cached", api_base, jobs, name="cached", fmt="jpeg")
    rt = build_runtime(settings, redis_url=None)
    drain(rt, create_batch(rt.sessions, load_manifest(manifest), now=time.time()), timeout=3600)
    env = run_env(home, api_base)
    runs_, dry = [], []
    for _ in range(runs):
        dry.append(timed(nanobatch("submit", "--dry-run", str(manifest)), env, manifest.parent))
        runs_.append(timed(nanobatch("run", str(manifest)), env, manifest.parent))
    return runs_, dry


def main() -> None:
    """Time both and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="3 runs, 200 jobs")
    args = parser.parse_args()
    runs, jobs = (3, 200) if args.quick else (args.runs, args.jobs)
    with tempfile.TemporaryDirectory(prefix="nb-bench-small-") as tmp, \
            spawn_simulator(["--latency", "0", "--workers", "16"]) as sim:
        ours, plain = one_job(Path(tmp), sim.base_url, runs)
        cached, dry = cached_rerun(Path(tmp), sim.base_url, jobs, runs)
    one, base = statistics.median(ours), statistics.median(plain)
    rerun, dry_run = statistics.median(cached), statistics.median(dry)
    one_met, cached_met = one <= ONE_JOB_TARGET, rerun <= dry_run + CACHED_SLACK
    print(f"one-job nanobatch run (simulator latency 0, spawn to exit, median of {runs}): {one:.2f} s "
          f"(min {min(ours):.2f}, max {max(ours):.2f}); plain requests script, same job: {base:.2f} s "
          f"= {one / base:.1f}x  (target <= {ONE_JOB_TARGET} s)  [{verdict(one_met)}]")
    print(f"cached rerun of {jobs} jobs, nanobatch run (median of {runs}): {rerun:.2f} s; submit --dry-run: "
          f"{dry_run:.2f} s; difference {rerun - dry_run:+.2f} s  (target <= +{CACHED_SLACK} s)  "
          f"[{verdict(cached_met)}]")
    emit({"bench": "small", "runs": runs, "jobs": jobs, "one_job_seconds": round(one, 3),
          "plain_seconds": round(base, 3), "cached_run_seconds": round(rerun, 3),
          "dry_run_seconds": round(dry_run, 3), "one_job_met": one_met, "cached_met": cached_met,
          "met": one_met and cached_met})


if __name__ == "__main__":
    main()
