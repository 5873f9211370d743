"""The model's input schema and output dimension table, as pure data and checks.

One source of truth for `google/nano-banana/pro/edit` (see ``shared/runcomfy-api.md``):
the manifest validates job inputs with it, the simulator answers 422 with it, and the
downloader checks output dimensions with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MODEL_ID = "google/nano-banana/pro/edit"

ASPECT_RATIOS: tuple[str, ...] = (
    "auto", "21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16",
)
RESOLUTIONS: tuple[str, ...] = ("1K", "2K", "4K")
OUTPUT_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp")

FIELD_DEFAULTS: dict[str, str] = {"aspect_ratio": "auto", "resolution": "1K", "output_format": "png"}
ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "aspect_ratio": ASPECT_RATIOS,
    "resolution": RESOLUTIONS,
    "output_format": OUTPUT_FORMATS,
}
INPUT_FIELDS: tuple[str, ...] = ("prompt", "image_urls", *ENUM_FIELDS)

MAX_IMAGE_URLS = 20
GOOGLE_IMAGE_LIMIT = 14  # accepted up to MAX_IMAGE_URLS, with a warning above this
MAX_INPUT_BYTES = 50 * 1024 * 1024

FILE_EXTENSIONS: dict[str, str] = {"jpeg": "jpg", "png": "png", "webp": "webp"}
PIL_FORMATS: dict[str, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}

# Google's table for Gemini 3 Pro Image: ratio -> resolution -> (width, height).
OUTPUT_DIMENSIONS: dict[str, dict[str, tuple[int, int]]] = {
    "1:1": {"1K": (1024, 1024), "2K": (2048, 2048), "4K": (4096, 4096)},
    "2:3": {"1K": (848, 1264), "2K": (1696, 2528), "4K": (3392, 5056)},
    "3:2": {"1K": (1264, 848), "2K": (2528, 1696), "4K": (5056, 3392)},
    "3:4": {"1K": (896, 1200), "2K": (1792, 2400), "4K": (3584, 4800)},
    "4:3": {"1K": (1200, 896), "2K": (2400, 1792), "4K": (4800, 3584)},
    "4:5": {"1K": (928, 1152), "2K": (1856, 2304), "4K": (3712, 4608)},
    "5:4": {"1K": (1152, 928), "2K": (2304, 1856), "4K": (4608, 3712)},
    "9:16": {"1K": (768, 1376), "2K": (1536, 2752), "4K": (3072, 5504)},
    "16:9": {"1K": (1376, 768), "2K": (2752, 1536), "4K": (5504, 3072)},
    "21:9": {"1K": (1584, 672), "2K": (3168, 1344), "4K": (6336, 2688)},
}


@dataclass(frozen=True)
class FieldProblem:
    """One reason an input body fails the schema: the field (dotted path) and why."""

    field: str
    message: str


def with_defaults(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``inputs`` with the documented defaults filled in for absent enum fields."""
    return {**FIELD_DEFAULTS, **inputs}


def is_public_url(value: object) -> bool:
    """True for an absolute http(s) URL with a host (what the API can fetch)."""
    if not isinstance(value, str) or len(value.split()) != 1 or value.strip() != value:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_inputs(body: Mapping[str, Any], url_ok: Callable[[object], bool] | None = None) -> list[FieldProblem]:
    """Every way ``body`` breaks the model's input schema; empty when it is valid.

    ``url_ok``: what counts as a usable image URL (default: a public http(s) URL; the manifest
    also takes bucket references, signed at submit time).
    """
    problems = [FieldProblem(k, "unknown field") for k in body if k not in INPUT_FIELDS]
    prompt = body.get("prompt")
    if prompt is None:
        problems.append(FieldProblem("prompt", "field required"))
    elif not isinstance(prompt, str) or not prompt.strip():
        problems.append(FieldProblem("prompt", "must be a non-empty string"))
    problems.extend(_check_image_urls(body.get("image_urls"), url_ok or is_public_url))
    for name, allowed in ENUM_FIELDS.items():
        if name in body and body[name] not in allowed:
            problems.append(
                FieldProblem(name, f"must be one of {', '.join(allowed)} (got {body[name]!r})")
            )
    return problems


def _check_image_urls(urls: object, url_ok: Callable[[object], bool]) -> list[FieldProblem]:
    if urls is None:
        return [FieldProblem("image_urls", "field required")]
    if not isinstance(urls, list):
        return [FieldProblem("image_urls", "must be a list of URLs")]
    if not 1 <= len(urls) <= MAX_IMAGE_URLS:
        return [FieldProblem("image_urls", f"must hold 1 to {MAX_IMAGE_URLS} URLs (got {len(urls)})")]
    return [
        FieldProblem(f"image_urls.{i}", f"not a public http(s) URL: {url!r}")
        for i, url in enumerate(urls)
        if not url_ok(url)
    ]


def nearest_ratio(width: int, height: int) -> str:
    """The supported aspect ratio nearest to ``width``/``height`` (what ``auto`` picks)."""
    target = width / height

    def distance(ratio: str) -> float:
        w, h = (int(n) for n in ratio.split(":"))
        return abs(w / h - target)

    return min(OUTPUT_DIMENSIONS, key=distance)


def output_size(aspect_ratio: str, resolution: str, input_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Width and height of the output for these inputs; ``auto`` needs the first input's size."""
    if aspect_ratio == "auto":
        if input_size is None:
            raise ValueError("aspect_ratio 'auto' needs the first input image's size")
        aspect_ratio = nearest_ratio(*input_size)
    return OUTPUT_DIMENSIONS[aspect_ratio][resolution]
