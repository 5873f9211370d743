"""Two runs sharing an output folder probe it at the same time: neither may take the other's probe."""

from __future__ import annotations

import threading
from pathlib import Path

from batch.commands import service
from tests.helpers import write_manifest


def test_a_probe_leaves_another_runs_probe_alone(tmp_path: Path) -> None:
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1))
    out = tmp_path / "out"
    out.mkdir()
    others = out / ".nanobatch-write-probe"  # where another run's probe stood, mid-check, before
    others.write_bytes(b"")
    service.validate(manifest)
    assert others.exists()  # the other run can remove its own probe: it does not find its folder unwritable
    assert sorted(p.name for p in out.iterdir()) == [others.name]  # and this run left nothing behind


def test_two_probes_at_once_in_one_folder_both_succeed(tmp_path: Path) -> None:
    manifest = str(write_manifest(tmp_path, "http://127.0.0.1:9", items=1, styles=1))
    rounds, start = 300, threading.Barrier(2)
    errors: list[BaseException] = []

    def probe() -> None:
        for _ in range(rounds):
            start.wait()
            try:
                service.validate(manifest)
            except BaseException as exc:  # reported below: the thread must go on meeting the barrier
                errors.append(exc)

    threads = [threading.Thread(target=probe) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
