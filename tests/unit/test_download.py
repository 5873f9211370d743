"""Output downloads: a file is put in place only when it is the right format and size and intact.

The transport is swapped (a requests adapter answering from memory); the files are real images.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import requests
from PIL import Image

from batch.config import Settings
from batch.errors import DownloadError, DownloadFailed
from batch.files.download import DownloadLimits, Renewal, download_verified
from tests.helpers import HandlerAdapter

SIZE = (64, 48)
LIMITS = DownloadLimits.from_settings(Settings(home=Path(".")))


def image_bytes(fmt: str, size: tuple[int, int] = SIZE) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize(size).save(buffer, fmt)
    return buffer.getvalue()


def serving(status: int, body: bytes) -> requests.Session:
    http = requests.Session()
    http.mount("http://", HandlerAdapter(lambda _request: (status, {}, body)))
    return http


def fetch(tmp_path: Path, body: bytes, fmt: str = "jpeg", status: int = 200, renewal: Renewal | None = None) -> Path:
    target = tmp_path / "out" / f"file.{fmt}"
    download_verified(serving(status, body), "http://cdn.test/x", target, output_format=fmt, allowed_sizes={SIZE},
                      limits=LIMITS, renewal=renewal)
    return target


def left_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_a_good_file_is_saved_with_its_hash_and_size(tmp_path: Path, fmt: str) -> None:
    body = image_bytes(fmt.upper())
    target = tmp_path / "out" / f"file.{fmt}"
    saved = download_verified(serving(200, body), "http://cdn.test/x", target, output_format=fmt,
                              allowed_sizes={SIZE}, limits=LIMITS)
    assert target.read_bytes() == body
    assert (saved.bytes, saved.sha256, (saved.width, saved.height)) == (len(body), hashlib.sha256(body).hexdigest(),
                                                                        SIZE)
    assert left_files(tmp_path) == [target.name]


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_a_truncated_file_is_refused_and_nothing_is_left(tmp_path: Path, fmt: str) -> None:
    body = image_bytes(fmt.upper())
    with pytest.raises(DownloadError, match="not a readable image") as caught:
        fetch(tmp_path, body[: len(body) * 2 // 3], fmt)
    assert not caught.value.retryable
    assert left_files(tmp_path) == []


def test_a_png_with_a_flipped_byte_in_its_pixels_is_refused(tmp_path: Path) -> None:
    body = bytearray(image_bytes("PNG"))
    body[body.index(b"IDAT") + 10] ^= 0xFF
    with pytest.raises(DownloadError, match="not a readable image"):
        fetch(tmp_path, bytes(body), "png")


def test_the_wrong_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="output is PNG, expected JPEG"):
        fetch(tmp_path, image_bytes("PNG"), "jpeg")


def test_the_wrong_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="output is 32x32, expected one of"):
        fetch(tmp_path, image_bytes("JPEG", (32, 32)))
    assert left_files(tmp_path) == []


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (404, False)])
def test_http_errors_say_whether_a_retry_can_help(tmp_path: Path, status: int, retryable: bool) -> None:
    with pytest.raises(DownloadError, match=f"HTTP {status}") as caught:
        fetch(tmp_path, b"", status=status)
    assert caught.value.retryable is retryable


def test_the_lease_is_renewed_just_before_the_rename_and_a_lost_lease_drops_the_file(tmp_path: Path) -> None:
    calls: list[str] = []

    def renew(answer: bool) -> Renewal:
        return Renewal(lambda: calls.append("renew") or answer, every=1e9)  # never due while streaming

    target = fetch(tmp_path, image_bytes("JPEG"), renewal=renew(True))
    assert calls == ["renew"] and target.exists()
    target.unlink()
    with pytest.raises(DownloadFailed, match="another worker took this job over") as caught:
        fetch(tmp_path, image_bytes("JPEG"), renewal=renew(False))
    assert (caught.value.kind, caught.value.retryable) == ("lease_lost", True)
    assert left_files(tmp_path) == []


def test_the_deadline_is_sized_from_the_largest_file_at_the_minimum_rate() -> None:
    limits = DownloadLimits(max_bytes=200 * 1024 * 1024, min_rate=1024 * 1024, floor_seconds=30.0)
    assert limits.deadline == 30.0 + 200.0


def test_what_a_killed_attempt_left_is_removed_by_the_next_success(tmp_path: Path) -> None:
    parts = tmp_path / "out" / ".file.jpeg.parts"
    parts.mkdir(parents=True)
    (parts / ".file.jpeg.k1ll3d.part").write_bytes(b"half a file from a worker killed mid-download")
    target = fetch(tmp_path, image_bytes("JPEG"))
    assert left_files(tmp_path) == [target.name]


def test_a_failed_attempt_leaves_no_folder_behind(tmp_path: Path) -> None:
    with pytest.raises(DownloadError):
        fetch(tmp_path, b"not an image")
    assert left_files(tmp_path) == []
