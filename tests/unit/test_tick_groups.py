"""How the tick bundles jobs into task messages (a pure function of their planned times)."""

from __future__ import annotations

import pytest

from batch.core.pacing import GROUP_MAX, GROUP_WINDOW, QUEUE_BUNCH, FirstPolls, queue_bunch
from batch.core.pacing import due as _due
from batch.core.pacing import groups as _groups


def test_jobs_due_together_share_a_message_that_starts_at_the_last_ones_slot() -> None:
    targets = [(10.0, "status", 1), (10.005, "status", 2), (10.01, "status", 3)]
    assert _groups(targets) == [(10.01, [1, 2, 3])]


def test_paced_calls_further_apart_than_the_window_go_alone() -> None:
    step = GROUP_WINDOW * 2.5
    targets = [(10.0 + i * step, "submit", i) for i in range(3)]
    assert _groups(targets) == [(10.0, [0]), (10.0 + step, [1]), (10.0 + 2 * step, [2])]


def test_kinds_are_not_mixed_so_a_submit_never_waits_behind_polls() -> None:
    targets = [(10.0, "status", 1), (10.001, "submit", 2), (10.002, "status", 3), (10.003, "other", 4)]
    assert _groups(targets) == [(10.001, [2]), (10.002, [1, 3]), (10.003, [4])]


def test_a_burst_is_cut_into_messages_of_at_most_group_max() -> None:
    targets = [(10.0, "result", i) for i in range(GROUP_MAX * 2 + 1)]
    sizes = [len(ids) for _, ids in _groups(targets)]
    assert sizes == [GROUP_MAX, GROUP_MAX, 1]


@pytest.mark.parametrize(("spacing", "size"), [
    (0.0, GROUP_MAX),                  # a queue seen not moving apart: nothing to wait for
    (0.01, GROUP_MAX),                 # fast queue: a full message
    (QUEUE_BUNCH / 3, 3),
    (QUEUE_BUNCH, 1),                  # slow queue: each place when it is reached
    (2.0, 1),
])
def test_queue_bunch_size(spacing: float, size: int) -> None:
    assert queue_bunch(spacing) == size


def test_first_polls_behind_a_fast_queue_share_messages_and_none_goes_before_its_place() -> None:
    spacing, now = 0.03, 100.0
    first = FirstPolls(batch_id=1, submitted_by=99.0, limit=500, age=None, spacing=spacing)
    places: dict[int, int] = {}
    dues = [_due(0.0, first, 90.0, (now, now + 1.0), places) for _ in range(20)]
    for place, due in enumerate(dues):
        assert now + place * spacing <= due <= now + place * spacing + QUEUE_BUNCH
    sizes = [len(ids) for _, ids in _groups([(due, "status", n) for n, due in enumerate(dues)])]
    assert sizes == [8, 8, 4]
