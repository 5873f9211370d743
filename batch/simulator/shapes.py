"""The shapes in which the simulator can list a succeeded job's outputs in ``/result``.

The real service is only known from its documentation (``{"output": {"images": [url]}}``, also
``image``, ``videos``, ``video``); these are the other shapes it plausibly answers in, so that
the client is tested against each. Every shape but the documented one also carries fields the
client does not know (which it must ignore).
"""

from __future__ import annotations

from typing import Any

DEFAULT_SHAPE = "images"
RESULT_SHAPES: tuple[str, ...] = (
    "images",             # {"output": {"images": [url, ...]}}             (documented)
    "image",              # {"output": {"image": url}}
    "image-objects",      # {"output": {"images": [{"url": url, ...}, ...]}}
    "image-object",       # {"output": {"image": {"url": url, ...}}}
    "top-level",          # {"images": [url, ...]}                         (no "output")
    "top-level-objects",  # {"images": [{"url": url, ...}, ...]}
    "videos",             # {"output": {"videos": [url, ...]}}
    "video",              # {"output": {"video": {"url": url}}}
)
_UNKNOWN_FIELDS: dict[str, Any] = {"seed": 1234, "timings": {"inference": 1.5}, "has_nsfw_concepts": [False]}


def output_fields(shape: str, urls: list[str]) -> dict[str, Any]:
    """The fields of a ``/result`` answer that list ``urls`` in ``shape`` (single-URL shapes list the first)."""
    objects = [{"url": url, "content_type": "image/*"} for url in urls]
    every: dict[str, dict[str, Any]] = {
        "images": {"output": {"images": urls}},
        "image": {"output": {"image": urls[0]}},
        "image-objects": {"output": {"images": objects}},
        "image-object": {"output": {"image": objects[0]}},
        "top-level": {"images": urls},
        "top-level-objects": {"images": objects},
        "videos": {"output": {"videos": urls}},
        "video": {"output": {"video": {"url": urls[0]}}},
    }
    fields = every[shape]
    if shape == DEFAULT_SHAPE:
        return fields
    if "output" in fields:
        fields["output"]["description"] = "not a URL: a field the client must ignore"
    return {**fields, **_UNKNOWN_FIELDS}
