"""JSON log lines: the four keys, a traceback kept in the message, the token never written."""

from __future__ import annotations

import json
import logging

from batch.logjson import JsonLines

TOKEN = "sk-live-abcdef"


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise RuntimeError(f"refused with {TOKEN}")
        except RuntimeError:
            import sys

            info = sys.exc_info()
    return logging.LogRecord("nanobatch.api", logging.WARNING, __file__, 1, message, args, info)


def test_one_object_a_line_with_the_token_hidden() -> None:
    line = JsonLines([TOKEN]).format(_record("sent %s with Bearer %s", "submit", TOKEN))
    assert "\n" not in line
    doc = json.loads(line)
    assert doc == {"time": doc["time"], "level": "WARNING", "logger": "nanobatch.api",
                   "message": "sent submit with Bearer ***"}
    assert doc["time"].endswith("Z") and len(doc["time"]) == len("2026-01-01T00:00:00.000Z")


def test_a_traceback_stays_in_the_message_without_the_token() -> None:
    line = JsonLines([TOKEN]).format(_record("failed", exc=True))
    message = json.loads(line)["message"]
    assert message.startswith("failed\nTraceback") and "RuntimeError: refused with ***" in message
    assert TOKEN not in line
