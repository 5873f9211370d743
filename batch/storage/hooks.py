"""What the job steps ask of object storage, in three calls (the engine imports only this module).

``sign`` before a submit's POST, ``sign_again`` when upstream could not fetch a signed input,
``publish`` once outputs are verified. Jobs without bucket references or bucket outputs pay
one dictionary lookup each; the object-store client loads only for those that have them.
"""

from __future__ import annotations

from typing import Any

from batch.files.download import SavedFile
from batch.storage.refs import parse_ref
from batch.store.models import Batch, Job


def sign(job: Job, batch: Batch) -> dict[str, Any]:
    """The request body for ``job``: its inputs with bucket references signed afresh."""
    urls = job.inputs.get("image_urls") or ()
    if not any(parse_ref(url) is not None for url in urls):
        return job.inputs
    from batch.storage.signing import signed_inputs

    return signed_inputs(job.inputs, batch.options.get("storage"))


def sign_again(job: Job, status: str, error: str | None, max_attempts: int, now: float) -> dict[str, Any] | None:
    """Column values that send ``job`` back to be submitted with fresh signatures, when upstream
    failed it (``status``) fetching a signed input and attempts are left; None otherwise."""
    if status != "failed":
        return None
    from batch.storage.signing import input_fetch_failed

    attempts = job.attempts + 1
    if attempts >= max_attempts or not input_fetch_failed(job.inputs, error):
        return None
    return {"attempts": attempts, "error": error, "request_id": None, "next_action_at": now,
            "detail": f"upstream could not fetch a signed input; signing again: {error}"}


def publish(batch: Batch, saved: list[SavedFile]) -> list[SavedFile]:
    """The verified files, uploaded to the batch's bucket when its output_dir is one."""
    if not batch.options.get("output_url"):
        return saved
    from batch.storage.outputs import publish as upload

    return upload(batch.options, batch.output_dir, saved)
