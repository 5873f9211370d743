"""The web app's memo: a value read again once the database's change cursor moves, or after its ttl."""

from __future__ import annotations

from batch.web.common import Memo


def test_kept_until_the_cursor_moves_or_the_ttl_passes() -> None:
    memo = Memo(ttl=30.0, size=2)
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    assert memo.get("counts", "5.1.9", 100.0, read) == 1
    assert memo.get("counts", "5.1.9", 110.0, read) == 1  # nothing changed: no read
    assert memo.get("counts", "6.1.9", 111.0, read) == 2  # a job event: read again
    assert memo.get("counts", "6.1.9", 142.0, read) == 3  # past the ttl (a budget changes without an event)
    memo.get("a", "6.1.9", 142.0, read)
    memo.get("b", "6.1.9", 142.0, read)
    assert "counts" not in memo.found and len(memo.found) == 2  # the oldest goes first
