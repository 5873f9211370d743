"""Object storage figures, against a real S3-compatible server (SeaweedFS ``weed mini``) on loopback.

Usage: ``.venv/bin/python bench/bench_storage.py [--files 1000] [--json]``

1. Library choice, obstore vs boto3: import time (a fresh interpreter, median of 5), pre-signing
   one GET URL (µs per URL), and one 1 MB PUT (median ms).
2. ``--files`` local 1 MB files uploaded by nanobatch (``upload_missing``, 8 threads) in files/s
   and MB/s, against ``cp`` of the same files as the ceiling; then the same batch again (every
   object already there: HEADs only).
3. The CPU a submit spends signing one job's input (``hooks.sign``, one reference), per job.

Figures are printed, not asserted. Loopback and one disk: the server shares the 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

MB = 1 << 20


def import_seconds(module: str, runs: int = 5) -> float:
    """Median wall time of ``import module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
             for _ in range(runs)]
    return statistics.median(times)


def per_call(func: Any, runs: int) -> float:
    """Seconds per call of ``func()`` (wall), over ``runs`` calls."""
    start = time.perf_counter()
    for _ in range(runs):
        func()
    return (time.perf_counter() - start) / runs


def median_call(func: Any, runs: int) -> float:
    """Median seconds of one ``func()`` call."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_libraries(s3: Any, payload: bytes) -> dict[str, Any]:
    """obstore vs boto3 on the same server: import, presign, 1 MB put."""
    import boto3
    import obstore
    from botocore.config import Config

    from batch.storage.store import open_store

    bucket = open_store(s3.url(), endpoint_url=s3.endpoint, env=s3.env())
    client = boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id=s3.access_key,
                          aws_secret_access_key=s3.secret_key, region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    store = bucket.client
    obstore.put(store, "bench/warm", b"x")
    client.put_object(Bucket=s3.bucket, Key="bench/warm", Body=b"x")
    n = 2000
    return {
        "obstore": {
            "import_ms": round(import_seconds("obstore") * 1000, 1),
            "presign_us": round(per_call(lambda: obstore.sign(store, "GET", "bench/k.jpg", timedelta(hours=6)), n)
                                * 1e6, 1),
            "put_1mb_ms": round(median_call(lambda: obstore.put(store, "bench/o1mb", payload), 30) * 1000, 2),
        },
        "boto3": {
            "import_ms": round(import_seconds("boto3") * 1000, 1),
            "presign_us": round(per_call(lambda: client.generate_presigned_url(
                "get_object", Params={"Bucket": s3.bucket, "Key": "bench/k.jpg"}, ExpiresIn=21600), n) * 1e6, 1),
            "put_1mb_ms": round(median_call(lambda: client.put_object(Bucket=s3.bucket, Key="bench/b1mb",
                                                                      Body=payload), 30) * 1000, 2),
        },
    }


def upload_files(s3: Any, folder: Path, count: int) -> dict[str, Any]:
    """``count`` distinct 1 MB files: nanobatch's upload vs cp, then the same files again."""
    from batch.storage.store import open_store
    from batch.storage.uploads import LocalInput, sha256_file, upload_missing

    src = folder / "src"
    src.mkdir()
    for i in range(count):
        (src / f"f{i:05d}.bin").write_bytes(os.urandom(MB))
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(folder / "copy")], check=True)
    cp_seconds = time.perf_counter() - start
    bucket = open_store(s3.url(), endpoint_url=s3.endpoint, env=s3.env())
    prefix = f"up{time.time_ns()}"
    start = time.perf_counter()
    files = []
    for path in sorted(src.iterdir()):
        digest = sha256_file(path)
        files.append(LocalInput(path, digest, f"s3://{s3.bucket}/{prefix}/inputs/{digest}.bin"))
    hashed = time.perf_counter() - start
    report = upload_missing(bucket, files)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    again = upload_missing(bucket, files)
    again_seconds = time.perf_counter() - start
    assert report.uploaded == count and again.present == count, (report, again)
    return {"files": count, "hash_s": round(hashed, 2), "upload_s": round(seconds, 2),
            "files_per_s": round(count / seconds, 1), "mb_per_s": round(count / seconds, 1),
            "cp_s": round(cp_seconds, 2), "cp_mb_per_s": round(count / cp_seconds, 1),
            "again_s": round(again_seconds, 2), "again_files_per_s": round(count / again_seconds, 1)}


def signing_cpu(s3: Any) -> dict[str, Any]:
    """CPU per job for ``hooks.sign`` with one bucket reference (clients already built)."""
    from batch.storage.hooks import sign
    from batch.store.models import Batch, Job

    batch = Batch(options={"storage": {"url": s3.url("p"), "endpoint_url": s3.endpoint}})
    job = Job(inputs={"prompt": "p", "image_urls": [f"s3://{s3.bucket}/p/inputs/{'0' * 64}.jpg"]})
    sign(job, batch)
    plain = Job(inputs={"prompt": "p", "image_urls": ["https://example.com/a.jpg"]})
    runs = 5000
    start = time.process_time()
    for _ in range(runs):
        sign(job, batch)
    signed = (time.process_time() - start) / runs
    start = time.process_time()
    for _ in range(runs):
        sign(plain, batch)
    unsigned = (time.process_time() - start) / runs
    return {"sign_cpu_us_per_job": round(signed * 1e6, 1), "plain_url_cpu_us_per_job": round(unsigned * 1e6, 2)}


def main() -> None:
    """Start the server, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="1 MB files to upload (default 1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from batch.storage.localserver import LocalS3

    with tempfile.TemporaryDirectory() as tmp, LocalS3(Path(tmp) / "s3") as s3:
        for name, value in s3.env().items():
            os.environ[name] = value
        result = {"libraries": compare_libraries(s3, os.urandom(MB)),
                  "upload": upload_files(s3, Path(tmp), args.files), "signing": signing_cpu(s3)}
    if args.json:
        print(json.dumps(result))
        return
    libs = result["libraries"]
    for name in ("obstore", "boto3"):
        lib = libs[name]
        print(f"{name:8} import {lib['import_ms']} ms, presign {lib['presign_us']} µs/URL, "
              f"1 MB put {lib['put_1mb_ms']} ms (median)")
    up = result["upload"]
    print(f"upload {up['files']} x 1 MB: {up['upload_s']} s incl. hashing {up['hash_s']} s = {up['files_per_s']} "
          f"files/s, {up['mb_per_s']} MB/s; cp ceiling {up['cp_s']} s = {up['cp_mb_per_s']} MB/s; "
          f"again (all present): {up['again_s']} s = {up['again_files_per_s']} files/s")
    sign = result["signing"]
    print(f"signing at submit: {sign['sign_cpu_us_per_job']} µs CPU/job with one reference, "
          f"{sign['plain_url_cpu_us_per_job']} µs for a job of plain URLs")


if __name__ == "__main__":
    main()
