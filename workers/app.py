"""Celery application and its configuration, derived from nanobatch's settings."""

from __future__ import annotations

from celery import Celery

from batch.config import load_settings
from batch.redis_server import ensure_redis
from batch.redis_urls import kombu_url


def broker_url() -> str:
    """The configured Redis, or the embedded one (started if needed)."""
    settings = load_settings()
    return settings.redis_url or ensure_redis(settings.home)[0]


def make_app() -> Celery:
    """Build the Celery app with the tick on the beat schedule."""
    settings = load_settings()
    url = kombu_url(broker_url())
    celery = Celery("nanobatch", broker=url, include=["workers.tasks"])
    celery.conf.update(
        task_ignore_result=True,
        task_acks_late=False,             # the database is the queue: a lost message costs one lease
        worker_prefetch_multiplier=8,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 3600},
        beat_schedule={
            "nanobatch-tick": {"task": "workers.tasks.tick", "schedule": settings.tick_seconds},
        },
        beat_schedule_filename=str(settings.home / "celerybeat-schedule"),
        timezone="UTC",
    )
    return celery


app = make_app()
