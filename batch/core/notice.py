"""What a batch announces, and how it reads: the events of ``notify: {on: [...]}`` and the payloads.

Events: ``finished`` (the batch's jobs are all terminal), ``failed`` (they are, and some failed),
``budget`` (submits stopped by the budget), ``paused`` (the circuit breaker paused the batch),
``pilot`` (a pilot sample is done and waits for a person). The end of a batch is one event: it is
``failed`` when a job failed, else ``finished``; ``finished`` in ``on`` announces every end,
``failed`` only the ends with failures. Without ``on`` a batch announces its end only, as before.

Formats: ``json`` (the summary itself) or ``slack`` (``{"text": ...}``, which Slack's incoming
webhooks and the many services compatible with them accept).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EVENTS = ("finished", "failed", "budget", "paused", "pilot")
END_EVENTS = ("finished", "failed")
DEFAULT_EVENTS = ("finished",)
FORMATS = ("json", "slack")
CHANNELS = ("webhook", "command")
SLACK_FAILURES = 5

HEADLINES = {
    "finished": "finished",
    "failed": "finished with failed jobs",
    "budget": "stopped by its budget",
    "paused": "paused",
    "pilot": "pilot done, waiting for a decision",
}


def wanted(block: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The events a notify block asks for (``DEFAULT_EVENTS`` when it names none)."""
    chosen = (block or {}).get("on")
    return tuple(chosen) if isinstance(chosen, list) and chosen else DEFAULT_EVENTS


def end_event(block: Mapping[str, Any] | None, failed_jobs: int) -> str | None:
    """The event a finished batch announces (``failed`` when a job failed), or None if not asked for."""
    event = "failed" if failed_jobs else "finished"
    events = wanted(block)
    return event if "finished" in events or event in events else None


def row_channel(channel: str, event: str | None = None, occurrence: int = 0) -> str:
    """The ``notifications.channel`` of a row: ``webhook`` for the end, ``webhook:paused:2`` for the
    2nd pause (one row per channel per occurrence: the unique (batch, channel) pair sends each once)."""
    return channel if event is None else f"{channel}:{event}:{occurrence}"


def parse_channel(value: str) -> tuple[str, str | None]:
    """(channel, event) of a row's channel; the event is None for the end of the batch."""
    parts = value.split(":")
    return parts[0], parts[1] if len(parts) > 1 else None


def payload(block: Mapping[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """What the webhook receives: the summary, or ``{"text": ...}`` with ``format: slack``."""
    return {"text": slack_text(summary)} if block.get("format") == "slack" else summary


def slack_text(summary: Mapping[str, Any]) -> str:
    """One message a person reads: the batch, what happened, its counts and spend, why, first failures."""
    counts = ", ".join(f"{count} {state}" for state, count in sorted(summary["counts"].items()))
    cost = summary.get("cost_usd") or 0
    lines = [f"nanobatch: batch {summary['batch_id']} ({summary['name']}) "
             f"{HEADLINES.get(summary.get('event') or 'finished', summary.get('event'))}: "
             f"{counts or 'no jobs'}; ${cost:.2f} spent"]
    if summary.get("reason"):
        lines.append(f"reason: {summary['reason']}")
    failures = summary.get("failures") or []
    if failures:
        shown = "; ".join(f"{f['id']}: {f['error']}" for f in failures[:SLACK_FAILURES])
        rest = int(summary["counts"].get("failed", len(failures))) - min(len(failures), SLACK_FAILURES)
        more = f" (and {rest} more)" if rest > 0 else ""
        lines.append(f"failures: {shown}{more}")
    if summary.get("report_path"):
        lines.append(f"report: {summary['report_path']}")
    return "\n".join(lines)
