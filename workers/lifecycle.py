"""A worker's beat, kept alive, and a stop bounded in time.

Started with ``--keep-beat`` (``nanobatch worker``, ``run``, ``resume``), a worker keeps a
beat process (``celery beat`` with ``workers.app:LeasedScheduler``): a beat that dies is started
again within a look or two and the log says so; it sends the tick only while it holds its scope's
lease, so a second worker's beat stands by. The beat receives SIGTERM if the worker dies.

A worker that keeps a beat sends one tick itself as soon as it is ready (its beat ticks from then on).

A worker told to stop (SIGTERM, Ctrl-C, or ``run`` gone) starts no new step and no new POST, stops its
beat (which gives up the lease), and lets the steps in progress finish for ``stop_grace_seconds``;
then it waits for the submits it is still sending to be answered and written (at most the HTTP
timeout: a worker gone mid-POST leaves an uncertain submit, maybe charged), gives the jobs back
(leases dropped, due at once) and exits, however slow a download still is. With no task running or
waiting, it exits as soon as its beat has.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from celery.signals import worker_ready, worker_shutdown, worker_shutting_down

from batch.config import load_settings
from batch.embedded.children import preexec
from batch.embedded.keeper import Keeper
from batch.engine import beat
from batch.logjson import celery_options
from workers import tasks

_log = logging.getLogger("nanobatch.worker")
MIN_LOOK_SECONDS = 0.1
BEAT_STOP_SECONDS = 5.0
STOP_LOOK_SECONDS = 0.02  # how often a stopping worker looks whether a task still runs


def kept_beat_command() -> list[str]:
    """The command line of the beat a worker keeps (its schedule in memory, sending only with the lease)."""
    return [sys.executable, "-m", "celery", *celery_options(os.environ), "-A", "workers", "beat", "--scheduler",
            "workers.app:LeasedScheduler", "--loglevel", "WARNING"]


def _start_beat() -> subprocess.Popen[bytes]:
    """The beat as a child that receives SIGTERM when this worker dies (its output goes where ours does)."""
    return subprocess.Popen(kept_beat_command(), stdin=subprocess.DEVNULL, preexec_fn=preexec(signal.SIGTERM))


class BeatKeeping(threading.Thread):
    """Looks at the beat several times per tick interval and starts it again when it died."""

    def __init__(self, tick_seconds: float) -> None:
        super().__init__(name="nanobatch-beat-keeper", daemon=True)
        self.every = max(MIN_LOOK_SECONDS, beat.look_every(tick_seconds))
        self.keeper = Keeper("the beat", _start_beat, _log.warning)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.keeper.check()

    def stop(self) -> None:
        """Stop looking, then stop the beat (SIGTERM: it gives up its lease)."""
        self.done.set()
        self.keeper.stop(BEAT_STOP_SECONDS)


_keeping: BeatKeeping | None = None


def keep_beat() -> None:
    """Start keeping a beat in this worker (``--keep-beat``)."""
    global _keeping
    if _keeping is None:
        _keeping = BeatKeeping(load_settings().tick_seconds)
        _keeping.start()


@worker_ready.connect
def _first_tick(**_: Any) -> None:
    """A worker that keeps a beat sends one tick as soon as it takes messages.

    Its beat starts in a process of its own and sends its first tick one period after that: a
    ``run`` of a few jobs spent most of its time waiting for it. An extra tick is harmless: ticks
    of a scope run one at a time under its lock and claim only what is due.
    """
    if _keeping is not None:
        tasks.tick.delay()


@worker_shutting_down.connect
def _stop_within_grace(**_: Any) -> None:
    """Celery's warm shutdown waits for every running step, a slow download's deadline included: bound it."""
    tasks.stopping()
    settings = load_settings()
    threading.Thread(target=_bounded_stop, args=(settings.stop_grace_seconds, settings.post_wait_seconds),
                     name="nanobatch-stop", daemon=True).start()


@worker_shutdown.connect
def _beat_stopped_first(**_: Any) -> None:
    """The worker's last act: its beat has exited (and given up the lease) before the worker does."""
    if _keeping is not None:
        _keeping.stop()


def _busy() -> bool:
    """True while a task of this worker runs or waits in its pool (a countdown not yet due does not count:
    Celery's own warm shutdown drops those too, and the lease brings their jobs back)."""
    from celery.worker import state

    return bool(state.active_requests or state.reserved_requests or tasks.running())


def _bounded_stop(grace: float, post_seconds: float) -> None:
    """Exit once the beat has stopped and no task runs or waits, at the latest after ``grace`` seconds
    (and the submits still being sent, answered and written), when the jobs still in progress are given
    back: an idle worker does not wait out Celery's own shutdown (its connections and pool, about a second)."""
    started = time.monotonic()
    if _keeping is not None:
        _keeping.stop()
    while _busy() and time.monotonic() - started < grace:
        time.sleep(STOP_LOOK_SECONDS)
    if _busy():
        unanswered = tasks.wait_for_posts(post_seconds)  # a submit cut off mid-POST may be charged unknown to us
        if unanswered:
            _log.warning("stopping: %d submit(s) still unanswered after %g s more; their jobs are uncertain submits",
                         unanswered, post_seconds)
        given = tasks.give_back_in_flight()
        _log.warning("stopping: steps still running after the %g s grace; %d job(s) given back to the queue",
                     grace, given)
    logging.shutdown()
    os._exit(0)
