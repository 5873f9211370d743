"""The worker application class: Ctrl-C is a warm shutdown that exits 0, as SIGTERM is.

Celery's worker shuts down warm on both signals but exits 1 on SIGINT, which a supervisor or a
person reads as a failure. Its handler is installed with the same callback and an exit status
of 0 instead. Celery installs it through ``signal.signal``, so it holds even where the process
was started with SIGINT ignored (a background job of a shell).
"""

from __future__ import annotations

from typing import Any

from celery.apps import worker as celery_worker
from celery.platforms import EX_OK


class WarmWorker(celery_worker.Worker):  # type: ignore[misc]
    """``celery worker`` whose SIGINT handler exits 0."""

    def install_platform_tweaks(self, worker: Any) -> None:
        """Celery's handlers, then SIGINT's again with exit status 0."""
        super().install_platform_tweaks(worker)
        celery_worker.install_worker_int_handler(worker, exitcode=EX_OK)
