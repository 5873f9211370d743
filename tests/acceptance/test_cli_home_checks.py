"""A home (NANOBATCH_HOME) that is not a private folder of ours is refused, and nothing in it is
written through a link: the checks of the /tmp socket fallback, applied to the home."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

NOBODY = 65534
API = {"RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "t"}


def test_a_home_others_may_enter_is_refused_with_the_fix(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, API["RUNCOMFY_API_BASE"], items=1, styles=1)
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    for verb in (["submit"], ["status"]):
        done = nanobatch([*verb, str(manifest)] if verb == ["submit"] else verb, home, tmp_path, **API)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr == (f"error: {home} has mode 755, not 700: run chmod 700 {home}: refusing to keep "
                               "nanobatch's data there\n")
    assert list(home.iterdir()) == []
    home.chmod(0o700)
    done = nanobatch(["submit", str(manifest)], home, tmp_path, **API)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user (chown) needs root")
def test_someone_elses_home_is_refused(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, API["RUNCOMFY_API_BASE"], items=1, styles=1)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    os.chown(home, NOBODY, NOBODY)
    done = nanobatch(["submit", str(manifest)], home, tmp_path, **API)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {home} belongs to uid {NOBODY}, not to you (uid 0): set NANOBATCH_HOME")
    assert list(home.iterdir()) == []


def test_a_link_planted_in_the_home_is_never_written_through(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, API["RUNCOMFY_API_BASE"], items=1, styles=1)
    home = tmp_path / "home"
    (home / "redis").mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    victim = tmp_path / "victim.conf"
    victim.write_text("precious\n")
    (home / "redis" / "redis.conf").symlink_to(victim)
    done = nanobatch(["run", str(manifest)], home, tmp_path, **API)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (f"error: {home / 'redis' / 'redis.conf'} is a symbolic link: refusing to write through it; "
            "remove it") in done.stderr
    assert victim.read_text() == "precious\n"


def test_serve_refuses_a_thumbnail_folder_that_is_a_link(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (home / "thumbs").symlink_to(elsewhere)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}
    done = subprocess.run([sys.executable, "-m", "batch", "serve", "--port", str(free_port())], cwd=tmp_path,
                          env={**env, "NANOBATCH_HOME": str(home)}, text=True, capture_output=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: {home / 'thumbs'} is a symbolic link (to {elsewhere})")
    assert list(elsewhere.iterdir()) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
