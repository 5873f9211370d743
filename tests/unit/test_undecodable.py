"""Which input an upstream error says it could not decode, and how an input is known again (pure)."""

from __future__ import annotations

import pytest

from batch.core.undecodable import input_key, undecodable_inputs

SHA = "ab" * 32
A, B = "https://x.test/a.png", f"s3://bucket/p/inputs/{SHA}.jpg"


@pytest.mark.parametrize(("urls", "error", "bad"), [
    ([A, B], "image_urls.1: not a decodable image (UnidentifiedImageError)", [B]),
    ([A], "cannot identify image file <_io.BytesIO>", [A]),
    ([A, B], "cannot identify image file", []),          # names no input of several: none refused
    ([A], "image_urls.3: not a decodable image", []),    # an index out of range
    ([A], "image_urls.0: HTTP 404 when fetching the image", []),
    ([A], None, []),
])
def test_the_input_an_error_names(urls: list[str], error: str | None, bad: list[str]) -> None:
    assert undecodable_inputs(urls, error) == bad


def test_an_uploaded_input_is_known_by_its_content_another_by_its_url() -> None:
    assert input_key(B) == f"sha256:{SHA}" == input_key(f"s3://other/q/inputs/{SHA}.jpg")
    assert input_key(A) == A
