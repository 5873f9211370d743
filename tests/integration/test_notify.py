"""Batch-end notifications: a webhook to a local HTTP receiver, retries, and the command notifier."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from batch.engine.notify import Policy, notify_finished
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import db
from batch.store.models import Batch, Job, Notification
from tests.conftest import Backend
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST body and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver answering 200."""
    rec = Receiver()
    yield rec
    rec.server.shutdown()


def notes(sessions: sessionmaker[Session]) -> list[Notification]:
    with sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def stored_batch(folder: Path, db_url: str, notify: str, items: int = 2) -> tuple[sessionmaker[Session], int]:
    """A batch (never run) whose manifest has ``notify`` as its notify: block."""
    rt = make_runtime(make_settings(folder, db_url, "http://127.0.0.1:9"))
    path = write_manifest(folder, "http://127.0.0.1:9", items=items, styles=2, extra=f"notify:\n{notify}\n")
    return rt.sessions, submit_manifest(rt, path, time.time())


def finish(sessions: sessionmaker[Session], batch_id: int) -> None:
    with db.transaction(sessions) as session:
        session.execute(update(Job).where(Job.batch_id == batch_id).values(state="succeeded", finished_at=1.0e9))


def test_webhook_gets_the_summary_once_the_batch_is_done(tmp_path: Path, backend: Backend,
                                                         receiver: Receiver) -> None:
    config = SimulatorConfig(latency=(0.0, 0.0), fail_rate=0.5, seed=7, workers=8)
    with running_simulator(config) as sim:
        rt = make_runtime(make_settings(tmp_path, backend.db_url, sim.base_url, max_attempts=1), backend.redis_url)
        path = write_manifest(tmp_path, sim.base_url, items=4, styles=2, name="nightly",
                              extra=f"notify:\n  webhook: {receiver.url}\n")
        batch_id = submit_manifest(rt, path, time.time())
        assert notify_finished(rt.sessions, time.time()) == 0 and notes(rt.sessions) == []  # not done yet
        drain(rt, batch_id, timeout=60)
    assert notify_finished(rt.sessions, time.time()) == 1
    assert notify_finished(rt.sessions, time.time() + 3600) == 0  # sent once
    (body,) = receiver.bodies
    with rt.sessions() as session:
        jobs = session.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.id)).all()
    failed = [j for j in jobs if j.state == "failed"]
    assert 0 < len(failed) < 8
    assert body["batch_id"] == batch_id and body["name"] == "nightly" and body["total"] == 8
    assert body["counts"] == {"succeeded": 8 - len(failed), "failed": len(failed)}
    assert body["failures"] == [{"id": j.key, "error": j.error} for j in failed]
    assert body["cost_usd"] == float(sum((j.cost or Decimal(0) for j in jobs), Decimal(0)))
    assert body["report_path"] is None
    last = max(j.finished_at or 0.0 for j in jobs)
    assert body["finished_at"] == time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(int(last)))
    (note,) = notes(rt.sessions)
    assert (note.channel, note.state, note.attempts) == ("webhook", "sent", 1)


def test_failing_webhook_is_retried_then_recorded_failed(tmp_path: Path, backend: Backend) -> None:
    down = Receiver(status=500)
    try:
        sessions, batch_id = stored_batch(tmp_path, backend.db_url, f"  webhook: {down.url}")
        finish(sessions, batch_id)
        with sessions() as session:
            before = session.get(Batch, batch_id)
            assert before is not None
        policy = Policy(max_attempts=3, backoff_base=10.0)
        now = time.time()
        for offset, expected_calls in ((0, 1), (5, 1), (10, 2), (29, 2), (30, 3), (10_000, 3)):
            assert notify_finished(sessions, now + offset, policy=policy) == 0
            assert len(down.bodies) == expected_calls, offset
    finally:
        down.server.shutdown()
    (note,) = notes(sessions)
    assert (note.state, note.attempts, note.last_error) == ("failed", 3, "webhook: answered HTTP 500")
    assert "secret" not in (note.last_error or "")
    with sessions() as session:
        after = session.get(Batch, batch_id)
        states = set(session.scalars(select(Job.state).where(Job.batch_id == batch_id)))
    assert after is not None and after.options == before.options and after.finished_at == before.finished_at
    assert states == {"succeeded"}


def test_unreachable_webhook_is_retried(tmp_path: Path, sqlite_url: str) -> None:
    sessions, batch_id = stored_batch(tmp_path, sqlite_url, "  webhook: http://127.0.0.1:9/hook")
    finish(sessions, batch_id)
    now = time.time()
    assert notify_finished(sessions, now, policy=Policy(backoff_base=60.0)) == 0
    (note,) = notes(sessions)
    assert (note.state, note.attempts, note.next_attempt_at) == ("pending", 1, now + 60.0)
    assert note.last_error == "webhook: ConnectionError (could not deliver)"


def test_command_notifier_gets_the_summary_on_stdin(tmp_path: Path, backend: Backend) -> None:
    out = tmp_path / "summary.json"
    command = f"cat > {out} && echo $NANOBATCH_BATCH_ID > {tmp_path / 'id.txt'}"
    sessions, batch_id = stored_batch(tmp_path, backend.db_url, f"  command: '{command}'")
    finish(sessions, batch_id)
    assert notify_finished(sessions, time.time()) == 1
    summary = json.loads(out.read_text())
    assert summary["batch_id"] == batch_id and summary["counts"] == {"succeeded": 4}
    assert summary["failures"] == [] and summary["finished_at"] == "2001-09-09T01:46:40+00:00"
    assert (tmp_path / "id.txt").read_text().strip() == str(batch_id)


def test_command_notifier_does_not_see_the_api_token(tmp_path: Path, sqlite_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "tok-secret-123")
    monkeypatch.setenv("RUNCOMFY_API_TOKEN_FILE", "/etc/token")
    monkeypatch.setenv("NANOBATCH_SOMETHING", "kept")
    out = tmp_path / "env.txt"
    sessions, batch_id = stored_batch(tmp_path, sqlite_url, f"  command: 'env > {out}'")
    finish(sessions, batch_id)
    assert notify_finished(sessions, time.time()) == 1
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert not [name for name in seen if name.startswith("RUNCOMFY_")]
    assert "tok-secret-123" not in out.read_text()
    assert (seen["NANOBATCH_SOMETHING"], seen["NANOBATCH_BATCH_ID"]) == ("kept", str(batch_id))


def test_failing_command_and_both_channels(tmp_path: Path, sqlite_url: str, receiver: Receiver) -> None:
    block = f"  webhook: {receiver.url}\n  command: 'echo boom >&2; exit 3'"
    sessions, batch_id = stored_batch(tmp_path, sqlite_url, block)
    finish(sessions, batch_id)
    assert notify_finished(sessions, time.time(), policy=Policy(max_attempts=1)) == 1
    by_channel = {n.channel: n for n in notes(sessions)}
    assert by_channel["webhook"].state == "sent" and len(receiver.bodies) == 1
    assert (by_channel["command"].state, by_channel["command"].last_error) == ("failed", "command: exit status 3: boom")


def test_notify_block_without_a_channel_is_recorded_not_rescanned(tmp_path: Path, sqlite_url: str) -> None:
    sessions, batch_id = stored_batch(tmp_path, sqlite_url, "  on: [finished]")  # an unknown key is refused
    finish(sessions, batch_id)
    assert notify_finished(sessions, time.time()) == 0
    (note,) = notes(sessions)
    assert (note.channel, note.state) == ("none", "failed")
    assert notify_finished(sessions, time.time()) == 0 and len(notes(sessions)) == 1


def test_each_pause_is_announced_once_on_every_backend(tmp_path: Path, backend: Backend, receiver: Receiver) -> None:
    from batch.store import jobs as job_store

    sessions, batch_id = stored_batch(tmp_path, backend.db_url,
                                      f"  webhook: {receiver.url}\n  command: 'true'\n  on: [paused, budget]")
    now = time.time()
    for pause_at in (now, now + 100):
        with db.transaction(sessions) as session:
            job_store.pause(session, batch_id, "the API refused the token", now=pause_at)
        for offset in (1, 2, 500):  # several passes (several beats) while it stays paused
            notify_finished(sessions, pause_at + offset)
        with db.transaction(sessions) as session:
            job_store.unpark(session, batch_id, pause_at + 50)
    assert [b["event"] for b in receiver.bodies] == ["paused", "paused"]
    assert receiver.bodies[0]["reason"] == "the API refused the token"
    assert sorted((n.channel, n.state) for n in notes(sessions)) == [
        ("command:paused:1", "sent"), ("command:paused:2", "sent"), ("webhook:paused:1", "sent"),
        ("webhook:paused:2", "sent")]


def test_a_budget_reached_by_several_jobs_is_one_event(tmp_path: Path, sqlite_url: str, receiver: Receiver) -> None:
    from batch.store import jobs as job_store

    sessions, batch_id = stored_batch(tmp_path, sqlite_url, f"  webhook: {receiver.url}\n  on: [budget]")
    with sessions() as session:
        first, second = session.scalars(select(Job.id).where(Job.batch_id == batch_id).order_by(Job.id).limit(2))
    now = time.time()
    for job_id, at in ((first, now), (second, now + 5)):  # two submits in flight both find the budget spent
        with db.transaction(sessions) as session:
            job_store.park_pending(session, batch_id, job_id, "w", reason="budget $0.30 reached", now=at)
        notify_finished(sessions, at + 1)
    assert [(b["event"], b["reason"]) for b in receiver.bodies] == [("budget", "budget $0.30 reached")]
