"""Accounting: counters for ``/_sim/stats`` and the buffered ``--journal`` of /v1 calls."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

DROP = "drop"


def body_sha256(body: Any) -> str:
    """SHA-256 of the canonical JSON of ``body`` (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class CallCounters:
    """Counts of /v1 calls by kind and outcome (a submit counts once its job is created)."""

    submits: int = 0
    duplicate_submits: int = 0
    submit_calls: int = 0
    status_calls: int = 0
    result_calls: int = 0
    cancel_calls: int = 0
    other_calls: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    drops: int = 0
    slow_answers: int = 0
    slow_downloads: int = 0

    def count_call(self, kind: str) -> None:
        """Count one /v1 call of ``kind`` (submit, status, result, cancel or other)."""
        name = f"{kind}_calls"
        if not hasattr(self, name):
            name = "other_calls"
        setattr(self, name, getattr(self, name) + 1)

    def count_answer(self, status: int | str) -> None:
        """Count the outcome of one /v1 call: an HTTP status or :data:`DROP`."""
        if status == DROP:
            self.drops += 1
        elif status == 401:
            self.unauthorized += 1
        elif status == 429:
            self.rate_limited += 1
        elif isinstance(status, int) and status >= 500:
            self.server_errors += 1

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


class Journal:
    """Appends one JSON line per /v1 call to a file; lines are buffered and flushed periodically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._buffer: list[str] = []
        self._file: TextIO | None = None

    def open(self) -> None:
        """Open the journal file for appending (no-op without a path)."""
        if self.path is not None and self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def record(self, entry: dict[str, Any]) -> None:
        """Queue one journal line (written at the next :meth:`flush`)."""
        if self.path is not None:
            self._buffer.append(json.dumps(entry, separators=(",", ":")))

    def flush(self) -> None:
        """Write the queued lines and flush the file."""
        if self._file is None or not self._buffer:
            return
        lines, self._buffer = self._buffer, []
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
