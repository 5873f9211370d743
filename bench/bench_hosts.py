"""Benchmark (issue 23), across hosts: three workers 10 ms of round trip away from PostgreSQL,
Redis and the API, against the same three on the host's doorstep.

Each ``nanobatch worker`` runs in its own network namespace (``ip netns``), joined to the host by a
veth pair (10.231.N.1 on the host, 10.231.N.2 in the namespace). On the host side of each pair a
``delay_proxy`` forwards PostgreSQL (5432), Redis (6379) and the simulator's port to 127.0.0.1,
holding every chunk 5 ms each way (this kernel has no ``netem``). In each namespace a zero-delay
forwarder makes the simulator's own address (127.0.0.1:port, the one its output URLs name) lead
to that proxy, so that downloads pay the round trip too. The first worker keeps the beat.

The same batch runs twice, a fresh schema and Redis database each time: without latency (the same
proxies with a delay of 0), then with it. Printed: both wall times and their ratio (goal <= 1.10x),
the most /v1 calls in any 1-s window of the simulator's journal (goal <= the rate limit, 20),
duplicate submits (goal 0), and the round trips per job to each service as the proxies counted
them (a round trip: the client speaking after the server did).

Root only (namespaces); skipped otherwise. Everything it makes is named ``nbh-...`` (namespaces,
links), ``nb_bench_hosts_...`` (schemas) or ``/tmp/nb-bench-hosts-...`` and removed on exit, on
SIGTERM/SIGINT/SIGHUP, and at the next start after a SIGKILL (its processes die with it:
``PR_SET_PDEATHSIG``). Only loopback and these namespaces carry traffic.

The bench's Redis is database 4 of the system Redis (``NANOBATCH_BENCH_HOSTS_REDIS_DB``), flushed
per run; PostgreSQL is ``NANOBATCH_TEST_DATABASE_URL`` (default postgres@127.0.0.1/test).
``bench/trips.py`` breaks the database and Redis exchanges down per job step.

Usage::

    sudo .venv/bin/python bench/bench_hosts.py [--jobs 2000] [--rate 20] [--latency 2-4]
    sudo .venv/bin/python bench/bench_hosts.py --jobs 200          # a short try
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SKIP = "bench_hosts: needs root (network namespaces and veth pairs); skipped"
if __name__ == "__main__" and os.geteuid() != 0:  # before importing what a plain user may not be set up for
    print(SKIP)
    sys.exit(0)

from common import max_in_window, states, terminal, verdict, write_manifest  # noqa: E402

from batch.embedded.children import preexec  # noqa: E402

PREFIX = "nbh-"  # namespaces and links of this benchmark
SCHEMA_PREFIX = "nb_bench_hosts_"
TEMP_PREFIX = "nb-bench-hosts-"  # the work folder (kept only with --keep)
HOSTS = 3
PG_PORT, REDIS_PORT = 5432, 6379
PG_URL = os.environ.get("NANOBATCH_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_DB = int(os.environ.get("NANOBATCH_BENCH_HOSTS_REDIS_DB", "4"))
HERE = Path(__file__).resolve().parent
NANOBATCH = str(Path(sys.executable).parent / "nanobatch")


class Stopped(Exception):
    """SIGTERM or SIGINT: unwind through every ``finally``."""


def _on_signal(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip ARGS``; its stdout."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def ns_name(n: int) -> str:
    """The namespace of host ``n`` (1-based)."""
    return f"{PREFIX}w{n}"


def host_side(n: int) -> str:
    """The address of the host's end of host ``n``'s veth pair."""
    return f"10.231.{n}.1"


def remove_leftovers() -> None:
    """Kill the processes of, and delete, every ``nbh-`` namespace and link (an earlier run's)."""
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(PREFIX):
            for pid in ip("netns", "pids", name, check=False).split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            ip("netns", "del", name, check=False)
    for line in ip("-o", "link", "show").splitlines():
        parts = line.split(": ")
        if len(parts) > 1 and parts[1].split("@")[0].startswith(PREFIX):
            ip("link", "del", parts[1].split("@")[0], check=False)
    _drop_schemas(only=None)
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        shutil.rmtree(folder, ignore_errors=True)


def _drop_schemas(only: str | None) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            names = [only] if only else list(conn.scalars(text(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": SCHEMA_PREFIX + "%"}))
            for name in names:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


def make_topology() -> None:
    """The namespaces, each joined to the host by a veth pair on its own /30."""
    for n in range(1, HOSTS + 1):
        ns, outer, inner = ns_name(n), f"{PREFIX}h{n}", f"{PREFIX}n{n}"
        ip("netns", "add", ns)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", ns)
        ip("addr", "add", f"{host_side(n)}/30", "dev", outer)
        ip("link", "set", outer, "up")
        ip("-n", ns, "addr", "add", f"10.231.{n}.2/30", "dev", inner)
        ip("-n", ns, "link", "set", inner, "up")
        ip("-n", ns, "link", "set", "lo", "up")


@dataclass
class Procs:
    """Every process this benchmark started, stopped by pid (TERM, then KILL) in reverse order."""

    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    files: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None,
              stdout: int | None = None) -> subprocess.Popen[bytes]:
        """Start ``cmd`` (dying with this process), logging to ``<logs>/<name>.log``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.files.append(log)
        proc = subprocess.Popen(cmd, env=env, stdout=stdout if stdout is not None else log, stderr=log,
                                preexec_fn=preexec(signal.SIGKILL))
        self.started.append((name, proc))
        return proc

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM each process (newest first), SIGKILL what is left after ``grace``."""
        for _, proc in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, proc in reversed(self.started):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.started.clear()
        for log in self.files:
            log.close()
        self.files.clear()


def ready(proc: subprocess.Popen[bytes], marker: str, timeout: float = 60.0) -> str:
    """The first stdout line of ``proc`` that starts with ``marker``; RuntimeError otherwise."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if line.startswith(marker):
            return line[len(marker):].strip()
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(f"{proc.args} did not print {marker!r} (exit {proc.poll()})")


def _drain(proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    """Copy the rest of ``proc``'s stdout to its log (a full pipe would stop it)."""
    assert proc.stdout is not None
    with contextlib.suppress(ValueError, OSError):
        for line in proc.stdout:
            log.write(line)


def proxy_stats(proc: subprocess.Popen[bytes]) -> dict[str, dict[str, int]]:
    """The ``STATS`` a stopped proxy printed."""
    assert proc.stdout is not None
    proc.wait(30)
    for line in proc.stdout.read().decode().splitlines():
        if line.startswith("STATS "):
            parsed: dict[str, dict[str, int]] = json.loads(line[6:])
            return parsed
    return {}


def redis_rtt_ms(n: int, samples: int = 50) -> float:
    """Median PING round trip through host ``n``'s proxy, in ms."""
    import redis

    client = redis.Redis(host=host_side(n), port=REDIS_PORT, db=REDIS_DB)
    client.ping()
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        client.ping()
        times.append(time.perf_counter() - began)
    client.close()
    return sorted(times)[len(times) // 2] * 1000


def url_for_host(n: int | None, schema: str) -> tuple[str, str]:
    """(database URL, Redis URL) as host ``n`` sees them (None: this host, loopback)."""
    from sqlalchemy.engine import make_url

    pg = make_url(PG_URL)
    host = host_side(n) if n else "127.0.0.1"
    pg = pg.set(host=host, port=PG_PORT, query={**pg.query, "options": f"-csearch_path={schema}"})
    return pg.render_as_string(hide_password=False), f"redis://{host}:{REDIS_PORT}/{REDIS_DB}"


def base_env(home: Path, db_url: str, redis_url: str, api_base: str, rate: float,
             guard: float | None = None) -> dict[str, str]:
    """The environment of one host's nanobatch processes (``home`` made private)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    env.update({"NANOBATCH_HOME": str(home), "NANOBATCH_DATABASE_URL": db_url, "NANOBATCH_REDIS_URL": redis_url,
                "RUNCOMFY_API_BASE": api_base, "RUNCOMFY_API_TOKEN": "bench",
                "NANOBATCH_REQUESTS_PER_SECOND": str(rate), "NANOBATCH_MAX_IN_FLIGHT": "200"})
    if guard is not None:
        env["NANOBATCH_RATE_GUARD_SECONDS"] = str(guard)
    return env


def submit(env: dict[str, str], manifest: Path) -> tuple[int, int]:
    """``nanobatch submit --json`` on the host; (batch id, jobs)."""
    done = subprocess.run([NANOBATCH, "submit", "--json", str(manifest)], env=env, capture_output=True,
                          text=True, check=False, timeout=300)
    if done.returncode:
        raise RuntimeError(f"nanobatch submit failed ({done.returncode}): {done.stderr[-2000:]}")
    doc = json.loads(done.stdout)
    return int(doc["batch_id"]), int(doc["jobs"])


def wait_done(db_url: str, batch_id: int, jobs: int, timeout: float, logs: Path) -> float:
    """Seconds until every job of the batch is terminal (polled every 0.2 s)."""
    began = time.monotonic()
    while terminal(db_url, batch_id) < jobs:
        if time.monotonic() - began > timeout:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs.glob("*.log"))
            raise RuntimeError(f"batch {batch_id} not done after {timeout} s: {states(db_url, batch_id)}\n{tails}")
        time.sleep(0.2)
    return time.monotonic() - began


class Grants(threading.Thread):
    """The limiter's grant log of all API calls (a sorted set that keeps 1 s), read every 0.25 s and
    kept whole: when the limiter let each call go, in Redis's clock (this host's)."""

    def __init__(self, redis_url: str) -> None:
        super().__init__(daemon=True)
        import redis

        from batch.embedded.redis import LOG_KEYS

        self.client, self.key = redis.Redis.from_url(redis_url), LOG_KEYS["api"]
        self.seen: dict[bytes, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        """Read the log until ``done``."""
        while not self.done.wait(0.25):
            with contextlib.suppress(Exception):
                self.seen.update(self.client.zrange(self.key, 0, -1, withscores=True))

    def stop(self) -> list[float]:
        """The grant times."""
        self.done.set()
        self.join(5)
        return list(self.seen.values())


@dataclass
class Run:
    """One run's processes (infrastructure and workers apart: the workers stop first)."""

    infra: Procs
    workers: Procs

    def stop(self) -> None:
        """Workers first (their warm shutdown still reaches the database), then the rest."""
        self.workers.stop()
        self.infra.stop()


RUNS: list[Run] = []


def start_infra(run: Run, delay: float, folder: Path, args: argparse.Namespace) -> tuple[str, list[Any]]:
    """The simulator, the host-side proxies and the forwarders in the namespaces; (API base, proxies)."""
    sim = run.infra.start("simulator", [sys.executable, "-m", "batch.simulator", "--port", "0", "--latency",
                                        args.latency, "--workers", "1000", "--seed", "23",
                                        "--journal", str(folder / "journal.jsonl")], stdout=subprocess.PIPE)
    base = ready(sim, "nanobatch simulator listening on ")
    threading.Thread(target=_drain, args=(sim, run.infra.files[-1]), daemon=True).start()
    port = int(base.rsplit(":", 1)[1])
    proxies = []
    for n in range(1, HOSTS + 1):
        side = host_side(n)
        maps = [f"{side}:{p}=127.0.0.1:{p}" for p in (PG_PORT, REDIS_PORT, port)]
        cmd = [sys.executable, str(HERE / "delay_proxy.py"), "--delay", str(delay)]
        proxy = run.infra.start(f"proxy{n}", cmd + [a for m in maps for a in ("--map", m)], stdout=subprocess.PIPE)
        ready(proxy, "READY")
        proxies.append(proxy)
        forward = ["ip", "netns", "exec", ns_name(n), sys.executable, str(HERE / "delay_proxy.py"), "--delay", "0",
                   "--map", f"127.0.0.1:{port}={side}:{port}"]
        ready(run.infra.start(f"forward{n}", forward, stdout=subprocess.PIPE), "READY")
    return base, proxies


def one_run(label: str, delay: float, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The batch with the proxies holding chunks ``delay`` s each way; its figures."""
    import redis

    schema = SCHEMA_PREFIX + label
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    redis.Redis.from_url(f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}").flushdb()
    run = Run(Procs(folder / "logs"), Procs(folder / "logs"))
    RUNS.append(run)
    try:
        base, proxies = start_infra(run, delay, folder, args)
        rtt = [round(redis_rtt_ms(n), 1) for n in range(1, HOSTS + 1)]
        local_db, local_redis = url_for_host(None, schema)
        host_env = base_env(folder / "home0", local_db, local_redis, base, args.rate, args.guard)
        warm_id, warm_jobs = submit(host_env, write_manifest(folder / "warm", base, 3, name=f"warm-{label}", styles=3))
        for n in range(1, HOSTS + 1):
            db_url, redis_url = url_for_host(n, schema)
            env = base_env(folder / f"home{n}", db_url, redis_url, base, args.rate, args.guard)
            cmd = ["ip", "netns", "exec", ns_name(n), NANOBATCH, "worker", "--concurrency", str(args.concurrency),
                   "--beat" if n == 1 else "--no-beat", "--hostname", f"host{n}@%h"]
            run.workers.start(f"worker{n}", cmd, env=env)
        wait_done(local_db, warm_id, warm_jobs, 120, run.infra.logs)
        manifest = write_manifest(folder / "main", base, args.jobs, name=f"hosts-{label}")
        grants = Grants(local_redis)
        grants.start()
        started_at, began = time.time(), time.monotonic()
        batch_id, jobs = submit(host_env, manifest)
        wait_done(local_db, batch_id, jobs, args.deadline, run.infra.logs)
        wall = time.monotonic() - began
        granted = grants.stop()
        final = states(local_db, batch_id)
        run.stop()
        entries = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines() if line.strip()]
        counts = [proxy_stats(p) for p in proxies]
    finally:
        run.stop()
        from batch.store import db

        db.dispose_engines()
        _drop_schemas(only=schema)
        redis.Redis.from_url(f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}").flushdb()
    result = figures(label, wall, jobs + warm_jobs, entries, started_at, counts)
    result.update({"order": len(RUNS), "load": round(os.getloadavg()[0], 1), "delay_ms_each_way": delay * 1000,
                   "redis_ping_ms": rtt, "states": final,
                   "grants": len(granted), "max_grants_in_1s": max_in_window(granted)[0] if granted else 0})
    return result


def figures(label: str, wall: float, all_jobs: int, entries: list[dict[str, Any]], started_at: float,
            counts: list[dict[str, dict[str, int]]]) -> dict[str, Any]:
    """A run's figures from its journal and the proxies' counts."""
    times = sorted(e["t"] for e in entries if e["t"] >= started_at)
    worst, at = max_in_window(times)
    bunched = sum(1 for a, b in itertools.pairwise(times) if b - a < 0.002)
    bodies = collections.Counter(e.get("body_sha256") for e in entries
                                 if e["path"].endswith("/edit") and e["status"] == 200)
    by_kind = collections.Counter("submit" if e["path"].endswith("/edit") else e["path"].rsplit("/", 1)[-1]
                                  for e in entries)
    turns = {"postgres": 0, "redis": 0, "api": 0}
    for proxy in counts:
        for listen, c in proxy.items():
            port = int(listen.rsplit(":", 1)[1])
            turns["postgres" if port == PG_PORT else "redis" if port == REDIS_PORT else "api"] += c["turns"]
    return {
        "label": label, "wall_s": round(wall, 1), "api_calls": len(entries), "calls_by_kind": dict(by_kind),
        "max_calls_in_1s": worst, "max_window_at_s": round(at - started_at, 1),
        "within_2ms_of_previous": round(bunched / max(1, len(times)), 3),
        "http_429": sum(1 for e in entries if e["status"] == 429),
        "duplicate_submits": sum(n - 1 for n in bodies.values()),
        "round_trips_per_job": {k: round(v / all_jobs, 1) for k, v in turns.items()},
    }


def main() -> None:
    """Parse the options, build the namespaces, run without then with latency, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0, help="NANOBATCH_REQUESTS_PER_SECOND")
    parser.add_argument("--guard", type=float, help="NANOBATCH_RATE_GUARD_SECONDS (default: the product's)")
    parser.add_argument("--latency", default="2-4", help="simulator --latency (seconds)")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="added each way (round trip: twice)")
    parser.add_argument("--deadline", type=float, default=1800.0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="pairs of runs, the order alternating (near far, far near, ...): a shared machine's "
                             "load moves between runs; the wall times compared are the medians")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (journals, logs)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print(SKIP)
        return
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    remove_leftovers()
    results = []
    try:
        make_topology()
        with contextlib.ExitStack() as stack:
            work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=TEMP_PREFIX)))
            pair = [("near", 0.0), ("far", args.delay_ms / 1000)]
            for n in range(max(1, args.rounds)):
                for label, delay in reversed(pair) if n % 2 else pair:
                    results.append(one_run(label, delay, work / f"{label}{n}", args))
                    print(json.dumps(results[-1]), flush=True)
    except Stopped as stop:
        print(f"bench_hosts: stopped by {stop}; cleaning up", file=sys.stderr)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a second signal: let the cleanup end
            signal.signal(sig, signal.SIG_IGN)
        for run in RUNS:
            run.stop()
        remove_leftovers()
    if results and len(results) == 2 * max(1, args.rounds):
        report([r for r in results if r["label"] == "near"], [r for r in results if r["label"] == "far"], args)


def report(near: list[dict[str, Any]], far: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The verdicts, over every run of each kind."""
    walls = {label: statistics.median(r["wall_s"] for r in runs) for label, runs in (("near", near), ("far", far))}
    ratio = walls["far"] / walls["near"]
    worst = max(r["max_calls_in_1s"] for r in near + far)
    dups = sum(r["duplicate_submits"] for r in near + far)
    print(f"{args.jobs} jobs, {args.latency} s upstream, {args.rate:g}/s, {HOSTS} workers x {args.concurrency} "
          f"threads in their own namespaces; {len(near)} run(s) of each, in the order run")
    for r in sorted(near + far, key=lambda r: r["order"]):
        print(f"  {r['label']}: +{r['delay_ms_each_way']:g} ms each way (Redis PING {r['redis_ping_ms']} ms): "
              f"{r['wall_s']} s, {r['api_calls']} API calls {r['calls_by_kind']}, states {r['states']}; "
              f"round trips per job {r['round_trips_per_job']}; load average {r['load']}")
    print(f"wall time far/near: {walls['far']:g} / {walls['near']:g} s = {ratio:.3f}x (goal <= 1.10)  "
          f"[{verdict(ratio <= 1.10)}]")
    print(f"busiest 1-s window: {worst} API calls (goal <= {args.rate:g}); 429s: "
          f"{sum(r['http_429'] for r in near + far)}  [{verdict(worst <= args.rate)}]")
    print(f"  the limiter's own grants (Redis clock), busiest 1-s window: "
          f"{max(r['max_grants_in_1s'] for r in near + far)}; calls reaching the API within 2 ms of the one "
          f"before: {', '.join(format(r['within_2ms_of_previous'], '.0%') for r in near + far)}")
    print(f"duplicate submits: {dups} (goal 0)  [{verdict(dups == 0)}]")


if __name__ == "__main__":
    main()
