"""The one way nanobatch puts a file in place: write beside the target, then rename.

A reader never sees half a file, and a crash leaves at most a hidden ``.part`` file beside the
target, never a truncated file under the target's name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(target: Path, *, tag: str | None = None, durable: bool = True,
                folder: Path | None = None) -> Iterator[BinaryIO]:
    """A temporary file beside ``target``, open for writing and reading back; renamed onto
    ``target`` when the block ends without error, removed when it raises.

    ``tag`` fixes the temporary name (``.<name>.<tag>.part``: a retry by the same writer
    overwrites its own leftover); without it the name is unique. ``durable`` fsyncs the file
    before the rename. ``folder``: where the temporary file goes instead (on the target's file
    system). The target's folder (and ``folder``) must exist.
    """
    folder = target.parent if folder is None else folder
    if tag is None:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
        handle: BinaryIO = os.fdopen(fd, "w+b")
        tmp = Path(name)
    else:
        tmp = folder / f".{target.name}.{tag}.part"
        handle = open(tmp, "w+b")  # noqa: SIM115 (closed below, before the rename)
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
