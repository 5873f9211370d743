"""Celery application and its configuration, derived from nanobatch's settings."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Collection
from functools import cached_property
from typing import Any

import click
import redis
from celery import Celery, bootsteps
from celery.beat import PersistentScheduler, Scheduler
from celery.signals import before_task_publish, setup_logging, worker_init, worker_ready

from batch.config import PRIVATE_FILE_MODE, load_settings, private_dir
from batch.embedded.redis import ensure_redis, kombu_url, tick_lock_key
from batch.engine import beat
from batch.logjson import log_format
from batch.store.scope import scope_name

_log = logging.getLogger("nanobatch.beat")


def beat_schedule_file(scope: str | None) -> str:
    """The beat's schedule file in the data directory, one per scope (concurrent runs share no file)."""
    return "celerybeat-schedule" if scope is None else f"celerybeat-schedule-{scope}"


def broker_url() -> str:
    """The configured Redis, or the embedded one (started if needed)."""
    settings = load_settings()
    return settings.redis_url or ensure_redis(settings.home)[0]


def tick_lock_name(batches: Collection[int] | None) -> str:
    """The Redis lock that keeps one tick at a time among the workers of one scope."""
    return tick_lock_key(scope_name(batches))


class App(Celery):  # type: ignore[misc]
    """The Celery application, whose worker exits 0 after a Ctrl-C (``workers.warm``)."""

    @cached_property
    def Worker(self) -> Any:  # Celery's name for it
        """The ``celery worker`` application class."""
        return self.subclass_with_self("workers.warm:WarmWorker")


def make_app() -> Celery:
    """Build the Celery app with the tick, the schedules and the batch-end notifications on the beat.

    Workers scoped to some batches (``NANOBATCH_RUN_BATCHES``, set by ``run``/``resume``) use a
    queue of their own, so that neither they nor shared workers take each other's messages (a
    run's environment never touches another batch's jobs), and fire no schedules: a batch a
    schedule starts is for the shared workers, which would otherwise not see it started.
    """
    settings = load_settings()
    private_dir(settings.home)  # the beat keeps its schedule file there
    url = kombu_url(broker_url())
    celery = App("nanobatch", broker=url, include=["workers.tasks", "workers.lifecycle"])
    beat_schedule: dict[str, dict[str, Any]] = {
        "nanobatch-tick": {"task": "workers.tasks.tick", "schedule": settings.tick_seconds},
        "nanobatch-notify": {"task": "workers.tasks.notify_finished", "schedule": settings.notify_seconds},
    }
    scope = scope_name(settings.run_batches)
    if scope is None:
        beat_schedule["nanobatch-schedules"] = {"task": "workers.tasks.fire_schedules",
                                                "schedule": settings.schedule_seconds}
    else:
        celery.conf.task_default_queue = f"nanobatch-{scope}"
    celery.conf.update(
        task_ignore_result=True,
        task_acks_late=False,             # the database is the queue: a lost message costs one lease
        worker_prefetch_multiplier=8,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # nor kombu's ack emulation: it keeps each message in an "unacked" hash in Redis (two more
        # round trips per message) to redeliver it after a crash; an expired lease already does
        broker_transport_options={"ack_emulation": False},
        beat_schedule=beat_schedule,
        beat_schedule_filename=str(settings.home / beat_schedule_file(scope)),
        beat_scheduler="workers.app:PrivateScheduler",
        timezone="UTC",
    )
    return celery


class KeepBeat(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
    """``--keep-beat``: the worker keeps a beat process (``workers.lifecycle``), standing by without the lease."""

    def __init__(self, parent: Any, keep_beat: bool = False, **options: Any) -> None:
        super().__init__(parent, **options)
        self.keep = keep_beat

    def start(self, parent: Any) -> None:
        if self.keep:
            from workers.lifecycle import keep_beat

            keep_beat()


app = make_app()
app.user_options["worker"].add(click.Option(("--keep-beat",), is_flag=True, default=False,
                                            help="Keep a beat process (sends the tick while it holds the lease)."))
app.steps["worker"].add(KeepBeat)


def _json_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """Celery's logging replaced by JSON lines (``NANOBATCH_LOG_FORMAT=json``, see ``batch.logjson``)."""
    from batch import logjson

    logjson.install(loglevel or logging.WARNING, [load_settings().token or ""])


if log_format(os.environ) == "json":  # a receiver connected here tells Celery to leave logging to it
    setup_logging.connect(_json_logging)
    _json_logging()  # already now: Celery warns (as root, say) before it sets logging up


@worker_init.connect
def _no_emergency_dump(**_: Any) -> None:
    """Messages a worker cannot put back in a lost broker are dropped with a warning, not pickled to /tmp.

    kombu puts the messages a worker holds back in the queue when its connection closes; when the
    broker is gone it writes them to a pickle in the temp folder ("EMERGENCY DUMP"), which no one
    reads and no setting turns off. Nothing is lost by dropping them: a tick comes again with the
    next beat, and the jobs of a steps message are claimed again once their lease has expired.
    """
    from kombu.transport.virtual import base

    base.emergency_dump_state = _drop_unrestored  # type: ignore[attr-defined]  # looked up by QoS at each call


def _drop_unrestored(state: Collection[Any], *_: Any, **__: Any) -> None:
    logging.getLogger("nanobatch.worker").warning(
        "%d messages could not be put back in the queue (broker lost): dropped; their jobs are claimed "
        "again when their leases expire", len(state))


@worker_ready.connect
def _watch_dependencies(**_: Any) -> None:
    """Log a warning when the broker or the database has not answered for a few seconds, and since when.

    Celery's own reconnect messages say neither how long nor anything about the database. With
    the embedded Redis the watch also brings the server back if its supervisor died.
    """
    from batch.embedded.health import Reachability, Watch, broker_check, database_check, embedded_revival, safe_url

    settings = load_settings()
    url = broker_url()
    broker = f"broker ({safe_url(url)})"
    checks = {broker: broker_check(url), f"database ({safe_url(settings.db_url)})": database_check(settings.db_url)}
    revive = None if settings.redis_url else {broker: embedded_revival(settings.home)}
    Watch(checks, Reachability(), say=logging.getLogger("nanobatch.health").warning, revive=revive).start()


@worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    """Serve Prometheus metrics when ``NANOBATCH_METRICS_PORT`` (``nanobatch worker --metrics-port``) asks."""
    settings = load_settings()
    if settings.metrics_port is None:
        return
    from batch.engine.scrape import start
    from batch.errors import ConfigError

    try:
        start(settings, settings.metrics_port, redis_url=broker_url(), queues=list(app.amqp.queues))
    except ConfigError as exc:
        logging.getLogger("nanobatch.metrics").error("%s", exc)


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



class _Leased:
    """A beat that sends nothing unless it holds its scope's lease (``batch.engine.beat``): one beat per broker.

    It looks at the lease several times per tick interval; while another beat holds it, it stands by.
    """

    _lease: beat.BeatLease | None = None
    _holding = False

    def _lease_of(self) -> beat.BeatLease:
        if self._lease is None:
            settings = load_settings()
            self._lease = beat.BeatLease(redis.Redis.from_url(broker_url(), socket_timeout=5),
                                         f"{socket.gethostname()}:{os.getpid()}", settings.tick_seconds,
                                         scope_name(settings.run_batches))
        return self._lease

    def _may_send(self) -> bool:
        """Renew or take the lease; whether this beat sends now (said in the log when that changes)."""
        lease = self._lease_of()
        try:
            held = lease.hold()
        except (redis.RedisError, OSError):  # no broker, no tick to send either; the worker says it is down
            held = False
        if held != self._holding:
            _log.warning("beat %s: %s", lease.who, "holds the beat lease: sending the tick" if held
                         else "another beat holds the lease: standing by")
            self._holding = held
        return held

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send what is due while this beat holds the lease; when to look again (a few times per tick)."""
        every = beat.look_every(self._lease_of().tick_seconds)
        if not self._may_send():
            return every
        return min(float(super().tick(*args, **kwargs)), every)  # type: ignore[misc]  # a mixin of Scheduler

    def close(self) -> None:
        """Give the lease up as the beat stops: a standby takes over at its next look, not a lease later."""
        if self._holding and self._lease is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._lease.release()
            self._holding = False
        super().close()  # type: ignore[misc]


class LeasedScheduler(_Leased, Scheduler):  # type: ignore[misc]  # celery is untyped
    """The beat a worker keeps (``batch.embedded.keeper``): its schedule in memory, sent only while it holds the lease.

    Its entries are intervals of seconds with nothing worth keeping across a restart (schedule slots
    are in the database), and the beats of several workers on one data directory would otherwise
    write one schedule file, which Python's fallback ``dbm`` does not lock.
    """


class PrivateScheduler(_Leased, PersistentScheduler):  # type: ignore[misc]  # celery is untyped
    """The beat of ``nanobatch beat``: Celery's default scheduler, whose schedule files in the data
    directory are created 0600, sending only while it holds the lease.

    The files are created (with the umask of that moment, and kept at that mode) when the
    schedule is opened, in the beat's own process: the umask is narrowed for that call only.
    """

    def _open_schedule(self) -> Any:
        old = os.umask(0o777 & ~PRIVATE_FILE_MODE)
        try:
            return super()._open_schedule()
        finally:
            os.umask(old)
