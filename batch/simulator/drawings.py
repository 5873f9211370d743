"""The sample catalog: simple, recognisable product drawings on plain backgrounds (Pillow only).

Each drawing function paints on a canvas of its catalog size, using coordinates relative to the
canvas so the shapes fill it whatever its aspect.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

Box = tuple[float, float, float, float]
Painter = Callable[[ImageDraw.ImageDraw, int, int], None]


def _box(w: int, h: int, x0: float, y0: float, x1: float, y1: float) -> Box:
    return (x0 * w, y0 * h, x1 * w, y1 * h)


def _pts(w: int, h: int, *rel: tuple[float, float]) -> list[tuple[float, float]]:
    return [(x * w, y * h) for x, y in rel]


def draw_shoe(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A red sneaker seen from the side: white sole, red upper, laces, toe cap."""
    d.rounded_rectangle(_box(w, h, 0.10, 0.66, 0.90, 0.76), radius=h * 0.04, fill=(245, 245, 240),
                        outline=(60, 60, 60), width=4)
    upper = _pts(w, h, (0.12, 0.66), (0.14, 0.34), (0.30, 0.30), (0.42, 0.44), (0.62, 0.50),
                 (0.84, 0.56), (0.89, 0.66))
    d.polygon(upper, fill=(200, 30, 40), outline=(90, 10, 15), width=4)
    d.polygon(_pts(w, h, (0.76, 0.535), (0.84, 0.56), (0.89, 0.66), (0.73, 0.66)), fill=(240, 240, 235))
    for i in range(4):
        x = 0.33 + i * 0.06
        d.line(_pts(w, h, (x, 0.40 + i * 0.02), (x + 0.05, 0.47 + i * 0.02)), fill="white", width=7)
    d.ellipse(_box(w, h, 0.16, 0.40, 0.22, 0.50), fill=(250, 250, 250))


def draw_mug(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A blue coffee mug with a handle and rising steam."""
    body = (0.25, 0.35, 0.65, 0.82)
    d.rectangle(_box(w, h, *body), fill=(40, 90, 180), outline=(20, 40, 90), width=5)
    d.ellipse(_box(w, h, 0.25, 0.78, 0.65, 0.86), fill=(40, 90, 180), outline=(20, 40, 90), width=5)
    d.ellipse(_box(w, h, 0.25, 0.31, 0.65, 0.39), fill=(90, 55, 30), outline=(20, 40, 90), width=5)
    d.ellipse(_box(w, h, 0.58, 0.45, 0.82, 0.70), outline=(40, 90, 180), width=int(w * 0.035))
    for i in range(3):
        x = 0.35 + i * 0.10
        d.arc(_box(w, h, x, 0.12, x + 0.06, 0.22), 90, 270, fill=(150, 150, 150), width=6)
        d.arc(_box(w, h, x, 0.20, x + 0.06, 0.30), 270, 90, fill=(150, 150, 150), width=6)


def draw_lamp(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A desk lamp: round base, brass stem, green shade and a warm glow."""
    d.ellipse(_box(w, h, 0.10, 0.28, 0.90, 0.62), fill=(255, 244, 200))
    d.ellipse(_box(w, h, 0.25, 0.86, 0.75, 0.93), fill=(60, 60, 60))
    d.rectangle(_box(w, h, 0.48, 0.40, 0.52, 0.88), fill=(190, 150, 60))
    shade = _pts(w, h, (0.34, 0.14), (0.66, 0.14), (0.82, 0.42), (0.18, 0.42))
    d.polygon(shade, fill=(30, 120, 70), outline=(15, 60, 35), width=5)
    d.ellipse(_box(w, h, 0.44, 0.40, 0.56, 0.46), fill=(255, 230, 120))
    d.line(_pts(w, h, (0.56, 0.60), (0.56, 0.70)), fill=(120, 120, 120), width=4)


def draw_chair(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A wooden chair: slatted backrest, seat and four legs."""
    wood, dark = (160, 100, 50), (90, 55, 25)
    for x in (0.28, 0.68):
        d.rectangle(_box(w, h, x, 0.10, x + 0.04, 0.55), fill=wood, outline=dark, width=3)
    for y in (0.14, 0.26, 0.38):
        d.rectangle(_box(w, h, 0.28, y, 0.72, y + 0.05), fill=wood, outline=dark, width=3)
    d.polygon(_pts(w, h, (0.22, 0.55), (0.78, 0.55), (0.84, 0.63), (0.16, 0.63)),
              fill=(180, 120, 60), outline=dark, width=4)
    for x0, x1 in ((0.18, 0.22), (0.78, 0.82), (0.30, 0.33), (0.67, 0.70)):
        d.rectangle(_box(w, h, x0, 0.63, x1, 0.92), fill=wood, outline=dark, width=3)


def draw_watch(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A wristwatch: leather strap, steel case, white dial with ticks and hands."""
    d.rounded_rectangle(_box(w, h, 0.40, 0.02, 0.60, 0.98), radius=w * 0.03, fill=(110, 70, 40))
    d.ellipse(_box(w, h, 0.24, 0.24, 0.76, 0.76), fill=(170, 170, 180), outline=(80, 80, 90), width=6)
    d.ellipse(_box(w, h, 0.29, 0.29, 0.71, 0.71), fill=(252, 252, 248))
    cx, cy, r = 0.5 * w, 0.5 * h, 0.19 * w
    for i in range(12):
        a = math.radians(i * 30)
        inner = 0.82 if i % 3 else 0.70
        d.line([(cx + r * inner * math.sin(a), cy - r * inner * math.cos(a)),
                (cx + r * math.sin(a), cy - r * math.cos(a))], fill=(30, 30, 30), width=5)
    d.line([(cx, cy), (cx + r * 0.45, cy - r * 0.30)], fill=(20, 20, 20), width=9)
    d.line([(cx, cy), (cx - r * 0.20, cy - r * 0.75)], fill=(20, 20, 20), width=6)
    d.rectangle(_box(w, h, 0.76, 0.47, 0.80, 0.53), fill=(120, 120, 130))


def draw_bag(d: ImageDraw.ImageDraw, w: int, h: int) -> None:
    """A handbag: tan body, two handles, flap and gold clasp."""
    for x0, x1 in ((0.30, 0.50), (0.50, 0.70)):
        d.arc(_box(w, h, x0, 0.12, x1, 0.55), 180, 360, fill=(120, 60, 30), width=int(h * 0.025))
    body = _pts(w, h, (0.22, 0.34), (0.78, 0.34), (0.86, 0.86), (0.14, 0.86))
    d.polygon(body, fill=(210, 150, 90), outline=(120, 70, 30), width=5)
    d.polygon(_pts(w, h, (0.22, 0.34), (0.78, 0.34), (0.74, 0.52), (0.26, 0.52)),
              fill=(185, 125, 70), outline=(120, 70, 30), width=4)
    d.rounded_rectangle(_box(w, h, 0.46, 0.48, 0.54, 0.58), radius=6, fill=(230, 190, 60),
                        outline=(140, 110, 20), width=3)


# name -> (size, background colour, painter)
CATALOG: dict[str, tuple[tuple[int, int], tuple[int, int, int], Painter]] = {
    "shoe.png": ((1200, 800), (214, 228, 240), draw_shoe),
    "mug.png": ((1000, 1000), (246, 238, 222), draw_mug),
    "lamp.png": ((800, 1200), (250, 248, 230), draw_lamp),
    "chair.png": ((900, 1200), (222, 238, 222), draw_chair),
    "watch.png": ((1000, 1000), (232, 232, 236), draw_watch),
    "bag.png": ((1200, 900), (246, 224, 232), draw_bag),
}


def draw_sample(name: str) -> Image.Image:
    """Paint the catalog picture ``name`` (e.g. ``shoe.png``) at its catalog size, labelled."""
    size, background, painter = CATALOG[name]
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    painter(draw, *size)
    font = ImageFont.load_default(size=max(size) // 30)
    draw.text((size[0] * 0.03, size[1] * 0.94), name.removesuffix(".png"), fill=(70, 70, 70),
              font=font, anchor="ls")
    return image
