"""Celery application and its configuration, derived from nanobatch's settings."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import before_task_publish

from batch.config import PRIVATE_FILE_MODE, load_settings, private_dir
from batch.redis import ensure_redis, kombu_url


def broker_url() -> str:
    """The configured Redis, or the embedded one (started if needed)."""
    settings = load_settings()
    return settings.redis_url or ensure_redis(settings.home)[0]


def make_app() -> Celery:
    """Build the Celery app with the tick, the schedules and the batch-end notifications on the beat."""
    settings = load_settings()
    private_dir(settings.home)  # the beat keeps its schedule file there
    url = kombu_url(broker_url())
    celery = Celery("nanobatch", broker=url, include=["workers.tasks"])
    celery.conf.update(
        task_ignore_result=True,
        task_acks_late=False,             # the database is the queue: a lost message costs one lease
        worker_prefetch_multiplier=8,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # nor kombu's ack emulation: it keeps each message in an "unacked" hash in Redis (two more
        # round trips per message) to redeliver it after a crash; an expired lease already does
        broker_transport_options={"ack_emulation": False},
        beat_schedule={
            "nanobatch-tick": {"task": "workers.tasks.tick", "schedule": settings.tick_seconds},
            "nanobatch-schedules": {"task": "workers.tasks.fire_schedules", "schedule": settings.schedule_seconds},
            "nanobatch-notify": {"task": "workers.tasks.notify_finished", "schedule": settings.notify_seconds},
        },
        beat_schedule_filename=str(settings.home / "celerybeat-schedule"),
        beat_scheduler="workers.app:PrivateScheduler",
        timezone="UTC",
    )
    return celery


app = make_app()


@before_task_publish.connect
def _rebind_before_tick(sender: str | None = None, **_: Any) -> None:
    """Re-declare the default queue's binding before each tick is sent.

    The Redis transport keeps exchange-to-queue bindings as Redis keys, and kombu declares them
    only once per connection. If Redis is flushed (or restarted without its data), messages
    would be routed nowhere from then on. Redis holds nothing we cannot rebuild: this is the
    rebuild, cheap enough to run on every tick.
    """
    if sender != "workers.tasks.tick":
        return
    with app.connection_for_write() as conn:
        for queue in app.amqp.queues.values():
            queue.bind(conn.default_channel).declare()



class PrivateScheduler(PersistentScheduler):  # type: ignore[misc]  # celery is untyped
    """Celery's default beat scheduler, whose schedule files in the data directory are created 0600.

    The files are created (with the umask of that moment, and kept at that mode) when the
    schedule is opened, in the beat's own process: the umask is narrowed for that call only.
    """

    def _open_schedule(self) -> Any:
        old = os.umask(0o777 & ~PRIVATE_FILE_MODE)
        try:
            return super()._open_schedule()
        finally:
            os.umask(old)
