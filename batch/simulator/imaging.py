"""Pictures: the cached sample catalog and the job outputs (Pillow, run in a thread executor).

An output visibly derives from its inputs: the first input image is re-framed (cover crop) to the
target ratio, colour-graded by a hash of the prompt, and the prompt is lettered in a corner. It has
exactly the dimensions of :func:`batch.schema.output_size` and the requested format.
"""

from __future__ import annotations

import functools
import hashlib
import io
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

from batch.core.schema import FILE_EXTENSIONS, PIL_FORMATS, output_size
from batch.simulator.drawings import CATALOG, draw_sample

# Work at most this many pixels on the long side, then upscale (keeps 4K quick).
WORK_MAX_SIDE = 1600
CONTENT_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
NOT_AN_IMAGE = b"This is plain text, not an image. The simulator serves it to test fetch failures.\n"


class InputImageError(ValueError):
    """An input was fetched but is not a decodable image (``index`` is its place in image_urls)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"image_urls.{index}: {message}")
        self.index = index


@dataclass(frozen=True)
class RenderedOutput:
    """One encoded output image and what a CDN would serve it as."""

    data: bytes
    size: tuple[int, int]
    output_format: str

    @property
    def extension(self) -> str:
        """File extension (``jpg``, ``png``, ``webp``)."""
        return FILE_EXTENSIONS[self.output_format]

    @property
    def content_type(self) -> str:
        """MIME type of ``data``."""
        return CONTENT_TYPES[self.output_format]


@functools.cache
def sample_catalog() -> dict[str, bytes]:
    """The sample PNGs by file name, drawn once per process and cached in memory."""
    catalog: dict[str, bytes] = {}
    for name in CATALOG:
        buffer = io.BytesIO()
        draw_sample(name).save(buffer, "PNG", compress_level=3)
        catalog[name] = buffer.getvalue()
    return catalog


def open_image(data: bytes, index: int) -> Image.Image:
    """Decode ``data`` fully as an RGB image, or raise :class:`InputImageError`."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises many types for bad data
        raise InputImageError(index, f"not a decodable image ({type(exc).__name__})") from None
    return image.convert("RGB")


def check_image(data: bytes, index: int) -> tuple[int, int]:
    """Size of the image in ``data`` (header only), or raise :class:`InputImageError`."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as exc:
        raise InputImageError(index, f"not a decodable image ({type(exc).__name__})") from None


def prompt_grade(prompt: str) -> tuple[tuple[float, float, float], tuple[int, int, int]]:
    """Per-channel gain (0.55..1.15) and lift (0..60) derived from a hash of the prompt."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    gains = (0.55 + digest[0] / 425, 0.55 + digest[1] / 425, 0.55 + digest[2] / 425)
    lifts = (digest[3] % 61, digest[4] % 61, digest[5] % 61)
    return gains, lifts


def grade(image: Image.Image, prompt: str) -> Image.Image:
    """Colour-grade ``image`` with a look chosen by the prompt's hash."""
    gains, lifts = prompt_grade(prompt)
    lut: list[int] = []
    for gain, lift in zip(gains, lifts, strict=True):
        lut.extend(min(255, int(lift + v * gain)) for v in range(256))
    return image.point(lut)


def letter(image: Image.Image, prompt: str) -> None:
    """Write the prompt (wrapped, at most 3 lines) on a dark band in the bottom-left corner."""
    width, height = image.size
    font = ImageFont.load_default(size=max(12, min(width, height) // 28))
    lines = textwrap.wrap(prompt, width=40, max_lines=3, placeholder=" ...") or [""]
    text = "\n".join(lines)
    draw = ImageDraw.Draw(image)
    margin = max(6, width // 80)
    left, top, right, bottom = draw.multiline_textbbox((margin, height - margin), text, font=font,
                                                       anchor="ld")
    draw.rectangle((left - margin // 2, top - margin // 2, right + margin // 2, bottom + margin // 2),
                   fill=(0, 0, 0))
    draw.multiline_text((margin, height - margin), text, font=font, anchor="ld", fill=(255, 255, 255))


def work_size(target: tuple[int, int]) -> tuple[int, int]:
    """``target`` scaled down so its long side is at most :data:`WORK_MAX_SIDE`."""
    scale = min(1.0, WORK_MAX_SIDE / max(target))
    return max(1, round(target[0] * scale)), max(1, round(target[1] * scale))


def encode(image: Image.Image, output_format: str) -> bytes:
    """Encode ``image`` quickly in ``output_format`` (jpeg, png or webp)."""
    buffer = io.BytesIO()
    options: dict[str, int] = {
        "jpeg": {"quality": 88},
        "png": {"compress_level": 1},
        "webp": {"quality": 80, "method": 0},
    }[output_format]
    image.save(buffer, PIL_FORMATS[output_format], **options)
    return buffer.getvalue()


def render_output(inputs: list[bytes], prompt: str, aspect_ratio: str, resolution: str,
                  output_format: str) -> RenderedOutput:
    """Make the job's output from its fetched inputs (CPU-bound: call it in an executor)."""
    for index, data in enumerate(inputs[1:], start=1):
        check_image(data, index)
    source = open_image(inputs[0], 0)
    target = output_size(aspect_ratio, resolution, source.size)
    picture = ImageOps.fit(source, work_size(target), method=Image.Resampling.BILINEAR)
    picture = grade(picture, prompt)
    letter(picture, prompt)
    if picture.size != target:
        picture = picture.resize(target, Image.Resampling.BILINEAR)
    return RenderedOutput(encode(picture, output_format), target, output_format)
