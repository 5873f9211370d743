"""The pilot's sample: deterministic, every style, items spread across the list; the gate's verdict."""

from __future__ import annotations

import itertools

import pytest

from batch.core.pilot import Gate, parse_share, progress_text, sample, sample_units


def _matrix(items: int, styles: int) -> list[str]:
    """Strata of a matrix in manifest order: item by item, each with every style."""
    return [f"s{j}" for _ in range(items) for j in range(styles)]


@pytest.mark.parametrize(
    ("items", "styles", "size", "per_style"),
    [
        (2000, 3, 24, [8, 8, 8]),
        (2000, 3, 25, [9, 8, 8]),       # the remainder goes one each to the first styles
        (100, 4, 2, [1, 1, 1, 1]),      # a size under the number of styles grows to one each
        (5, 2, 40, [5, 5]),             # a share above a style's items takes them all
        (1, 1, 1, [1]),
    ],
)
def test_every_style_gets_its_share(items: int, styles: int, size: int, per_style: list[int]) -> None:
    strata = _matrix(items, styles)
    chosen = sample(strata, size, "seed")
    assert [sum(strata[i] == f"s{j}" for i in chosen) for j in range(styles)] == per_style
    assert chosen == sorted(set(chosen))


@pytest.mark.parametrize(("items", "share"), [(2000, 8), (100, 10), (37, 5), (9, 9)])
def test_items_are_spread_across_the_list_not_the_first(items: int, share: int) -> None:
    strata = _matrix(items, 1)
    chosen = sample(strata, share, "manifest-a")
    gaps = [b - a for a, b in itertools.pairwise(chosen)]
    stride = items / share
    assert all(stride - 1 <= gap <= stride + 1 for gap in gaps), gaps  # one item in each equal stretch
    assert chosen[-1] >= items - stride - 1                             # reaches the end of the list
    if share < items:
        assert chosen != list(range(share))


def test_the_same_manifest_gives_the_same_sample_and_another_seed_another() -> None:
    strata = _matrix(500, 3)
    first = sample(strata, 24, "a\nb")
    assert sample(strata, 24, "a\nb") == first
    assert sample(list(strata), 24, "a\nb") == first
    assert sample(strata, 24, "other") != first


def test_styles_are_tried_on_different_items() -> None:
    strata = _matrix(300, 3)
    chosen = sample(strata, 30, "x")
    items = [{i // 3 for i in chosen if strata[i] == f"s{j}"} for j in range(3)]
    assert not (items[0] & items[1]) and not (items[1] & items[2])


def test_units_group_the_variants_of_one_item_and_style() -> None:
    units = [(f"sku{i} x studio", "studio") for i in range(50) for _ in ("warm", "neutral")]
    units += [(f"sku{i} x plain", "plain") for i in range(50)]
    chosen = sample_units(units, 6)
    assert len(chosen) == 6
    assert sum(u.endswith("studio") for u in chosen) == 3
    assert sample_units(units, 6) == chosen


@pytest.mark.parametrize(
    ("raw", "share"),
    [("10%", 0.1), (0.1, 0.1), ("0%", 0.0), (0, 0.0), (1, 1.0), ("100%", 1.0),
     ("110%", None), (1.5, None), ("ten", None), (True, None), (-0.1, None)],
)
def test_gate_shares(raw: object, share: float | None) -> None:
    assert parse_share(raw) == share


@pytest.mark.parametrize(
    ("jobs", "failed", "passes"),
    [(20, 0, True), (20, 2, True), (20, 3, False), (0, 0, True), (10, 10, False)],
)
def test_gate_verdict(jobs: int, failed: int, passes: bool) -> None:
    reason = Gate(max_failed=0.1).verdict(jobs, failed)
    assert (reason is None) is passes
    if reason:
        assert f"{failed} of {jobs} jobs failed" in reason


def test_progress_text() -> None:
    assert progress_text(24, 24, None) == "pilot 24/24 done, waiting for approval"
    assert progress_text(3, 24, None) == "pilot 3/24 done, the rest waits for its approval"
