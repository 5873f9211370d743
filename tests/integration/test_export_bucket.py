"""An export whose local file was retouched after approval takes the approved bytes from the bucket copy."""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from batch.commands.export import export_approved
from batch.commands.review import decide
from batch.engine.tick import drain
from batch.manifest import load_manifest
from batch.simulator import SimulatorConfig, running_simulator
from batch.storage.localserver import LocalS3
from batch.storage.prepare import upload_inputs
from batch.store.models import Output
from tests.helpers import make_runtime, make_settings
from tests.storage_helpers import create, photos_manifest


def test_retouched_file_is_exported_from_its_bucket_copy(tmp_path: Path, sqlite_url: str, s3_env: LocalS3,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the local copies of bucket outputs go to ./out
    prefix = f"t{time.time_ns()}"
    path = photos_manifest(tmp_path, s3_env, prefix, photos=1, output_url=s3_env.url(f"{prefix}/out"))
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=2)) as sim:
        rt = make_runtime(make_settings(tmp_path, sqlite_url, sim.base_url))
        manifest = load_manifest(path)
        upload_inputs(manifest)
        batch_id = create(rt, manifest)
        drain(rt, batch_id, timeout=60)
    assert decide(rt.sessions, batch_id, [], "approved", now=time.time(), every_unreviewed=True, who="ann") >= 1
    with rt.sessions() as session:
        out = session.scalars(select(Output).order_by(Output.id)).first()
    assert out is not None and out.object_url
    retouched = Path(out.path).read_bytes() + b"retouched"
    Path(out.path).write_bytes(retouched)

    dest = tmp_path / "shop"
    files = export_approved(rt.sessions, batch_id, dest)
    exported = {f.source: f for f in files}
    assert out.object_url in exported and out.path not in exported
    copy = dest / exported[out.object_url].relative
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == out.sha256  # the approved bytes, not the retouch
    assert Path(out.path).read_bytes() == retouched  # the user's retouch is left alone
    with (dest / "export.csv").open() as handle:
        assert out.object_url in {r["source"] for r in csv.DictReader(handle)}
