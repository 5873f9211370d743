"""The worker application class: Ctrl-C is a warm shutdown that exits 0, as SIGTERM is.

Celery's worker shuts down warm on both signals but exits 1 on SIGINT, which a supervisor or a
person reads as a failure. Its handler is installed with the same callback and an exit status
of 0 instead. Celery installs it through ``signal.signal``, so it holds even where the process
was started with SIGINT ignored (a background job of a shell).

With JSON logs (``NANOBATCH_LOG_FORMAT=json``) the lines Celery prints on these signals straight
to stdout go through logging instead, so that every line of the output is a JSON object.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.apps import worker as celery_worker
from celery.platforms import EX_OK
from celery.signals import worker_shutting_down

from batch.logjson import log_format

_log = logging.getLogger("celery.apps.worker")


class WarmWorker(celery_worker.Worker):  # type: ignore[misc]
    """``celery worker`` whose SIGINT handler exits 0."""

    def install_platform_tweaks(self, worker: Any) -> None:
        """Celery's handlers, then SIGINT's again with exit status 0 (and SIGTERM's, quiet, with JSON logs)."""
        super().install_platform_tweaks(worker)
        if log_format(os.environ) == "json":
            celery_worker.install_worker_term_handler(worker, verbose=False)
            celery_worker.install_worker_int_handler(worker, exitcode=EX_OK, verbose=False, callback=_second_ctrl_c)
        else:
            celery_worker.install_worker_int_handler(worker, exitcode=EX_OK)


def _second_ctrl_c(worker: Any) -> None:
    """Celery's own first-Ctrl-C callback, said through logging."""
    _log.warning("worker: Hitting Ctrl+C again will initiate cold shutdown, terminating all running tasks!")
    celery_worker.install_worker_term_hard_handler(worker, sig="SIGINT", verbose=False)


@worker_shutting_down.connect
def _said_through_logging(sig: str = "", how: str = "", **_: Any) -> None:
    """``worker: Warm shutdown (SIGTERM)``, as a log line when the logs are JSON (else Celery prints it)."""
    if log_format(os.environ) == "json":
        _log.warning("worker: %s shutdown (%s)", how, sig)
