"""Input images given as local files or bucket references, resolved while the manifest expands.

An ``image_urls`` entry that is neither an http(s) URL nor a bucket reference (``s3://``,
``gs://``, ``az://``) is a local file, relative to the manifest's folder. It must resolve (links
followed) inside that folder or inside one of ``storage.local_roots``, be a regular file and an
intact image: whatever it is, it would be uploaded and handed to the API. It is hashed and
replaced by the reference it will be uploaded to (``<storage url>/inputs/<sha256>.<ext>``):
the job keeps that stable reference, never a signed URL, so its fingerprint is the same from
run to run. The upload itself happens at submit (``batch.storage.prepare``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batch.core.schema import is_public_url
from batch.storage.config import DEFAULT_URL_EXPIRY, MAX_URL_EXPIRY, MIN_URL_EXPIRY, StorageConfig
from batch.storage.refs import is_ref, key_problem, parse_ref
from batch.storage.uploads import InputFileError, LocalInput, read_input

_URL_PREFIXES = ("https://", "http://")


def url_ok(value: object) -> bool:
    """What the manifest accepts as an image: a public http(s) URL or a bucket reference with a key."""
    return is_public_url(value) or is_ref(value)


class InputResolver:
    """Turns local paths in ``image_urls`` into upload references; remembers what to upload."""

    def __init__(self, base_dir: Path, storage: StorageConfig | None, roots: tuple[Path, ...] = ()) -> None:
        self.base_dir = base_dir
        self.storage = storage
        self.roots = (base_dir.resolve(), *roots)  # where local inputs may be (resolved folders)
        self.uploads: dict[str, LocalInput] = {}
        self._seen: dict[str, tuple[str | None, str | None]] = {}

    def resolve(self, inputs: dict[str, Any], line: int = 0) -> tuple[dict[str, Any], dict[int, str]]:
        """``inputs`` with local files replaced by references, and a problem per unusable file (by index).

        ``line``: where these inputs are written (kept with each file, for problems found at upload).
        """
        urls = inputs.get("image_urls")
        if type(urls) is not list:
            return inputs, {}
        for url in urls:  # the common case, all URLs, costs one loop (100,000 jobs: no genexpr per job)
            if type(url) is not str or not url.startswith(_URL_PREFIXES):
                break
        else:
            return inputs, {}
        resolved: list[Any] = []
        problems: dict[int, str] = {}
        for index, url in enumerate(urls):
            if not isinstance(url, str) or "://" in url or not url.strip():
                resolved.append(url)
                continue
            ref, problem = self._seen.get(url) or self._local(url, line)
            self._seen[url] = (ref, problem)
            if problem is not None:
                problems[index] = problem
            resolved.append(ref or url)
        return {**inputs, "image_urls": resolved}, problems

    def _local(self, text: str, line: int) -> tuple[str | None, str | None]:
        try:
            path = (self.base_dir / Path(text).expanduser()).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, a dangling or looping link
            return None, f"local file {text!r} not found (paths are relative to the manifest's folder)"
        if not any(path.is_relative_to(root) for root in self.roots):
            return None, (f"local file {text!r} is {path}, outside the manifest's folder"
                          f"{' and storage.local_roots' if len(self.roots) > 1 else ''}: move it there, or name "
                          "its folder in storage: {local_roots: [...]}")
        if self.storage is None:
            return None, (f"local file {text!r} needs a storage: block (e.g. storage: {{url: s3://bucket/prefix}}) "
                          "to upload it to")
        try:
            digest = read_input(path)
        except InputFileError as err:
            return None, f"local file {text!r} {err}"
        ref = str(self.storage.input_ref(digest, path.suffix))
        self.uploads.setdefault(ref, LocalInput(path, digest, ref, text, line))
        return ref, None


def storage_config(block: dict[str, Any]) -> tuple[StorageConfig | None, dict[str, str]]:
    """A ``storage:`` block (plain values) as a config, or None and the problem of each bad field."""
    problems: dict[str, str] = {}
    url = block.get("url")
    ref = parse_ref(url)
    bad_key = key_problem(ref.key) if ref is not None else None
    if ref is None:
        problems["url"] = "required: the bucket and prefix to upload inputs to, e.g. s3://my-bucket/nanobatch"
    elif bad_key:
        problems["url"] = f"{url!r} {bad_key}"
    for key in ("endpoint_url", "region"):
        value = block.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems[key] = "must be a non-empty string"
    endpoint = block.get("endpoint_url")
    if isinstance(endpoint, str) and endpoint.strip() and not is_public_url(endpoint):
        problems["endpoint_url"] = f"must be an http(s) URL, not {endpoint!r}"
    expiry = block.get("url_expiry_seconds", DEFAULT_URL_EXPIRY)
    if isinstance(expiry, bool) or not isinstance(expiry, int) or not MIN_URL_EXPIRY <= expiry <= MAX_URL_EXPIRY:
        problems["url_expiry_seconds"] = (f"must be a whole number of seconds from {MIN_URL_EXPIRY} to "
                                          f"{MAX_URL_EXPIRY} (7 days)")
    if problems:
        return None, problems
    return StorageConfig(url=str(url).rstrip("/"), endpoint_url=block.get("endpoint_url"),
                         region=block.get("region"), url_expiry_seconds=int(expiry)), {}
