"""``serve --workers``: embedded workers for the batches the page queued work for, while they have work.

The web app only calls ``queued(batch_id)`` when it queues jobs (a re-run, a released pilot) and asks
``running(batch_id)``; starting, watching and stopping the worker processes stays here, with ``run``'s
``LocalWorker`` and the same broker handling. A batch's worker stops once the batch settles (or is
paused), and every worker stops, the embedded Redis released, when ``serve`` leaves.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from types import TracebackType

from batch.cli.local import Broker, LocalWorker, broker
from batch.config import Settings

CHECK_SECONDS = 1.0  # how often the batches' states are read and dead workers replaced


class ServeWorkers:
    """Workers ``serve`` starts, one per batch it queued work for; a context manager that stops them all."""

    def __init__(self, settings: Settings, *, concurrency: int = 8, interval: float = CHECK_SECONDS) -> None:
        self._settings = settings
        self._concurrency = concurrency
        self._interval = interval
        self._lock = threading.Lock()
        self._workers: dict[int, LocalWorker] = {}
        self._broker: Broker | None = None  # opened with the first worker: no Redis is started for nothing
        self._stack = ExitStack()
        self._closing = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="nanobatch-serve-workers", daemon=True)

    def __enter__(self) -> ServeWorkers:
        self._watcher.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def queued(self, batch_id: int) -> None:
        """The page queued jobs of ``batch_id``: start its worker unless one runs."""
        with self._lock:
            if self._closing.is_set() or batch_id in self._workers:
                return
            if self._broker is None:
                self._broker = self._stack.enter_context(broker(self._settings))
            self._workers[batch_id] = self._broker.worker(self._settings, {batch_id}, concurrency=self._concurrency)
        print(f"nanobatch serve: workers started for batch {batch_id} "
              f"(log: {self._settings.home / 'worker.log'})", flush=True)

    def running(self, batch_id: int) -> bool:
        """True while a worker of this ``serve`` runs ``batch_id``."""
        with self._lock:
            return batch_id in self._workers

    def close(self) -> None:
        """Stop every worker (a warm shutdown each) and leave the embedded Redis."""
        self._closing.set()
        if self._watcher.is_alive():
            self._watcher.join()
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop()
        self._stack.close()

    def _watch(self) -> None:
        while not self._closing.wait(self._interval):
            with self._lock:
                current = list(self._workers.items())
            for batch_id, worker in current:
                if self._closing.is_set():
                    return
                why = self._done(batch_id, worker)
                for notice in worker.notices():  # a worker or beat that died and was replaced
                    print(f"nanobatch serve: batch {batch_id}: {notice}", flush=True)
                if why is None:
                    continue
                with self._lock:
                    if self._workers.get(batch_id) is worker:
                        del self._workers[batch_id]
                worker.stop()
                print(f"nanobatch serve: batch {batch_id} {why}; its workers stopped", flush=True)

    def _done(self, batch_id: int, worker: LocalWorker) -> str | None:
        """Why the batch's worker is no longer wanted (it settled, is paused, or the worker died too
        often), or None while it has work."""
        from sqlalchemy.exc import DBAPIError

        from batch.commands import service

        if not worker.check():
            return f"lost its worker too often (see {worker.log_path})"
        try:
            status = service.status(batch_id)
        except DBAPIError:  # the database is away: keep the worker and ask again
            return None
        if status.paused:
            return f"paused ({status.paused})"
        return "settled" if status.settled else None
