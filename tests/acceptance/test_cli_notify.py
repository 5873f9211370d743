"""Notifications on trouble, not only at the end (``notify: {on: [...], format: slack}``), through real
runs against the simulator, to a tiny HTTP receiver on loopback; each event announced once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest
from tests.integration.test_notify import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.server.shutdown()


def notify_block(receiver: Receiver, events: str, fmt: str = "json") -> str:
    return f"notify:\n  webhook: {receiver.url}\n  on: {events}\n  format: {fmt}\n"


def notification_rows(home: Path) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(home / "nanobatch.db") as conn:
        return [(channel, state) for channel, state in conn.execute(
            "SELECT channel, state FROM notifications ORDER BY id")]


def test_a_paused_batch_is_announced_once_in_slack_format_then_its_end(tmp_path: Path, receiver: Receiver) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.2", "--token", "right"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=1,
                                  extra=notify_block(receiver, "[paused, finished]", "slack"))
        env = {"RUNCOMFY_API_BASE": sim.base_url}
        done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_TOKEN="wrong", **env)
        assert done.returncode == 4, done.stdout + done.stderr
        assert len(receiver.bodies) == 1, receiver.bodies
        [paused] = receiver.bodies
        assert set(paused) == {"text"} and "batch 1 (test-batch) paused" in paused["text"]
        assert "401" in paused["text"] and "wrong" not in paused["text"]
        resumed = nanobatch(["resume", "1"], home, tmp_path, RUNCOMFY_API_TOKEN="right", **env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(receiver.bodies) == 2, receiver.bodies  # the pause, then the end (repeated passes: test_notify)
    assert receiver.bodies[1]["text"].startswith("nanobatch: batch 1 (test-batch) finished: 2 succeeded; $0.30 spent")
    assert sorted(notification_rows(home)) == [("webhook", "sent"), ("webhook:paused:1", "sent")]


def test_a_batch_stopped_by_its_budget_is_announced(tmp_path: Path, receiver: Receiver) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.2"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=4, styles=1,
                                  extra="budget_usd: 0.30\n" + notify_block(receiver, "[budget]"))
        done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_BASE=sim.base_url,
                         RUNCOMFY_API_TOKEN="t")
    assert done.returncode != 0, done.stdout + done.stderr
    [body] = receiver.bodies
    assert body["event"] == "budget" and body["reason"] == "budget $0.30 reached"
    assert body["batch_id"] == 1 and body["cost_usd"] == 0.3 and body["counts"].get("parked") == 2


def test_failed_is_sent_only_for_an_end_with_failed_jobs(tmp_path: Path, receiver: Receiver) -> None:
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0.1-0.2", "--fail-rate", "1"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=1, extra=notify_block(receiver, "[failed]"))
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_MAX_ATTEMPTS": "1"}
        done = nanobatch(["run", str(manifest)], home, tmp_path, **env)
        assert done.returncode == 1, done.stdout + done.stderr
        [body] = receiver.bodies
        assert body["event"] == "failed" and body["counts"] == {"failed": 2} and len(body["failures"]) == 2
    with spawn_simulator(["--latency", "0.1-0.2"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=1, styles=1, name="fine",
                                  extra=notify_block(receiver, "[failed]"))
        done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_BASE=sim.base_url,
                         RUNCOMFY_API_TOKEN="t")
        assert done.returncode == 0, done.stdout + done.stderr
    assert len(receiver.bodies) == 1  # the batch that succeeded did not ask for its end
    assert ("none", "skipped") in notification_rows(home)


def test_notify_is_checked_at_file_line(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1,
                              extra="notify:\n  webhook: http://127.0.0.1:9/x\n  on: [finished, paused, stalled]\n"
                                    "  format: teams\n  emails: [a@b.c]\n")
    done = nanobatch(["validate", str(manifest)], tmp_path / "home", tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    text = manifest.read_text().splitlines()
    on_line = next(i for i, line in enumerate(text, 1) if line.strip().startswith("on:"))
    assert f"error: {manifest}:{on_line}: notify.on.2: unknown event 'stalled'; expected some of finished, " \
           "failed, budget, paused, pilot" in lines
    assert any(f":{on_line + 1}: notify.format: must be one of json, slack, not 'teams'" in line for line in lines)
    assert any(f":{on_line + 2}: notify.emails: unknown key" in line for line in lines)
    assert not (tmp_path / "home" / "nanobatch.db").exists()


