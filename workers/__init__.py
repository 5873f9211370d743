"""The Celery app: ``celery -A workers worker`` and ``nanobatch worker`` run the same thing.

Thin by design: the tasks in ``workers.tasks`` only call ``batch`` functions. The broker is
the configured Redis (``NANOBATCH_REDIS_URL``) or the embedded one, started on first use.
"""

from __future__ import annotations

from workers.app import app

__all__ = ["app"]
