"""One upstream job and its life: in_queue -> in_progress -> succeeded | failed, or cancelled."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batch.core.schema import FILE_EXTENSIONS

IN_QUEUE = "in_queue"
IN_PROGRESS = "in_progress"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
STATES: tuple[str, ...] = (IN_QUEUE, IN_PROGRESS, SUCCEEDED, FAILED, CANCELLED)
ACTIVE_STATES = frozenset({IN_QUEUE, IN_PROGRESS})

# /status has a coarser vocabulary: success and failure both read "completed".
STATUS_WORDS: dict[str, str] = {
    IN_QUEUE: "in_queue",
    IN_PROGRESS: "in_progress",
    SUCCEEDED: "completed",
    FAILED: "completed",
    CANCELLED: "cancelled",
}


def iso_time(t: float | None) -> str | None:
    """Unix time ``t`` as an ISO 8601 UTC string (None stays None)."""
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Job:
    """An accepted submit: its owner, inputs (defaults filled in) and where it is in its life."""

    request_id: str
    token: str
    inputs: dict[str, Any]
    body_sha256: str
    seq: int
    run_time: float
    doomed: bool
    state: str = IN_QUEUE
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    cost: float = 0.0

    @property
    def status_word(self) -> str:
        """The state as ``/status`` reports it."""
        return STATUS_WORDS[self.state]

    @property
    def output_name(self) -> str:
        """File name of the (single) output, e.g. ``0.png``."""
        return f"0.{FILE_EXTENSIONS[self.inputs['output_format']]}"

    def summary(self) -> dict[str, Any]:
        """The job as ``/_sim/jobs`` lists it (unix times)."""
        return {
            "request_id": self.request_id,
            "state": self.state,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "body_sha256": self.body_sha256,
            "error": self.error,
            "cost": self.cost,
        }
