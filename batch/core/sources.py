"""Inputs as the user wrote them: a local photo's path rather than the object it was uploaded to.

A local input becomes a content-named reference (``s3://bucket/prefix/inputs/<sha256>.jpg``)
and the job keeps, beside each ``image_urls`` entry, the path the manifest gave for it
(``jobs.input_sources``: ``photos/sku-900.jpg``, or None for an entry written as a URL).
Errors, reports and the contact sheet show that path. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def shown_inputs(urls: Sequence[str], sources: Sequence[str | None] | None) -> list[str]:
    """Each input as the user wrote it: its local path when it had one, else its URL."""
    found = list(sources or ())
    return [found[i] or url if i < len(found) else url for i, url in enumerate(urls)]


def name_inputs(text: str, urls: Sequence[str], sources: Sequence[str | None] | None) -> str:
    """``text`` (an error) with every mention of a local input's object, as a reference or a signed
    URL (a run of characters without spaces or quotes that holds its object's name), replaced by
    the path the user wrote."""
    if not text or not sources:
        return text
    for url, source in zip(urls, sources, strict=False):
        if source and isinstance(url, str):
            name = url.rsplit("/", 1)[-1]
            if name and name in text:
                mention = re.compile(r"[^\s'\"()<>]*/" + re.escape(name) + r"[^\s'\"()<>]*")
                text = mention.sub(source.replace("\\", "\\\\"), text)
    return text
