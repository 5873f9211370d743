"""A database that does not answer is one line naming it (never its password) and exit 2, for every command."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

PASSWORD = "db-secret-pw"


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("args", [["status"], ["status", "1", "--json"], ["submit", "MANIFEST"], ["report", "1"],
                                  ["retry", "1"], ["prune", "--older-than", "90d", "--yes"], ["review", "list", "1"]])
def test_a_database_that_is_down_is_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    url = f"postgresql+psycopg://nano:{PASSWORD}@127.0.0.1:{closed_port()}/nanobatch"
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1))
    done = nanobatch([manifest if a == "MANIFEST" else a for a in args], tmp_path / "home", tmp_path,
                     NANOBATCH_DATABASE_URL=url, RUNCOMFY_API_TOKEN="t", RUNCOMFY_API_BASE="http://127.0.0.1:9")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: cannot use the database postgresql+psycopg://nano:***@{url.split('@')[1]} (")
    assert "Connection refused" in lines[0] and "NANOBATCH_DATABASE_URL" in lines[0]
    assert PASSWORD not in done.stdout + done.stderr
