"""A local input edited between the moment it is hashed and its upload (``service.submit``, real S3)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from batch.commands import preflight, service
from batch.errors import ManifestError
from batch.storage.localserver import LocalS3
from batch.storage.store import open_store
from tests.storage_helpers import photos_manifest


def _objects_match_their_keys(s3: LocalS3, prefix: str) -> dict[str, bool]:
    bucket = open_store(s3.url(), env=s3.env())
    return {key: hashlib.sha256(bucket.read(key)).hexdigest() == key.rsplit("/", 1)[1].split(".")[0]
            for key in bucket.keys(f"{prefix}/inputs/")}


def test_a_photo_edited_after_it_was_hashed_is_never_stored_under_its_old_hash(
        tmp_path: Path, s3_env: LocalS3, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"t{time.time_ns()}"
    manifest = photos_manifest(tmp_path, s3_env, prefix, photos=3)
    for name, value in {"NANOBATCH_HOME": str(tmp_path / "home"), "RUNCOMFY_API_TOKEN": "t",
                        "RUNCOMFY_API_BASE": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    service.settings.cache_clear()
    original: Callable[..., Any] = preflight.check_outputs
    edited = tmp_path / "photos" / "p1.jpg"

    def check_then_edit(*args: Any, **kwargs: Any) -> None:  # runs after hashing, before the upload
        original(*args, **kwargs)
        Image.new("RGB", (64, 48), "yellow").save(edited)

    monkeypatch.setattr(preflight, "check_outputs", check_then_edit)
    try:
        with pytest.raises(ManifestError) as caught:
            service.submit(str(manifest))
        where = f"{manifest}:11: image_urls"  # the line that names the photos
        assert f"{where}: local file 'photos/p1.jpg' changed after it was checked" in str(caught.value)
        assert all(_objects_match_their_keys(s3_env, prefix).values())
        assert not (tmp_path / "home" / "nanobatch.db").exists()  # no batch stored
        monkeypatch.setattr(preflight, "check_outputs", original)
        _, jobs = service.submit(str(manifest))  # submitted again: the new content, under its own hash
    finally:
        service.settings.cache_clear()
    assert jobs == 6
    found = _objects_match_their_keys(s3_env, prefix)
    assert len(found) == 3 and all(found.values())
    assert hashlib.sha256(edited.read_bytes()).hexdigest() in "".join(found)
