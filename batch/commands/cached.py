"""Finish at submit what the cache answers, in bulk: a rerun of a finished manifest does no work.

The same rule as the step path (``batch.engine.steps``): a pending job whose fingerprint an
earlier succeeded or cached job shares, and whose files are all still on disk with their
recorded size and sha256 (``batch.files.cache.file_matches``), gets copies of those files
(``batch.files.cache.reuse``), uploaded to the batch's bucket when its output_dir is one
(``batch.storage.hooks.publish``), and ends ``cached`` with its output rows and an event row.

Here it happens for a whole batch right after it is stored, ``CHUNK`` jobs per read and per
transaction, instead of one job per tick and worker step. Jobs that a worker leases meanwhile
are left to the worker (the bulk UPDATE moves only unleased pending jobs); jobs whose files do
not verify, or whose copies could not be uploaded, stay pending for a worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session, sessionmaker

from batch.core.states import JobState
from batch.errors import DownloadError
from batch.files.cache import file_matches, reuse
from batch.files.download import SavedFile
from batch.files.outputs import saved_rows
from batch.storage.hooks import publish
from batch.store import jobs as store
from batch.store import outputs as outputs_store
from batch.store import queries
from batch.store.batches import get_batch
from batch.store.db import transaction
from batch.store.models import Batch, Output

CHUNK = 500
HASHING_THREADS = 4
Progress = Callable[[int, int], None]  # (jobs looked at so far, jobs in all)
Clock = Callable[[], float]


class _Verifier:
    """``file_matches`` with a memory (reruns often point many jobs at the same earlier files), run on a
    few threads for a chunk's files at once (hashlib lets go of the GIL while it hashes)."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._seen: dict[tuple[str, int, str], bool] = {}

    def check_all(self, outputs: Iterable[Output]) -> None:
        """Verify these files now, together (``intact`` then answers from memory)."""
        keys = list({(o.path, o.bytes, o.sha256) for o in outputs} - self._seen.keys())
        for key, ok in zip(keys, self._pool.map(lambda k: file_matches(*k), keys), strict=True):
            self._seen[key] = ok

    def intact(self, outputs: Sequence[Output]) -> bool:
        """True when every one of the files is on disk as recorded."""
        return bool(outputs) and all(self._one(o.path, o.bytes, o.sha256) for o in outputs)

    def _one(self, path: str, size: int, sha256: str) -> bool:
        key = (path, size, sha256)
        if key not in self._seen:
            self._seen[key] = file_matches(path, size, sha256)
        return self._seen[key]


def finish_cached(sessions: sessionmaker[Session], batch_id: int, output_dir: str, *,
                  clock: Clock = time.time, on_progress: Progress | None = None) -> int:
    """Move every pending job of the batch that the cache answers to ``cached``; how many moved."""
    batch = get_batch(sessions, batch_id)
    assert batch is not None
    with sessions() as session:
        pending = queries.pending_unleased(session, batch_id, clock())
    moved = 0
    with ThreadPoolExecutor(max_workers=HASHING_THREADS) as pool:
        verifier = _Verifier(pool)
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start:start + CHUNK]
            found = _reusable(sessions, chunk, batch, output_dir, verifier)
            if found:
                moved += _record(sessions, found, clock())
            if on_progress is not None:
                on_progress(start + len(chunk), len(pending))
    return moved


def reusable_prints(sessions: sessionmaker[Session], prints: Iterable[str]) -> set[str]:
    """Those of ``prints`` whose newest finished jobs include one with intact files (``submit --dry-run``)."""
    ordered = sorted(set(prints))
    found: set[str] = set()
    with ThreadPoolExecutor(max_workers=HASHING_THREADS) as pool:
        verifier = _Verifier(pool)
        for start in range(0, len(ordered), CHUNK):
            with sessions() as session:
                candidates, files = _candidates(session, ordered[start:start + CHUNK])
            verifier.check_all(out for ids in candidates.values() for out in files.get(ids[0], []))
            found.update(fp for fp, ids in candidates.items() if any(verifier.intact(files.get(i, [])) for i in ids))
    return found


def _candidates(session: Session, prints: Sequence[str]) -> tuple[dict[str, list[int]], dict[int, list[Output]]]:
    """The newest finished jobs of each fingerprint, and their recorded files."""
    candidates = outputs_store.newest_finished(session, sorted(set(prints)))
    return candidates, outputs_store.outputs_of_jobs(session, sorted({i for ids in candidates.values() for i in ids}))


def _reusable(sessions: sessionmaker[Session], chunk: Sequence[tuple[int, str, str]], batch: Batch, output_dir: str,
              verifier: _Verifier) -> dict[int, tuple[int, list[SavedFile]]]:
    """Job id -> (earlier job id, its files copied to this job's paths), for the jobs of ``chunk`` it can."""
    with sessions() as session:
        candidates, files = _candidates(session, [fp for _, fp, _ in chunk])
    newest = (files.get(ids[0], []) for ids in candidates.values())
    verifier.check_all(out for outs in newest for out in outs)  # usually the one that serves
    found: dict[int, tuple[int, list[SavedFile]]] = {}
    for job_id, fp, output_name in chunk:
        source = next((i for i in candidates.get(fp, []) if verifier.intact(files.get(i, []))), None)
        if source is None:
            continue
        try:
            found[job_id] = (source, publish(batch, reuse(files[source], output_dir, output_name)))
        except DownloadError:  # the bucket refused the copy: a worker tries again (and says why)
            continue
    return found


def _record(sessions: sessionmaker[Session], found: dict[int, tuple[int, list[SavedFile]]], now: float) -> int:
    """One transaction: the jobs to ``cached`` (those still pending and free), their output rows."""
    details: dict[int, str | None] = {job_id: f"reused the files of job {source}"
                                      for job_id, (source, _) in found.items()}
    with transaction(sessions) as session:
        ids = store.transition_each(session, details, JobState.PENDING, JobState.CACHED, now=now, cost=0.0)
        store.add_outputs(session, [row for i in ids for row in saved_rows(i, found[i][1])])
    return len(ids)
