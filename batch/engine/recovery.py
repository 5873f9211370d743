"""A broker that lost its messages, noticed by the tick, and the leases of those messages handed back.

The database is the queue, but a leased job comes back only with its task message or once its lease
runs out. When the broker loses its messages (the embedded server killed and restarted, a system
Redis restarted or flushed; the messages a worker held are dropped with its connection), every job
whose message was lost would wait out its lease: a minute of nothing. So each tick first asks the
broker which server run it is (``INFO server``: a new ``run_id`` at every start) and compares it
with the one its scope last saw, kept in the broker itself (``redis.broker_seen_key``): a different
run, or the key gone with the data, means messages may be lost. The tick then hands back every
lease of its scope that no worker has started (``store.jobs.hand_back_unstarted``) before claiming,
so those jobs go out again in the same tick. A started lease is never handed back: its step may be
running in a worker that outlived the broker; a message that does arrive after its lease was handed
back finds its token gone (``store.jobs.start``) and runs nothing.

The tick's own lock is named after the server run too (``workers.tasks.tick``): a lock held at the
kill comes back from the append-only file with its minute to live, and would stop every tick.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import redis

from batch.embedded.redis import broker_seen_key
from batch.engine.runtime import Runtime
from batch.store import jobs as store
from batch.store import scope
from batch.store.db import transaction

log = logging.getLogger(__name__)
# the seen run is forgotten after a day (one key per scope, and a run's scope is its batches): a
# scope's tick then hands back its unstarted leases once, which costs their messages a re-send only
SEEN_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ServerRun:
    """The broker's server run (``INFO server``'s ``run_id``), and whether the scope's tick sees it first."""

    run_id: str
    new: bool


def server_run(client: redis.Redis, batches: Collection[int] | None) -> ServerRun:
    """The broker's run, new when the tick of the workers serving ``batches`` (None: all) has not seen it
    (the server restarted, or its data is gone). One round trip."""
    with client.pipeline(transaction=False) as pipe:
        pipe.info("server")
        pipe.get(broker_seen_key(scope.scope_name(batches)))
        info, seen = pipe.execute()
    run_id = str(info["run_id"])
    return ServerRun(run_id, seen is None or seen.decode() != run_id)


def recover(rt: Runtime, client: redis.Redis, batches: Collection[int] | None, run: ServerRun) -> int:
    """Hand back the unstarted leases of ``batches`` (None: all) if ``run`` is new to them: the broker
    lost its messages since the last look; how many. The run is marked seen once they are handed back."""
    if not run.new:
        return 0
    with transaction(rt.sessions) as session:
        handed = store.hand_back_unstarted(session, now=rt.clock(), where=scope.within(batches))
    client.set(broker_seen_key(scope.scope_name(batches)), run.run_id, ex=SEEN_SECONDS)
    if handed:
        log.warning("the broker restarted or lost its data: %d leased job(s) whose task messages were lost "
                    "handed back at once", handed)
    return handed
