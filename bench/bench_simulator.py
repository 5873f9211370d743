"""Benchmark: how many GET /status calls per second the simulator answers (target: 1,000).

Starts ``python -m batch.simulator --latency 0 --journal <tmp>`` as a subprocess (journal on, so its
cost is included), submits some jobs, then hammers GET status from an aiohttp client with many
keep-alive connections for about 5 s. Prints each run, the median of 3 runs and the ratio to 1,000.

Usage: ``.venv/bin/python bench/bench_simulator.py [--seconds 5] [--runs 3] [--concurrency 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from batch.simulator import spawn_simulator
from batch.simulator.testing import SUBMIT_PATH

TARGET = 1000.0
TOKEN = "bench-token"
JOBS = 20


async def submit_jobs(session: aiohttp.ClientSession, base_url: str, count: int) -> list[str]:
    """Submit ``count`` jobs and wait until all have completed; their request ids."""
    body = {"prompt": "bench", "image_urls": [f"{base_url}/samples/mug.png"], "output_format": "jpeg"}
    ids = []
    for _ in range(count):
        async with session.post(base_url + SUBMIT_PATH, json=body) as response:
            response.raise_for_status()
            ids.append((await response.json())["request_id"])
    for request_id in ids:
        while True:
            async with session.get(f"{base_url}/v1/requests/{request_id}/status") as response:
                if (await response.json())["status"] == "completed":
                    break
            await asyncio.sleep(0.05)
    return ids


async def hammer(session: aiohttp.ClientSession, urls: list[str], deadline: float, offset: int) -> int:
    """GET status URLs round-robin until ``deadline``; how many answered 200."""
    done = 0
    i = offset
    while time.perf_counter() < deadline:
        async with session.get(urls[i % len(urls)]) as response:
            await response.read()
            if response.status == 200:
                done += 1
        i += 1
    return done


async def one_run(base_url: str, seconds: float, concurrency: int, ids: list[str]) -> float:
    """Requests per second over one run of ``seconds`` with ``concurrency`` workers."""
    urls = [f"{base_url}/v1/requests/{rid}/status" for rid in ids]
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        await hammer(session, urls, time.perf_counter() + 0.3, 0)  # warm up connections
        started = time.perf_counter()
        counts = await asyncio.gather(*(hammer(session, urls, started + seconds, k)
                                        for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return sum(counts) / elapsed


async def bench(base_url: str, seconds: float, runs: int, concurrency: int) -> list[float]:
    """Submit the jobs once, then measure ``runs`` times."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        ids = await submit_jobs(session, base_url, JOBS)
    return [await one_run(base_url, seconds, concurrency, ids) for _ in range(runs)]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "journal.jsonl"
        args = ["--latency", "0", "--workers", "4", "--journal", str(journal)]
        with spawn_simulator(args) as sim:
            rates = asyncio.run(bench(sim.base_url, options.seconds, options.runs, options.concurrency))
        lines = sum(1 for _ in journal.open())
    median = statistics.median(rates)
    print("bench_simulator: GET /v1/requests/{id}/status, --latency 0, journal on, "
          f"{options.concurrency} keep-alive connections, {options.seconds:g} s per run")
    print("runs: " + ", ".join(f"{r:,.0f} req/s" for r in rates) + f" (journal lines written: {lines:,})")
    print(f"median: {median:,.0f} requests/s; target {TARGET:,.0f}/s; ratio {median / TARGET:.2f}x")


if __name__ == "__main__":
    main()
