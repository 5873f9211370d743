"""Notifications: a webhook POST and/or a shell command at a batch's end, and on trouble if asked.

The manifest's ``notify:`` block (kept raw in ``batches.options["notify"]``)::

    notify:
      webhook: https://hooks.example.com/nanobatch   # POSTed the summary as JSON
      command: "mail -s 'batch done' ops@example.com" # run by /bin/sh, summary JSON on stdin
      on: [finished, budget, paused]                  # the events (``core.notice``), default [finished]
      format: slack                                   # the webhook gets {"text": ...} (default json)

The summary: ``batch_id``, ``name``, ``counts`` (by state), ``total``, ``cost_usd``,
``failures`` (the first 50 failed jobs as ``{id, error}``, ``id`` being the manifest's job
id), ``report_path`` (``options["report_path"]`` if a report was written, else null) and
``finished_at`` (ISO 8601 UTC of the last job's end), ``event`` and ``reason`` (why it was
parked, for ``budget`` and ``paused``). The command also gets ``NANOBATCH_BATCH_ID`` in its
environment.

Trouble is found by the same pass: a batch parked now (``options["parked_at"]``, by the breaker's
pause or by the budget) whose occurrence has no rows yet gets one row per channel, named
``<channel>:<event>:<n>`` with ``created_at`` the time it was parked, so each occurrence is
announced once (two passes that race add the same names: one insert wins). ``announce`` records an
event that another part reports itself (``pilot``).

``notify_finished`` is one pass (the periodic task ``workers.tasks.notify_finished`` runs it):
finished batches get one ``notifications`` row per channel (UNIQUE(batch, channel): two passes
cannot both add it); due rows are claimed by a conditional UPDATE that pushes
``next_attempt_at`` a lease ahead, so one sender at a time; the outcome is written after the
call. A failure (connection error, timeout, non-2xx answer, non-zero exit) is retried with
exponential backoff up to ``max_attempts``, then the row is ``failed``. The batch and its jobs
are never touched. Delivery is at least once: a process that dies between the call and the
write sends again after the lease, which is the price of never losing a notification.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from batch.core import notice, retry
from batch.core.cost import usd_number
from batch.core.retry import Decision, GiveUp, Retry
from batch.engine.gate import decide_gates
from batch.errors import NotifyError
from batch.store import jobs as store
from batch.store import notifications as notes
from batch.store import pilot, queries
from batch.store.db import transaction
from batch.store.models import Batch, Notification

log = logging.getLogger(__name__)
CHANNELS = notice.CHANNELS
MAX_FAILURES_LISTED = 50
ERROR_TAIL = 500
SECRET_PREFIX = "RUNCOMFY_"  # RUNCOMFY_API_TOKEN, RUNCOMFY_API_TOKEN_FILE...


Sender = Callable[[str, dict[str, Any], dict[str, Any]], None]  # (channel, notify block, summary)


@dataclass(frozen=True)
class Policy:
    """How notifications are sent and retried."""

    max_attempts: int = 8
    backoff_base: float = 30.0
    backoff_cap: float = 3600.0
    lease_seconds: float = 300.0
    webhook_timeout: float = 10.0
    command_timeout: float = 120.0

    def decide(self, attempts: int, error: str) -> Decision:
        """After the ``attempts``-th failure: wait base, 2x base, 4x base ... capped, or give up.

        No jitter (a ``rand`` of 1.0): a batch has one row per channel, there is no crowd to spread.
        """
        return retry.decide(attempts, self.max_attempts, _no_jitter, error=error, base=self.backoff_base,
                            cap=self.backoff_cap)


def _no_jitter() -> float:
    """The ``rand`` for ``retry.decide`` that keeps the whole backoff step."""
    return 1.0


def notify_finished(sessions: sessionmaker[Session], now: float, *, policy: Policy | None = None,
                    send: Sender | None = None) -> int:
    """One pass: record newly finished batches, then deliver every due notification; returns how many went out."""
    policy = policy or Policy()
    sender = send or (lambda channel, block, summary: deliver(channel, block, summary, policy))
    enqueue_finished(sessions, now)
    enqueue_trouble(sessions)
    for batch_id in decide_gates(sessions, now):  # a gate decided, or a pilot ready to look at
        _announce_pilot(sessions, batch_id)
    sent = 0
    for note_id in _due(sessions, now):
        if _claim(sessions, note_id, now, policy):
            sent += _attempt(sessions, note_id, now, policy, sender)
    return sent


def enqueue_finished(sessions: sessionmaker[Session], now: float) -> list[int]:
    """Add the notification rows of batches that asked for them and have just finished; their ids."""
    with sessions() as session:
        finished = notes.finished_unnotified(session)
    for batch_id, options in finished:
        with sessions() as session:
            failed = store.counts_by_state(session, batch_id).get("failed", 0)
        if notice.end_event(options.get("notify"), failed) is None:
            _skip_end(sessions, batch_id, now)
        else:
            _add_rows(sessions, batch_id, options.get("notify"), now)
    return [batch_id for batch_id, _ in finished]


def _skip_end(sessions: sessionmaker[Session], batch_id: int, now: float) -> None:
    """Record an end that ``notify: on:`` does not ask for, so that no later pass looks at it again."""
    row = {"batch_id": batch_id, "channel": "none", "state": "skipped", "attempts": 0, "next_attempt_at": now,
           "created_at": now, "last_error": "not asked for (notify: on:)"}
    try:
        with transaction(sessions) as session:
            notes.add(session, [row])
    except IntegrityError:
        log.debug("batch %s: its end recorded by another pass", batch_id)


def enqueue_trouble(sessions: sessionmaker[Session]) -> None:
    """Add the rows of each batch parked now (``budget``, or ``paused`` by the breaker) that asked for
    that event and whose occurrence (the time it was parked) has none yet."""
    with sessions() as session:
        parked = notes.parked_with_notify(session)
    for batch_id, options in parked:
        announce(sessions, batch_id, "paused" if options.get("paused") else "budget", float(options["parked_at"]),
                 options.get("notify"))


def _announce_pilot(sessions: sessionmaker[Session], batch_id: int) -> None:
    """Tell the batch's channels that its pilot has ended (whatever ``on`` lists), once: a batch has one
    pilot, so its occurrence is dated by the batch itself and every later pass finds it recorded."""
    with sessions() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            return
        created, block = batch.created_at, batch.options.get("notify")
    announce(sessions, batch_id, "pilot", created, block, always=True)


def announce(sessions: sessionmaker[Session], batch_id: int, event: str, occurred_at: float,
             block: Any = None, *, always: bool = False) -> bool:
    """Record one occurrence of ``event`` (at ``occurred_at``) on the batch, once: False when it was
    recorded already, is not asked for (``notify: on:``, unless ``always``: a pilot's gate tells its
    channels whatever ``on`` lists) or has no channel. The next pass sends it."""
    if block is None:
        with sessions() as session:
            batch = session.get(Batch, batch_id)
            block = batch.options.get("notify") if batch is not None else None
    if not isinstance(block, dict) or not (always or event in notice.wanted(block)):
        return False
    with sessions() as session:
        seen = notes.occurrences(session, batch_id, event)
    if occurred_at in seen:
        return False
    return _add_rows(sessions, batch_id, block, occurred_at, event=event, occurrence=len(seen) + 1, needed=False)


def _add_rows(sessions: sessionmaker[Session], batch_id: int, block: Any, now: float, *, event: str | None = None,
              occurrence: int = 0, needed: bool = True) -> bool:
    """One pending row per channel of ``block`` (for the end, or for an ``event``'s occurrence); True if added.

    An end without channels is recorded as failed (said once); ``needed=False`` adds nothing then.
    """
    channels = [c for c in CHANNELS if isinstance(block, dict) and block.get(c)]
    base = {"batch_id": batch_id, "attempts": 0, "next_attempt_at": now, "created_at": now}
    rows = [{**base, "channel": notice.row_channel(c, event, occurrence), "state": "pending"} for c in channels]
    if not rows and not needed:
        return False
    if not rows:
        rows = [{**base, "channel": "none", "state": "failed",
                 "last_error": "notify: needs webhook: (a URL) and/or command: (a shell command)"}]
    try:
        with transaction(sessions) as session:
            notes.add(session, rows)
    except IntegrityError:
        log.debug("batch %s: notification rows added by another pass", batch_id)
        return False
    return True


def _due(sessions: sessionmaker[Session], now: float) -> list[int]:
    with sessions() as session:
        return notes.due(session, now)


def _claim(sessions: sessionmaker[Session], note_id: int, now: float, policy: Policy) -> bool:
    """Take the row for one attempt by pushing its due time a lease ahead (one sender at a time)."""
    with transaction(sessions) as session:
        return notes.claim(session, note_id, now, policy.lease_seconds)


def _attempt(sessions: sessionmaker[Session], note_id: int, now: float, policy: Policy, sender: Sender) -> int:
    with sessions() as session:
        found = notes.with_batch(session, note_id)
        if found is None:
            return 0
        note, batch = found
        channel, event = notice.parse_channel(note.channel)
        summary = summarize(session, batch, event)
        if event == "pilot":
            trial = pilot.progress(session, batch)
            summary["pilot"] = summary["reason"] = None if trial is None else trial.text()
    try:
        sender(channel, dict(batch.options.get("notify") or {}), summary)
    except NotifyError as exc:
        _failed(sessions, note, now, policy, str(exc))
        return 0
    with transaction(sessions) as session:
        notes.record(session, note_id, state="sent", sent_at=now, attempts=note.attempts + 1, last_error=None)
    log.info("batch %s: %s notification sent", note.batch_id, note.channel)
    return 1


def _failed(sessions: sessionmaker[Session], note: Notification, now: float, policy: Policy, error: str) -> None:
    attempts = note.attempts + 1
    decision = policy.decide(attempts, error)
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:ERROR_TAIL]}
    values.update({"next_attempt_at": now + decision.delay} if isinstance(decision, Retry) else {"state": "failed"})
    with transaction(sessions) as session:
        notes.record(session, note.id, **values)
    if isinstance(decision, GiveUp):
        log.error("batch %s: %s notification failed: %s", note.batch_id, note.channel, decision.message)
    else:
        log.warning("batch %s: %s notification failed (attempt %d, retrying): %s", note.batch_id, note.channel,
                    attempts, error)


def summarize(session: Session, batch: Batch, event: str | None = None) -> dict[str, Any]:
    """The JSON summary of ``batch`` for ``event`` (None: its end, ``failed`` when a job failed, else ``finished``)."""
    counts = store.counts_by_state(session, batch.id)
    cost, finished = queries.cost_and_end(session, batch.id)
    failures = queries.failures(session, batch.id, MAX_FAILURES_LISTED)
    ended = batch.finished_at or finished
    return {
        "batch_id": batch.id,
        "name": batch.name,
        "counts": counts,
        "total": sum(counts.values()),
        "cost_usd": usd_number(cost),
        "failures": [{"id": key, "error": error} for key, error in failures],
        "report_path": batch.options.get("report_path"),
        "finished_at": None if ended is None else datetime.fromtimestamp(ended, UTC).isoformat(timespec="seconds"),
        "event": event or ("failed" if counts.get("failed") else "finished"),
        "reason": batch.options.get("parked") if event in ("budget", "paused") else None,
    }


def deliver(channel: str, block: dict[str, Any], summary: dict[str, Any], policy: Policy) -> None:
    """Send ``summary`` on ``channel`` as the notify block says; NotifyError when it did not go through."""
    if channel == "webhook":
        post_webhook(str(block["webhook"]), notice.payload(block, summary), policy.webhook_timeout)
    elif channel == "command":
        run_command(str(block["command"]), summary, policy.command_timeout)
    else:
        raise NotifyError(f"unknown notification channel {channel!r}")


def post_webhook(url: str, summary: dict[str, Any], timeout: float) -> None:
    """POST the summary as JSON; any 2xx answer counts. Errors never repeat the URL (it may hold a secret)."""
    try:
        response = requests.post(url, json=summary, timeout=timeout, headers={"User-Agent": "nanobatch"})
    except requests.Timeout:
        raise NotifyError(f"webhook: no answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise NotifyError(f"webhook: {type(exc).__name__} (could not deliver)") from None
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"webhook: answered HTTP {response.status_code}")


def command_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables a notify command must not see: ``RUNCOMFY_*`` (the API token)."""
    return {name: value for name, value in environ.items() if not name.upper().startswith(SECRET_PREFIX)}


def run_command(command: str, summary: dict[str, Any], timeout: float) -> None:
    """Run ``command`` with /bin/sh, the summary JSON on stdin and NANOBATCH_BATCH_ID set; exit 0 counts.

    Its environment is the worker's without the ``RUNCOMFY_*`` variables (the API token).
    """
    env = {**command_environment(os.environ), "NANOBATCH_BATCH_ID": str(summary["batch_id"])}
    try:
        done = subprocess.run(command, shell=True, input=json.dumps(summary).encode(), env=env,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise NotifyError(f"command: still running after {timeout:g} s (killed)") from None
    except OSError as exc:
        raise NotifyError(f"command: cannot run: {exc.strerror}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-ERROR_TAIL:]
        raise NotifyError(f"command: exit status {done.returncode}" + (f": {tail}" if tail else ""))
