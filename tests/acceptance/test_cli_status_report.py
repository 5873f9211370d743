"""``nanobatch status`` and ``nanobatch report`` run as a user runs them, on a batch run in-process."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import db
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Prepared:
    """A database with one finished batch (4 jobs) and one never run (2 pending jobs)."""

    env: dict[str, str]
    folder: Path
    done_id: int
    pending_id: int


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    folder = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{folder / 'nb.db'}"
    with running_simulator(SimulatorConfig(port=0, latency=(0.0, 0.0), workers=8)) as sim:
        rt = make_runtime(make_settings(folder, url, sim.base_url))
        done_id = submit_manifest(rt, write_manifest(folder, sim.base_url, items=2, styles=2, name="done"),
                                  time.time())
        drain(rt, done_id, timeout=60)
        (folder / "later").mkdir()
        pending_id = submit_manifest(
            rt, write_manifest(folder / "later", sim.base_url, items=1, styles=2, name="later"), time.time())
        db.dispose_engines()
        env = {**os.environ, "NANOBATCH_HOME": str(folder), "NANOBATCH_DATABASE_URL": url,
               "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "test-token", "COLUMNS": "160"}
        yield Prepared(env, folder, done_id, pending_id)


def nb(prepared: Prepared, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "batch", *args], env=prepared.env, cwd=prepared.folder,
                          capture_output=True, text=True, timeout=120, check=False)


def test_status_json_of_one_batch_keeps_its_document(prepared: Prepared) -> None:
    done = nb(prepared, "status", str(prepared.done_id), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert {"batch_id", "name", "total", "counts", "done"} <= set(doc)
    assert (doc["batch_id"], doc["name"], doc["total"], doc["counts"], doc["done"]) == (
        prepared.done_id, "done", 4, {"succeeded": 4}, True)


def test_status_without_batch_lists_recent_batches(prepared: Prepared) -> None:
    listed = nb(prepared, "status", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["batch_id"] for r in rows] == [prepared.pending_id, prepared.done_id]  # newest first
    later, done = rows
    assert (done["total"], done["done"], done["succeeded"], done["failed"]) == (4, 4, 4, 0)
    assert done["cost_usd"] == pytest.approx(0.6) and done["created_at"].endswith("Z")
    assert (later["total"], later["done"], later["counts"]) == (2, 0, {"pending": 2})

    table = nb(prepared, "status")
    assert table.returncode == 0, table.stderr
    assert "recent batches" in table.stdout and "later" in table.stdout and "$0.60" in table.stdout


def test_watch_of_a_finished_batch_returns_at_once(prepared: Prepared) -> None:
    watched = nb(prepared, "status", str(prepared.done_id), "--watch", "--interval", "0.1")
    assert watched.returncode == 0, watched.stderr
    assert "4/4" in watched.stdout and "succeeded 4" in watched.stdout


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("background", [False, True], ids=["foreground", "sigint-ignored"])
def test_watch_stops_cleanly_on_ctrl_c(prepared: Prepared, background: bool) -> None:
    """Also when started with SIGINT ignored, as a shell's background job is (the suite run with ``&``)."""
    proc = subprocess.Popen([sys.executable, "-m", "batch", "status", str(prepared.pending_id), "--watch",
                             "--interval", "0.1"], env=prepared.env, cwd=prepared.folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ignore_sigint if background else None)
    try:
        time.sleep(3.0)  # the interpreter starts, imports and enters the watch loop
        assert proc.poll() is None, "the watch ended though no job of the batch ran"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # never left behind, whatever failed
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped watching" in out and "Traceback" not in err


def test_report_formats(prepared: Prepared) -> None:
    for name in ("r.csv", "r.json", "r.html"):
        made = nb(prepared, "report", str(prepared.done_id), "-o", name)
        assert made.returncode == 0, made.stderr
        assert made.stdout.strip() == str(prepared.folder / name)
    with (prepared.folder / "r.csv").open(newline="") as handle:
        assert [row["state"] for row in csv.DictReader(handle)] == ["succeeded"] * 4
    assert len(json.loads((prepared.folder / "r.json").read_text())["jobs"]) == 4
    page = (prepared.folder / "r.html").read_text()
    assert page.count('<article class="card"') == 4 and "data:image/jpeg;base64," in page

    forced = nb(prepared, "report", str(prepared.done_id), "--format", "json", "-o", "report.out")
    assert forced.returncode == 0 and json.loads((prepared.folder / "report.out").read_text())["batch"]
    default = nb(prepared, "report", str(prepared.done_id))
    assert default.returncode == 0 and default.stdout.strip().endswith(f"report-{prepared.done_id}.html")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "999", "-o", "r.csv"], "error: no batch 999"),
        (["report", "{done}", "-o", "/no/such/dir/r.csv"], "error: cannot write /no/such/dir/r.csv: no directory"),
        (["report", "{done}", "-o", "r.txt"], "error: cannot tell the format of 'r.txt'"),
        (["status", "999"], "error: no batch 999"),
        (["status", "{done}", "--watch", "--json"], "error: --watch and --json do not mix"),
    ],
)
def test_errors_are_one_line_exit_2(prepared: Prepared, args: list[str], message: str) -> None:
    failed = nb(prepared, *[a.format(done=prepared.done_id) for a in args])
    assert failed.returncode == 2
    assert failed.stderr.startswith(message) and failed.stderr.count("\n") == 1
    assert "Traceback" not in failed.stderr
