"""One beat per broker among workers started at the same moment, and a takeover when its worker dies.

Three real worker processes on one embedded Redis, each keeping a beat (``worker --beat``, the
default); the tick interval is short so that "within two ticks" is a short wait.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis

from batch.cli.local import worker_command
from batch.engine import beat
from batch.testing.cluster import cluster_env, running_cluster, wait_until

TICK = 1.0
SLACK = 1.0  # seconds for processes to be scheduled on a busy machine, on top of the two ticks


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _holder_pid(client: redis.Redis) -> int | None:
    who = beat.holder(client)
    return int(who.rsplit(":", 1)[1]) if who else None


def _holds(logs: Path) -> int:
    """How many times a beat said it took the lease, in every worker's log."""
    return sum(p.read_text(errors="replace").count("holds the beat lease") for p in logs.glob("*.log"))


@pytest.mark.parametrize("beat_too", [False, True], ids=["worker-killed", "worker-and-beat-killed"])
def test_one_beat_among_three_workers_and_another_takes_over(tmp_path: Path, embedded_redis: str,
                                                             beat_too: bool) -> None:
    client = redis.Redis.from_url(embedded_redis)
    client.flushdb()
    env = cluster_env(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'nb.db'}", redis_url=embedded_redis,
                      api_base="http://127.0.0.1:9", NANOBATCH_TICK_SECONDS=str(TICK))
    logs = tmp_path / "logs"
    with running_cluster(env, logs) as cluster:
        for n in range(3):  # at the same moment
            cluster.start(f"w{n}", worker_command(concurrency=1, beat=True, name=f"lease{n}-{os.getpid()}@%h"))
        assert wait_until(lambda: _holder_pid(client) is not None, timeout=60), cluster.log_tail()
        time.sleep(3 * TICK)  # let every standby look at the lease a dozen times: still one beat
        first = _holder_pid(client)
        assert first is not None and _holds(logs) == 1, cluster.log_tail()
        name = next(n for n, p in cluster.procs.items() if p.pid == _parent(first))
        if beat_too:  # it cannot give the lease up: the standbys wait for it to lapse
            os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()
        cluster.kill(name)
        assert wait_until(lambda: _holder_pid(client) not in (None, first), timeout=2 * TICK + SLACK,
                          interval=0.05), cluster.log_tail()
        taken_after = time.monotonic() - killed_at
        assert _parent(_holder_pid(client) or 0) in {p.pid for p in cluster.procs.values()}
        assert _holds(logs) == 2, cluster.log_tail()
    assert taken_after <= 2 * TICK + SLACK
