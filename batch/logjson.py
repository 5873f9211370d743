"""Worker logs as JSON lines (``NANOBATCH_LOG_FORMAT=json``): one object a line, for log collectors.

Each line holds ``time`` (ISO-8601 UTC, milliseconds), ``level``, ``logger`` and ``message`` (with
the traceback, if any). The API token never appears: any occurrence is replaced by ``***``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from batch.errors import ConfigError

LOG_FORMAT_VAR = "NANOBATCH_LOG_FORMAT"
FORMATS = ("text", "json")
HIDDEN = "***"


def log_format(env: Mapping[str, str]) -> str:
    """``text`` (the default) or ``json``; ConfigError for anything else."""
    chosen = env.get(LOG_FORMAT_VAR, "").strip().lower() or "text"
    if chosen not in FORMATS:
        raise ConfigError(f"{LOG_FORMAT_VAR} must be one of {', '.join(FORMATS)}, got {chosen!r}")
    return chosen


def celery_options(env: Mapping[str, str]) -> list[str]:
    """Celery's global options for ``env``: no banner with JSON logs (Celery reads ``NO_COLOR`` itself)."""
    return ["--quiet"] if log_format(env) == "json" else []


class JsonLines(logging.Formatter):
    """A record as one JSON object, with every secret replaced by ``***``."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        """The record's JSON line."""
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        for secret in self.secrets:
            message = message.replace(secret, HIDDEN)
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json.dumps({"time": at, "level": record.levelname, "logger": record.name, "message": message})


def install(level: int | str, secrets: Sequence[str] = ()) -> None:
    """Send every log record to stderr as JSON lines (replacing the root logger's handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings too, as records of the "py.warnings" logger


def say(env: Mapping[str, str], logger: str, message: str, secrets: Sequence[str] = ()) -> None:
    """A line on stderr before the logging is set up: JSON with ``NANOBATCH_LOG_FORMAT=json``, else as written."""
    if log_format(env) == "json":
        record = logging.LogRecord(logger, logging.INFO, __file__, 0, message, None, None)
        print(JsonLines(secrets).format(record), file=sys.stderr, flush=True)
    else:
        print(message, file=sys.stderr, flush=True)
