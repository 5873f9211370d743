"""Local input files through the CLI and a real S3 server: only intact images inside the allowed
folders are uploaded; anything else is a file:line error before any upload or row."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from PIL import Image

from batch.storage.localserver import LocalS3
from batch.storage.store import open_store
from tests.acceptance.test_cli import nanobatch


def _jpeg(path: Path, image: Image.Image | None = None) -> bytes:
    buf = io.BytesIO()
    (image or Image.new("RGB", (64, 48), "red")).save(buf, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def _manifest(folder: Path, s3: LocalS3, prefix: str, urls: list[str], extra: str = "") -> Path:
    jobs = "".join(f"  - {{id: j{n}, prompt: p, image_urls: ['{url}']}}\n" for n, url in enumerate(urls))
    path = folder / "jobs.yaml"
    path.write_text(f"name: local\nstorage:\n  url: s3://{s3.bucket}/{prefix}\n  endpoint_url: {s3.endpoint}\n"
                    f"{extra}output_dir: out\njobs:\n{jobs}")
    return path


def _keys(s3: LocalS3, prefix: str) -> list[str]:
    return open_store(s3.url(), env=s3.env()).keys(f"{prefix}/")


def test_links_to_system_files_paths_outside_and_broken_images_are_refused_before_any_upload(
        tmp_path: Path, local_s3: LocalS3) -> None:
    folder = tmp_path / "shoot"
    _jpeg(folder / "photos" / "ok.jpg")
    (folder / "photos" / "shadow.jpg").symlink_to("/etc/shadow")
    (folder / "photos" / "passwd.jpg").symlink_to("/etc/passwd")
    (folder / "photos" / "empty.jpg").write_bytes(b"")
    good = _jpeg(folder / "photos" / "whole.jpg", Image.linear_gradient("L").resize((640, 480)))  # cut in its scan
    (folder / "photos" / "cut.jpg").write_bytes(good[: len(good) // 2])
    (folder / "photos" / "notes.png").write_text("not an image at all\n")
    user_home = tmp_path / "me"
    user_home.mkdir()
    (user_home / ".bashrc").write_text("export SECRET=1\n")
    hostname = os.path.relpath("/etc/hostname", folder)
    urls = ["photos/ok.jpg", "photos/shadow.jpg", "photos/passwd.jpg", hostname, "~/.bashrc",
            "photos/empty.jpg", "photos/cut.jpg", "photos/notes.png"]
    prefix = f"t{time.time_ns()}"
    manifest = _manifest(folder, local_s3, prefix, urls)
    env = {**local_s3.env(), "HOME": str(user_home), "RUNCOMFY_API_TOKEN": "t",
           "RUNCOMFY_API_BASE": "http://127.0.0.1:9"}
    for verb in (["validate"], ["run", "--dry-run"], ["submit"]):
        done = nanobatch([*verb, str(manifest)], tmp_path / "home", folder, **env)
        assert done.returncode == 2, done.stdout + done.stderr
        text = done.stderr
        assert len(text.splitlines()) == 7, text
        for n, what in [(1, "local file 'photos/shadow.jpg' is /etc/shadow, outside the manifest's folder"),
                        (2, "local file 'photos/passwd.jpg' is /etc/passwd, outside the manifest's folder"),
                        (3, f"local file {hostname!r} is /etc/hostname, outside the manifest's folder"),
                        (4, f"local file '~/.bashrc' is {user_home / '.bashrc'}, outside the manifest's folder"),
                        (5, "local file 'photos/empty.jpg' is empty"),
                        (6, "local file 'photos/cut.jpg' is cut short (a JPEG without its end marker)"),
                        (7, "local file 'photos/notes.png' is not an image")]:
            assert f"error: {manifest}:{7 + n}: jobs[{n}].image_urls.0: {what}" in text, text
        assert "photos/ok.jpg" not in text
    assert _keys(local_s3, prefix) == []  # nothing at all was uploaded, not even the good photo
    assert not (tmp_path / "home" / "nanobatch.db").exists()


def test_photos_on_a_shared_drive_need_their_folder_named_in_local_roots(tmp_path: Path, local_s3: LocalS3) -> None:
    folder, shared = tmp_path / "manifests", tmp_path / "drive" / "photos"
    folder.mkdir()
    data = _jpeg(shared / "sku-1.jpg")
    prefix = f"t{time.time_ns()}"
    env = {**local_s3.env(), "RUNCOMFY_API_TOKEN": "t", "RUNCOMFY_API_BASE": "http://127.0.0.1:9"}
    manifest = _manifest(folder, local_s3, prefix, ["../drive/photos/sku-1.jpg"])
    refused = nanobatch(["validate", str(manifest)], tmp_path / "home", folder, **env)
    assert refused.returncode == 2
    assert (f"{manifest}:7: jobs[0].image_urls.0: local file '../drive/photos/sku-1.jpg' is {shared / 'sku-1.jpg'}, "
            "outside the manifest's folder: move it there, or name its folder in storage: {local_roots: [...]}"
            ) in refused.stderr
    bad_root = _manifest(folder, local_s3, prefix, ["../drive/photos/sku-1.jpg"], "  local_roots: [../nowhere]\n")
    wrong = nanobatch(["validate", str(bad_root)], tmp_path / "home", folder, **env)
    assert f"{bad_root}:5: storage.local_roots.0: '../nowhere' is not a folder" in wrong.stderr, wrong.stderr
    allowed = _manifest(folder, local_s3, prefix, ["../drive/photos/sku-1.jpg"], "  local_roots: [../drive]\n")
    done = nanobatch(["submit", str(allowed)], tmp_path / "home", folder, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    (key,) = _keys(local_s3, prefix)
    assert open_store(local_s3.url(), env=local_s3.env()).read(key) == data
