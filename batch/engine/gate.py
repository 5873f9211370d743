"""The pilot's gate: an ended pilot decides on its own (``gate: {max_failed: 10%}``) or asks a person.

One pass (run with the batch-end notifications, ``engine.notify.notify_finished``): each batch whose
pilot has ended and is undecided is either approved (the rest released) or stopped with the reason
(it waits for a person), by the gate's share of failures; a ``gate: review`` pilot stays as it is.
Either way the manifest's ``notify:`` channels hear of it once (one row per channel, ``webhook:pilot:1``, sent once).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from batch.core.pilot import Gate
from batch.store import pilot as store
from batch.store.db import transaction

log = logging.getLogger(__name__)
WHO = "gate"


def decide_gates(sessions: sessionmaker[Session], now: float) -> list[int]:
    """Decide every ended, undecided pilot with an automatic gate; the batches whose pilot has ended and
    whose notify: channels should hear of it (their rows are added by the caller, once per channel)."""
    ended: list[int] = []
    with sessions() as session:
        candidates = store.undecided_batches(session)
    for batch_id in candidates:
        with transaction(sessions) as session:
            batch = store.locked(session, batch_id)
            found = store.progress(session, batch) if batch is not None else None
            if batch is None or found is None or not found.finished or found.decision:
                continue
            ended.append(batch_id)
            if not found.automatic:
                continue
            reason = Gate(store.options(batch)["max_failed"]).verdict(found.jobs, found.failed)  # type: ignore[index]
            store.decide(session, batch_id, store.STOPPED if reason else store.APPROVED, by=WHO, now=now,
                         reason=reason)
        log.warning("batch %s: pilot %s", batch_id, reason or "passed its gate: the rest runs")
    return ended
