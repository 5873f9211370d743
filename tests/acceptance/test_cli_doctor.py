"""``nanobatch doctor``: one line per check, ``--json`` with a stable schema, exit 0 only if all pass.

Run against the simulator over real HTTP, the embedded Redis, SQLite and SeaweedFS for buckets.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from batch.simulator import spawn_simulator
from batch.storage.localserver import LocalS3
from tests.acceptance.test_cli import nanobatch
from tests.conftest import Backend
from tests.helpers import write_manifest
from tests.storage_helpers import photos_manifest

CHECK_KEYS = {"name", "status", "detail", "seconds"}


def doctor_json(args: list[str], home: Path, cwd: Path, **env: str) -> tuple[int, dict[str, Any]]:
    done = nanobatch(["doctor", "--json", *args], home, cwd, **env)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in doc["checks"]}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_doctor_passes_against_the_simulator_with_a_manifest_and_schedules(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2)
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - {name: nightly, manifest: jobs.yaml, cron: '0 2 * * *'}\n")
    with spawn_simulator(["--latency", "0-0", "--token", "good"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "good", "NANOBATCH_SCHEDULES": str(schedules)}
        code, doc = doctor_json([str(manifest)], tmp_path / "home", tmp_path, **env)
        text = nanobatch(["doctor", str(manifest)], tmp_path / "home", tmp_path, **env)
    assert code == 0 and doc["ok"] is True, doc
    assert set(doc) == {"ok", "checks"} and all(set(check) == CHECK_KEYS for check in doc["checks"])
    assert [c["name"] for c in doc["checks"]] == ["token", "api latency", "broker", "database", "manifest", "bucket",
                                                 "free space", "schedules"]
    checks = by_name(doc)
    assert "404" in checks["token"]["detail"] and checks["token"]["status"] == "ok"
    assert isinstance(checks["api latency"]["seconds"], float)
    assert checks["bucket"]["status"] == "skip" and checks["schedules"]["detail"].endswith("1 schedules")
    assert text.returncode == 0
    assert [line.split()[0] for line in text.stdout.splitlines()] == ["ok", "ok", "ok", "ok", "ok", "skip", "ok", "ok"]
    assert not (tmp_path / "home" / "nanobatch.db").exists()  # the doctor creates no database


def test_doctor_fails_on_a_refused_token_and_never_prints_it(tmp_path: Path) -> None:
    with spawn_simulator(["--latency", "0-0", "--token", "good"]) as sim:
        done = nanobatch(["doctor"], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE=sim.base_url,
                         RUNCOMFY_API_TOKEN="wrong-token-value")
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert line.split()[1] == "token" and "401" in line
    assert "wrong-token-value" not in done.stdout + done.stderr


def test_doctor_fails_without_a_token_or_an_api(tmp_path: Path) -> None:
    code, doc = doctor_json([], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE="http://127.0.0.1:9")
    assert code == 1 and by_name(doc)["token"]["status"] == "fail"
    assert "RUNCOMFY_API_TOKEN" in by_name(doc)["token"]["detail"]
    code, doc = doctor_json([], tmp_path / "home", tmp_path, RUNCOMFY_API_BASE=f"http://127.0.0.1:{closed_port()}",
                            RUNCOMFY_API_TOKEN="t")
    assert code == 1 and by_name(doc)["api latency"]["status"] == "fail"


def test_doctor_fails_when_broker_database_space_or_schedules_are_wrong(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=1)
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text("schedules:\n  - {name: nightly, manifest: missing.yaml, cron: 'every night'}\n")
    home = tmp_path / "home"
    with spawn_simulator(["--latency", "0-0"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        assert nanobatch(["submit", str(manifest)], home, tmp_path, **env).returncode == 0
        code, doc = doctor_json([str(manifest)], home, tmp_path, **env)
        assert code == 0, doc
        assert "migrations at head" in by_name(doc)["database"]["detail"]
        with sqlite3.connect(home / "nanobatch.db") as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0001'")
        code, doc = doctor_json([str(manifest)], home, tmp_path, NANOBATCH_SCHEDULES=str(schedules),
                                NANOBATCH_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
                                NANOBATCH_OUTPUT_BYTES=str(10**18), **env)
    checks = by_name(doc)
    assert code == 1 and doc["ok"] is False
    assert {name for name, check in checks.items() if check["status"] == "fail"} == {
        "broker", "database", "free space", "schedules"}
    assert "revision 0001" in checks["database"]["detail"]
    assert checks["schedules"]["detail"].startswith(f"{schedules}:2: ")


def test_doctor_probes_the_buckets_a_manifest_writes_to(tmp_path: Path, local_s3: LocalS3) -> None:
    prefix = f"doctor{time.time_ns()}"
    manifest = photos_manifest(tmp_path, local_s3, prefix, photos=1, output_url=local_s3.url(f"{prefix}/out"))
    with spawn_simulator(["--latency", "0-0"]) as sim:
        env = {**local_s3.env(), "RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t"}
        code, doc = doctor_json([str(manifest)], tmp_path / "home", tmp_path, **env)
        assert code == 0, doc
        [bucket] = [c for c in doc["checks"] if c["name"] == "bucket"]  # inputs and outputs: one bucket
        assert bucket["status"] == "ok" and "write probe written and deleted" in bucket["detail"]
        wrong = {**env, "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
        code, doc = doctor_json([str(manifest)], tmp_path / "home", tmp_path, **wrong)
    assert code == 1 and {c["status"] for c in doc["checks"] if c["name"] == "bucket"} == {"fail"}
    assert "access denied" in json.dumps(doc) and "wrong-secret" not in json.dumps(doc)
    from batch.storage.store import open_store

    left = open_store(local_s3.url(""), endpoint_url=local_s3.endpoint, env=local_s3.env()).keys(prefix)
    assert not [key for key in left if ".nanobatch-doctor" in key]


def test_doctor_on_each_backend_before_and_after_the_first_submit(tmp_path: Path, backend: Backend) -> None:
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1)
    with spawn_simulator(["--latency", "0-0"]) as sim:
        env = {"RUNCOMFY_API_BASE": sim.base_url, "RUNCOMFY_API_TOKEN": "t", "NANOBATCH_DATABASE_URL": backend.db_url,
               "NANOBATCH_REDIS_URL": backend.redis_url}
        code, doc = doctor_json([], tmp_path / "home", tmp_path, **env)
        assert code == 0 and "empty" in by_name(doc)["database"]["detail"], doc
        assert "answers" in by_name(doc)["broker"]["detail"]
        assert nanobatch(["submit", str(manifest)], tmp_path / "home", tmp_path, **env).returncode == 0
        code, doc = doctor_json([], tmp_path / "home", tmp_path, **env)
    assert code == 0 and "migrations at head" in by_name(doc)["database"]["detail"], doc
