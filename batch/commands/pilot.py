"""``nanobatch pilot approve|reject``: a person decides on a batch's pilot (the web app calls these too)."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from batch.commands.review import check_batch, reviewer
from batch.errors import InputError
from batch.store import pilot as store
from batch.store.db import transaction


def parse_choices(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``("studio=neutral", ...)`` -> ``{"studio": "neutral"}``; InputError naming a malformed one."""
    chosen: dict[str, str] = {}
    for pair in pairs:
        style, sep, name = pair.partition("=")
        if not sep or not style.strip() or not name.strip():
            raise InputError(f"--variant {pair!r}: write it STYLE=NAME, e.g. --variant studio=neutral")
        if style.strip() in chosen:
            raise InputError(f"--variant: style {style.strip()!r} given twice")
        chosen[style.strip()] = name.strip()
    return chosen


def _open(session: Session, batch_id: int) -> None:
    """InputError unless the batch has a pilot still open to a decision (none yet, or its gate stopped it)."""
    batch = check_batch(session, batch_id)
    found = store.options(batch)
    if found is None:
        raise InputError(f"batch {batch_id} has no pilot (give the manifest a pilot: block, or run --pilot N)")
    if found.get("decision") in (store.APPROVED, store.REJECTED):
        raise InputError(f"batch {batch_id}: the pilot was already {found['decision']} by {found.get('by')}")


def _check_choices(session: Session, batch_id: int, chosen: dict[str, str]) -> None:
    """Every style with variants gets exactly one of its own; InputError saying what is missing or unknown."""
    offered = store.variants(session, batch_id)
    for style, name in chosen.items():
        if style not in offered:
            known = ", ".join(sorted(offered)) or "none"
            raise InputError(f"--variant {style}={name}: batch {batch_id} has no style {style!r} with variants "
                             f"(styles with variants: {known})")
        if name not in offered[style]:
            raise InputError(f"--variant {style}={name}: style {style!r} has the variants "
                             f"{', '.join(offered[style])}")
    missing = [style for style in offered if style not in chosen]
    if missing:
        raise InputError("choose the prompt of the rest of the batch: " + " ".join(
            f"--variant {style}={'|'.join(offered[style])}" for style in missing))


def approve(sessions: sessionmaker[Session], batch_id: int, chosen: dict[str, str] | None = None, *,
            who: str | None = None, now: float | None = None) -> tuple[int, int]:
    """Approve the pilot: the waiting jobs of the chosen variants (or all, without variants) are released,
    those of the other variants cancelled unpaid. Returns (released, cancelled)."""
    with transaction(sessions) as session:
        _open(session, batch_id)
        _check_choices(session, batch_id, chosen or {})
        return store.decide(session, batch_id, store.APPROVED, by=who or reviewer(),
                            now=time.time() if now is None else now, chosen=chosen)


def reject(sessions: sessionmaker[Session], batch_id: int, *, who: str | None = None,
           now: float | None = None) -> int:
    """Reject the pilot: every waiting job is cancelled unpaid; returns how many."""
    with transaction(sessions) as session:
        _open(session, batch_id)
        return store.decide(session, batch_id, store.REJECTED, by=who or reviewer(),
                            now=time.time() if now is None else now)[1]
