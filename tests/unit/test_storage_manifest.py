"""Bucket references and local input files in manifests (no server: nothing here touches the network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from batch.manifest import ManifestError, load_manifest
from batch.storage.hooks import sign, sign_again
from batch.storage.refs import ObjectRef, is_ref, parse_ref
from batch.store.models import Batch, Job


@pytest.mark.parametrize(("text", "expected"), [
    ("s3://bucket/a/b.jpg", ObjectRef("s3", "bucket", "a/b.jpg")),
    ("gs://b/k", ObjectRef("gs", "b", "k")),
    ("az://container/k.png", ObjectRef("az", "container", "k.png")),
    ("s3://bucket", ObjectRef("s3", "bucket", "")),
    ("https://example.com/a.jpg", None),
    ("photos/a.jpg", None),
    ("s3://bucket/k?x=1", None),
    (" s3://bucket/k", None),
    (None, None),
])
def test_parse_ref(text: object, expected: ObjectRef | None) -> None:
    assert parse_ref(text) == expected


def test_is_ref_needs_a_key() -> None:
    assert is_ref("s3://b/k") and not is_ref("s3://b") and not is_ref("s3://b/")


def _photos(folder: Path, names: list[str]) -> None:
    (folder / "photos").mkdir(exist_ok=True)
    for name in names:
        Image.new("RGB", (20, 10), "red").save(folder / "photos" / name)


def _write(folder: Path, body: str) -> Path:
    path = folder / "m.yaml"
    path.write_text(body)
    return path


STORAGE = "storage:\n  url: s3://bucket/pre\n"


def test_local_files_become_content_references(tmp_path: Path) -> None:
    _photos(tmp_path, ["a.jpg"])
    path = _write(tmp_path, STORAGE + "name: n\njobs:\n  - {id: one, prompt: p, image_urls: [photos/a.jpg, "
                                      "'s3://other/x.png', 'https://example.com/y.jpg']}\n")
    manifest = load_manifest(path)
    urls = manifest.jobs[0].inputs["image_urls"]
    (upload,) = manifest.uploads
    assert urls[0] == upload.ref == f"s3://bucket/pre/inputs/{upload.sha256}.jpg"
    assert urls[1:] == ["s3://other/x.png", "https://example.com/y.jpg"]
    assert manifest.storage is not None and manifest.storage.url == "s3://bucket/pre"


def test_missing_local_file_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, STORAGE + "name: n\njobs:\n  - id: one\n    prompt: p\n    image_urls: [photos/none.jpg]\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value) == (f"{path}:7: jobs[0].image_urls.0: local file 'photos/none.jpg' not found "
                                 "(paths are relative to the manifest's folder)")


def test_local_file_without_storage_block_is_a_problem(tmp_path: Path) -> None:
    _photos(tmp_path, ["a.jpg"])
    path = _write(tmp_path, "name: n\njobs:\n  - {id: one, prompt: p, image_urls: [photos/a.jpg]}\n")
    with pytest.raises(ManifestError, match=r"m.yaml:3: jobs\[0\].image_urls.0: local file 'photos/a.jpg' needs a "
                                            "storage: block"):
        load_manifest(path)


def test_files_items_give_file_and_stem(tmp_path: Path) -> None:
    _photos(tmp_path, ["b.jpg", "a.jpg", "c.png"])
    path = _write(tmp_path, STORAGE + "name: n\nmatrix:\n  items: {files: 'photos/*.jpg'}\n"
                                      "  styles: [{name: s, prompt: 'edit {stem}'}]\n  image_urls: ['{file}']\n")
    manifest = load_manifest(path)
    assert [j.id for j in manifest.jobs] == ["a-s", "b-s"]
    assert [j.inputs["prompt"] for j in manifest.jobs] == ["edit a", "edit b"]
    assert len(manifest.uploads) == 1  # a.jpg and b.jpg have the same content


def test_files_glob_matching_nothing_is_a_problem(tmp_path: Path) -> None:
    path = _write(tmp_path, STORAGE + "name: n\nmatrix:\n  items: {files: 'photos/*.jpg'}\n"
                                      "  styles: [{name: s, prompt: p}]\n  image_urls: ['{file}']\n")
    with pytest.raises(ManifestError, match=r"m.yaml:5: matrix.items.files: no file matches 'photos/\*.jpg'"):
        load_manifest(path)


def test_storage_block_problems(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: n\nstorage:\n  url: /not/a/bucket\n  endpoint_url: ftp://x\n"
                            "  url_expiry_seconds: 5\n  regoin: eu\noutput_dir: 'ftp://x/y'\n"
                            "jobs:\n  - {id: one, prompt: p, image_urls: ['https://e.com/a.jpg']}\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [
        "storage.url", "storage.endpoint_url", "storage.url_expiry_seconds", "storage.regoin", "output_dir"]
    assert "did you mean 'region'?" in lines[3]


def test_output_dir_bucket_is_kept_apart(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: n\noutput_dir: s3://b/out/\njobs:\n  - {id: one, prompt: p, "
                            "image_urls: ['https://e.com/a.jpg']}\n")
    manifest = load_manifest(path)
    assert (manifest.output_dir, manifest.output_url) == (None, "s3://b/out")


def test_fingerprint_inputs_are_stable_references(tmp_path: Path) -> None:
    _photos(tmp_path, ["a.jpg"])
    path = _write(tmp_path, STORAGE + "name: n\njobs:\n  - {id: one, prompt: p, image_urls: [photos/a.jpg]}\n")
    assert load_manifest(path).jobs[0].inputs == load_manifest(path).jobs[0].inputs


def _job(urls: list[str], attempts: int = 0) -> Job:
    return Job(inputs={"prompt": "p", "image_urls": urls}, attempts=attempts)


def test_sign_leaves_plain_urls_alone() -> None:
    job = _job(["https://e.com/a.jpg"])
    assert sign(job, Batch(options={})) is job.inputs


def test_sign_replaces_references_with_signed_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    from batch.storage.signing import forget_clients

    forget_clients()
    job = _job(["s3://bucket/pre/inputs/abc.jpg", "https://e.com/a.jpg"])
    body = sign(job, Batch(options={"storage": {"url": "s3://bucket/pre", "endpoint_url": "http://127.0.0.1:9",
                                                "url_expiry_seconds": 120}}))
    assert body["image_urls"][0].startswith("http://127.0.0.1:9/bucket/pre/inputs/abc.jpg?")
    assert "X-Amz-Expires=120" in body["image_urls"][0] and "secret-example" not in body["image_urls"][0]
    assert body["image_urls"][1] == "https://e.com/a.jpg"
    assert job.inputs["image_urls"][0] == "s3://bucket/pre/inputs/abc.jpg"  # the row keeps the reference
    forget_clients()


@pytest.mark.parametrize(("urls", "status", "error", "attempts", "again"), [
    (["s3://b/k.jpg"], "failed", "image_urls.0 (http://x): HTTP 403 when fetching the image", 0, True),
    (["s3://b/k.jpg"], "failed", "the model refused the prompt", 0, False),
    (["https://e.com/a.jpg"], "failed", "HTTP 403 when fetching the image", 0, False),
    (["s3://b/k.jpg"], "failed", "HTTP 403 when fetching the image", 5, False),  # attempts spent (6)
    (["s3://b/k.jpg"], "succeeded", None, 0, False),
])
def test_sign_again_only_for_a_signed_input_upstream_could_not_fetch(
        urls: list[str], status: str, error: str | None, attempts: int, again: bool) -> None:
    values = sign_again(_job(urls, attempts), status, error, 6, 100.0)
    assert (values is not None) == again
    if values is not None:
        assert values["request_id"] is None and values["attempts"] == attempts + 1 and values["next_action_at"] == 100.0


def test_no_credentials_at_all_is_said_plainly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from batch.errors import StorageError
    from batch.storage.store import open_store

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws profile either
    env = {"AWS_METADATA_ENDPOINT": "http://127.0.0.1:9"}  # the instance-metadata fallback: nothing there
    with pytest.raises(StorageError) as caught:
        open_store("s3://bucket/x", endpoint_url="http://127.0.0.1:9", env=env).check("x")
    assert str(caught.value) == ("s3://bucket/x: no credentials found (set AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)")


def test_csv_columns_may_name_local_files(tmp_path: Path) -> None:
    _photos(tmp_path, ["a.jpg"])
    (tmp_path / "items.csv").write_text("sku,photo\nmug,photos/a.jpg\nlamp,https://e.com/lamp.jpg\n")
    path = _write(tmp_path, STORAGE + "name: n\nmatrix:\n  items: {csv: items.csv}\n"
                                      "  styles: [{name: s, prompt: p}]\n  image_urls: ['{photo}']\n")
    manifest = load_manifest(path)
    (upload,) = manifest.uploads
    assert [j.inputs["image_urls"] for j in manifest.jobs] == [[upload.ref], ["https://e.com/lamp.jpg"]]
