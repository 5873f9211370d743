"""Hosted result files, in memory, each expiring ``--result-ttl`` seconds after its job finished."""

from __future__ import annotations

from dataclasses import dataclass

from batch.simulator.imaging import RenderedOutput


@dataclass(frozen=True)
class StoredFile:
    """One hosted output file and the unix time it stops being served."""

    name: str
    output: RenderedOutput
    expires_at: float


class ResultStore:
    """Output files by request id; expired files answer as absent and are swept away."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def put(self, request_id: str, name: str, output: RenderedOutput, expires_at: float) -> None:
        """Host ``output`` as ``/files/{request_id}/{name}`` until ``expires_at``."""
        self._files[request_id] = StoredFile(name, output, expires_at)

    def get(self, request_id: str, name: str, now: float) -> RenderedOutput | None:
        """The file, or None when unknown, misnamed or expired at ``now``."""
        stored = self._files.get(request_id)
        if stored is None or stored.name != name:
            return None
        if now >= stored.expires_at:
            del self._files[request_id]
            return None
        return stored.output

    def sweep(self, now: float) -> int:
        """Forget every file expired at ``now``; return how many went."""
        expired = [rid for rid, f in self._files.items() if now >= f.expires_at]
        for rid in expired:
            del self._files[rid]
        return len(expired)

    def __len__(self) -> int:
        return len(self._files)
