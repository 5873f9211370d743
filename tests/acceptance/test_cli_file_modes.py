"""Files made for users (outputs, exports, reports) follow the umask; the home's files stay 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from batch.simulator import spawn_simulator
from tests.helpers import write_manifest


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_results_follow_the_umask_and_the_home_stays_private(tmp_path: Path, umask: int) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBATCH_", "RUNCOMFY_"))}

    def nanobatch(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "batch", *args], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=240, umask=umask)
        assert done.returncode == 0, done.stdout + done.stderr

    with spawn_simulator(["--latency", "0"]) as sim:
        env.update(NANOBATCH_HOME=str(home), RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
        nanobatch("run", str(write_manifest(tmp_path, sim.base_url, items=2, styles=1)))
    nanobatch("review", "approve", "1", "--all")
    nanobatch("export", "1", "--approved", str(tmp_path / "shop"))
    nanobatch("report", "1", "-o", str(tmp_path / "report.csv"))
    nanobatch("report", "1", "-o", str(tmp_path / "report.html"))

    shared = 0o666 & ~umask
    results = [*(tmp_path / "out").rglob("*.png"), *(tmp_path / "shop").rglob("*.png"),
               tmp_path / "shop" / "export.csv", tmp_path / "report.csv", tmp_path / "report.html"]
    assert len(results) == 7
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in results} == {
        str(p.relative_to(tmp_path)): oct(shared) for p in results}
    private = [p for p in home.rglob("*") if p.is_file()]  # the database, logs, the broker's AOF, locks
    assert home / "nanobatch.db" in private and home / "worker.log" in private
    assert {str(p): oct(_mode(p)) for p in private} == {str(p): oct(0o600) for p in private}
