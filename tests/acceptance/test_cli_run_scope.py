"""``nanobatch run``: it advances its own batch only, and announces it when it is finished."""

from __future__ import annotations

import json
from pathlib import Path

from batch.manifest import load_manifest
from batch.simulator import spawn_simulator
from batch.simulator.journal import body_sha256
from tests.acceptance.test_cli import nanobatch
from tests.helpers import journal_submits, write_manifest


def test_run_leaves_another_pending_batch_untouched(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.3", "--journal", str(journal)]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        (tmp_path / "alpha").mkdir()
        (tmp_path / "beta").mkdir()
        alpha = write_manifest(tmp_path / "alpha", sim.base_url, items=2, styles=2, name="alpha", fmt="jpeg")
        beta = write_manifest(tmp_path / "beta", sim.base_url, items=2, styles=1, name="beta", fmt="png")
        submitted = nanobatch(["submit", "--json", str(alpha)], home, tmp_path, **env)
        assert submitted.returncode == 0, submitted.stderr
        done = nanobatch(["run", str(beta)], home, tmp_path, **env)
        assert done.returncode == 0, done.stdout + done.stderr
    submits = set(journal_submits(journal))
    assert {body_sha256(spec.inputs) for spec in load_manifest(beta).jobs} <= submits
    assert not {body_sha256(spec.inputs) for spec in load_manifest(alpha).jobs} & submits
    status = json.loads(nanobatch(["status", "1", "--json"], home, tmp_path).stdout)
    assert status["counts"] == {"pending": 4}


def test_run_sends_the_batch_end_notification_before_it_exits(tmp_path: Path) -> None:
    received = tmp_path / "summary.json"
    with spawn_simulator(["--latency", "0.1-0.3"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=2,
                                  extra=f'notify:\n  command: "cat > {received}"\n')
        # the embedded beat's own pass would come only after a quarter of an hour
        done = nanobatch(["run", str(manifest)], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE=sim.base_url,
                         RUNCOMFY_API_TOKEN="t", NANOBATCH_NOTIFY_SECONDS="900")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(received.read_text())
    assert summary["batch_id"] == 1 and summary["counts"] == {"succeeded": 2}
