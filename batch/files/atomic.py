"""The one way nanobatch puts a file in place: write beside the target, then rename.

A reader never sees half a file, and a crash leaves at most a hidden ``.part`` file beside the
target, never a truncated file under the target's name.

Two modes, chosen by the caller: ``SHARED`` for what is made for the user to hand on (output
images, exports, reports), created like any file a program makes, so the umask decides who may
read it; ``PRIVATE`` (0600 whatever the umask) for anything under the home (caches, state).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal

FileMode = Literal["shared", "private"]
SHARED: FileMode = "shared"
PRIVATE: FileMode = "private"
_PERMISSIONS: dict[FileMode, int] = {SHARED: 0o666, PRIVATE: 0o600}  # the umask then takes its bits off
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _create(path: Path, mode: FileMode) -> BinaryIO:
    """A new file at ``path`` (never through a link, never an existing file), open for writing and reading."""
    return os.fdopen(os.open(path, _FLAGS, _PERMISSIONS[mode]), "w+b")


@contextmanager
def atomic_file(target: Path, *, mode: FileMode, tag: str | None = None, durable: bool = True,
                folder: Path | None = None) -> Iterator[BinaryIO]:
    """A temporary file beside ``target``, open for writing and reading back; renamed onto
    ``target`` when the block ends without error, removed when it raises.

    ``mode``: ``SHARED`` (the umask decides, for files users hand on) or ``PRIVATE`` (0600).
    ``tag`` fixes the temporary name (``.<name>.<tag>.part``: a retry by the same writer
    replaces its own leftover); without it the name is unique. ``durable`` fsyncs the file
    before the rename. ``folder``: where the temporary file goes instead (on the target's file
    system). The target's folder (and ``folder``) must exist. The rename replaces a link at
    ``target`` itself, never the file it points to.
    """
    folder = target.parent if folder is None else folder
    if tag is not None:
        tmp = folder / f".{target.name}.{tag}.part"
        tmp.unlink(missing_ok=True)
        handle = _create(tmp, mode)
    else:
        while True:
            tmp = folder / f".{target.name}.{secrets.token_hex(6)}.part"
            try:
                handle = _create(tmp, mode)
                break
            except FileExistsError:
                continue
    try:
        with handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
