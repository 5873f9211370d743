"""Manifests over local photos for the storage tests."""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image

from batch.commands.batches import create_batch
from batch.engine.runtime import Runtime
from batch.manifest import Manifest
from batch.storage.localserver import LocalS3

COLOURS = ("red", "green", "blue", "orange", "purple", "teal", "olive", "maroon")


def photos_manifest(folder: Path, s3: LocalS3, prefix: str, *, photos: int = 3, output_url: str | None = None,
                    bucket: str | None = None, expiry: int | None = None) -> Path:
    """``photos`` small JPEGs in ``folder/photos`` and a manifest of them x 2 styles, inputs under ``prefix``."""
    (folder / "photos").mkdir(exist_ok=True)
    for i in range(photos):
        Image.new("RGB", (64 + 8 * i, 48), COLOURS[i % len(COLOURS)]).save(folder / "photos" / f"p{i}.jpg")
    expiry_line = f"\n  url_expiry_seconds: {expiry}" if expiry else ""
    text = f"""name: photos
storage:
  url: s3://{bucket or s3.bucket}/{prefix}
  endpoint_url: {s3.endpoint}{expiry_line}
output_dir: {output_url or folder / 'out'}
matrix:
  items: {{files: "photos/*.jpg"}}
  styles:
    - {{name: studio, prompt: "studio shot of the product"}}
    - {{name: beach, prompt: "the product on a beach", aspect_ratio: "4:5"}}
  image_urls: ["{{file}}"]
"""
    path = folder / "jobs.yaml"
    path.write_text(text)
    return path


def create(rt: Runtime, manifest: Manifest) -> int:
    """Store ``manifest`` as a batch now."""
    return create_batch(rt.sessions, manifest, now=time.time())
