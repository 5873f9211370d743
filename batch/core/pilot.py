"""The pilot of a batch: which jobs run first (the sample), and whether a finished pilot passes its gate.

Pure: the sample is a function of the jobs' strata (their styles) and a seed (the batch's job ids,
not its prompts: editing a prompt keeps the sample, so the unchanged pilot jobs come from the cache).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

MIN_VARIANTS, MAX_VARIANTS = 2, 4
REVIEW = "review"  # the gate that waits for a person


def sample(strata: Sequence[str], size: int, seed: str) -> list[int]:
    """Indices (ascending) of a stratified sample of about ``size`` units out of ``strata``.

    ``strata[i]`` is unit ``i``'s stratum (its style; "" for a job outside a matrix). Every stratum
    gets a share (at least one unit, so a size smaller than the number of strata grows to it),
    shares differ by at most one, and a stratum's units are taken evenly spaced across its list
    (not its first ones), from a phase that ``seed`` decides and that differs per stratum, so that
    the styles are tried on different items. The same arguments give the same sample.
    """
    groups: dict[str, list[int]] = {}
    for index, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(index)
    if not groups or size <= 0:
        return []
    base, extra = divmod(size, len(groups))
    start = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64
    chosen: list[int] = []
    for rank, members in enumerate(groups.values()):
        share = min(len(members), max(1, base + (rank < extra)))
        phase = (start + rank / len(groups)) % 1.0
        # spacing len/share >= 1: the positions are distinct, one in each of ``share`` equal stretches
        chosen.extend(members[int((j + phase) * len(members) / share)] for j in range(share))
    return sorted(chosen)


def sample_units(units: Sequence[tuple[str, str]], size: int) -> set[str]:
    """The pilot's units out of (unit, stratum) pairs in manifest order (a unit may repeat: one pair per
    variant): ``sample`` over the distinct units, seeded by their names (not by their prompts)."""
    distinct = list(dict.fromkeys(units))
    names = [unit for unit, _ in distinct]
    return {names[i] for i in sample([stratum for _, stratum in distinct], size, "\n".join(names))}


@dataclass(frozen=True)
class Gate:
    """What decides that a finished pilot goes on: a person (``review``), or at most a share of failures."""

    max_failed: float | None = None  # a fraction in [0, 1]; None: a person decides

    @property
    def automatic(self) -> bool:
        """True when the gate decides without a person."""
        return self.max_failed is not None

    def verdict(self, jobs: int, failed: int) -> str | None:
        """None when a pilot of ``jobs`` with ``failed`` failures passes, else the reason it does not."""
        assert self.max_failed is not None
        if jobs and failed / jobs > self.max_failed:
            return (f"the pilot failed its gate: {failed} of {jobs} jobs failed "
                    f"({failed / jobs:.0%} > max_failed {self.max_failed:.0%})")
        return None


def parse_share(raw: object) -> float | None:
    """``10%``, ``0.1`` or ``0`` as a fraction in [0, 1]; None when it is none of these."""
    text = str(raw).strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return None
    if isinstance(raw, bool) or not 0 <= value <= 1 or (not text.endswith("%") and value > 1):
        return None
    return value


def progress_text(done: int, total: int, decision: str | None) -> str:
    """``pilot 24/24 done, waiting for approval`` and its other forms."""
    if decision:
        return f"pilot {done}/{total} done, {decision}"
    if done < total:
        return f"pilot {done}/{total} done, the rest waits for its approval"
    return f"pilot {done}/{total} done, waiting for approval"
