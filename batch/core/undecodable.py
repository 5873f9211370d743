"""Inputs upstream could not decode (pure): which input an error names, and how an input is known again.

An input that failed upstream as "not a decodable image" fails the same way on every rerun, paid for
nothing each time; ``batch.commands.service.submit`` fails such jobs before any call (unless
``--force``). An input is known again by its content when nanobatch uploaded it (the sha256 in its
``<prefix>/inputs/<sha256>.<ext>`` reference), else by its URL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# what upstream (and the simulator: "image_urls.0: not a decodable image (...)") says of such an input
_UNDECODABLE = re.compile(r"(?:image_urls\.(\d+):\s*)?(?:not a decodable image|cannot identify image|"
                          r"(?:image|file) (?:is )?(?:corrupt|truncated|undecodable))", re.IGNORECASE)
# the same, as SQL LIKE patterns that narrow the failed jobs to read
LIKE_PATTERNS = ("%decodable image%", "%identify image%", "%corrupt%", "%truncated%", "%undecodable%")
_UPLOADED = re.compile(r"/inputs/([0-9a-f]{64})\.[A-Za-z0-9]+$")


def input_key(url: str) -> str:
    """How an input is known again: ``sha256:<hex>`` for an uploaded local file, else its URL."""
    found = _UPLOADED.search(url)
    return f"sha256:{found.group(1)}" if found else url


def undecodable_inputs(urls: Sequence[str], error: str | None) -> list[str]:
    """The inputs among ``urls`` that ``error`` says upstream could not decode (none when it says not,
    or names no input of several)."""
    found = _UNDECODABLE.search(error or "")
    if found is None:
        return []
    if found.group(1) is not None:
        index = int(found.group(1))
        return [urls[index]] if index < len(urls) else []
    return list(urls[:1]) if len(urls) == 1 else []
