"""A recorded output file, opened only if it is still what the database says it is.

Whatever sits at a recorded path now may not be what nanobatch wrote there: a user retouched
it, or someone put a link to another file in its place. Readers that hand a file on (the web
app, exports) or delete it (prune) open it here: never through a link (``O_NOFOLLOW``), only a
regular file, only with the recorded size (and, where it matters, the recorded sha256), all
checked on the open descriptor, so the file checked is the file read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import BinaryIO

CHUNK = 1 << 20
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def open_recorded(path: str, size: int) -> BinaryIO | None:
    """``path`` open for reading if it is a regular file (not a link) of ``size`` bytes; None otherwise."""
    try:
        fd = os.open(path, _FLAGS)  # O_NONBLOCK: a FIFO put there does not hang the open
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def sha256_of(handle: BinaryIO) -> str:
    """The sha256 of what is left to read in ``handle``."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def file_matches(path: str, size: int, sha256: str) -> bool:
    """True if ``path`` is a regular file (not a link) with exactly this size and sha256."""
    handle = open_recorded(path, size)
    if handle is None:
        return False
    try:
        with handle:
            return sha256_of(handle) == sha256
    except OSError:
        return False


def read_recorded(path: str, size: int, sha256: str) -> bytes | None:
    """The bytes of ``path`` if it is the recorded file (see ``file_matches``); None otherwise."""
    handle = open_recorded(path, size)
    if handle is None:
        return None
    try:
        with handle:
            data = handle.read(size + 1)
    except OSError:
        return None
    return data if len(data) == size and hashlib.sha256(data).hexdigest() == sha256 else None
