"""Bucket references: ``s3://bucket/key``, ``gs://bucket/key``, ``az://container/key`` (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SCHEMES = ("s3", "gs", "az")


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A place in an object store: scheme, bucket (container for Azure) and key ('' for the bucket)."""

    scheme: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}" if self.key else f"{self.scheme}://{self.bucket}"

    def child(self, name: str) -> ObjectRef:
        """The reference ``name`` below this one (``prefix/name``)."""
        key = f"{self.key.rstrip('/')}/{name}" if self.key else name
        return ObjectRef(self.scheme, self.bucket, key)


def parse_ref(text: object) -> ObjectRef | None:
    """The reference ``text`` names, or None when it is not one (a URL, a local path, junk)."""
    if not isinstance(text, str) or "://" not in text or text.strip() != text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in SCHEMES or not parts.netloc or parts.query or parts.fragment:
        return None
    return ObjectRef(parts.scheme, parts.netloc, parts.path.lstrip("/"))


def is_ref(text: object) -> bool:
    """True when ``text`` is a bucket reference with a key (something to sign)."""
    ref = parse_ref(text)
    return ref is not None and bool(ref.key)


def key_problem(key: str) -> str | None:
    """Why ``key`` (a prefix to write under) could name another place than it seems, or None.

    Stores and HTTP layers treat ``..``, ``.``, empty parts, percent-escapes and backslashes
    differently (some refuse them, some normalise them), so such a key is refused outright.
    """
    if "\\" in key:
        return "has a backslash: separate the parts of a key with '/'"
    if unquote(key) != key:
        return "has a percent-escape (such as %2e or %2f): write the key as it is meant"
    if not key.isprintable():
        return "has a control character"
    if key.rstrip("/") and any(part in ("", ".", "..") for part in key.rstrip("/").split("/")):
        return "has an empty, '.' or '..' part"
    return None
