"""The fallback socket directory under /tmp (a data directory path too long for a socket) must be ours."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from batch.embedded import redis as redis_server
from batch.errors import ConfigError

NOBODY = 65534


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /tmp (the real one is shared with everything else on this machine)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(redis_server, "TMP_ROOT", root)
    return root


def long_home(tmp_path: Path) -> Path:
    home = tmp_path / ("x" * 120)
    assert len(str(home / "redis" / "redis.sock")) > redis_server.SOCKET_PATH_MAX
    return home


def test_a_short_home_keeps_its_socket_inside(tmp_path: Path, tmp_root: Path) -> None:
    assert redis_server.socket_for(tmp_path) == tmp_path / "redis" / "redis.sock"
    assert not any(tmp_root.iterdir())


def test_a_long_home_gets_a_private_directory(tmp_path: Path, tmp_root: Path) -> None:
    sock = redis_server.socket_for(long_home(tmp_path), create=True)
    folder = tmp_root / f"nanobatch-{os.getuid()}"
    assert sock.parent == folder
    info = folder.lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    assert redis_server.socket_for(long_home(tmp_path)) == sock  # the same path every time


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user (chown) needs root")
def test_another_users_directory_is_refused(tmp_path: Path, tmp_root: Path) -> None:
    theirs = tmp_root / f"nanobatch-{os.getuid()}"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(ConfigError, match=f"belongs to uid {NOBODY}, not to you"):
        redis_server.socket_for(long_home(tmp_path))
    with pytest.raises(ConfigError, match="refusing to use it"):
        redis_server.ensure_redis(long_home(tmp_path), timeout=1)
    assert not any(theirs.iterdir())  # nothing of ours went into it


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o710])
def test_a_directory_others_can_enter_is_refused(tmp_path: Path, tmp_root: Path, mode: int) -> None:
    shared = tmp_root / f"nanobatch-{os.getuid()}"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(ConfigError, match=f"has mode {mode:o}, not 700"):
        redis_server.socket_for(long_home(tmp_path))


def test_a_link_in_its_place_is_refused(tmp_path: Path, tmp_root: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_root / f"nanobatch-{os.getuid()}").symlink_to(target)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        redis_server.socket_for(long_home(tmp_path), create=True)
