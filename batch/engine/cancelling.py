"""What asking upstream to cancel a queued job did (``reading.cancel_upstream``), for true counts."""

from __future__ import annotations

import enum


class CancelOutcome(enum.Enum):
    """The outcome of one cancel; only ``CANCELLED`` is a cancel that took place.

    Its truth value is what a poll step needs: True when the step is over (the job was cancelled,
    or it waits for the limiter, its lease dropped), False when the job is still the poll's.
    """

    CANCELLED = "cancelled"  # upstream cancelled it, unbilled
    RUNNING = "running"      # upstream would not: it runs on, and is billed
    DEFERRED = "deferred"    # not sent: the limiter asked to wait
    FAILED = "failed"        # the call failed (rate limited, server error...): nothing known

    def __bool__(self) -> bool:
        return self in (CancelOutcome.CANCELLED, CancelOutcome.DEFERRED)
