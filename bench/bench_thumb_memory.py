"""Peak memory of one input thumbnail (``/thumb/in``) made from a 13,000 x 13,000 JPEG.

Usage: ``python bench/bench_thumb_memory.py [SIDE] [REQUESTS]``. A child process writes the JPEG (a
smooth picture, a few MB, under the fetch cap); a fresh child then makes the web app's small
thumbnail of its bytes, REQUESTS times at once (threads, as the web app's thread pool does), and
reports its peak resident set (``ru_maxrss``) before and after.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SIDE = 13_000


def _write(path: Path, side: int) -> None:
    from PIL import Image

    small = Image.merge("RGB", [Image.radial_gradient("L"), Image.linear_gradient("L"),
                                Image.linear_gradient("L").rotate(90)])
    small.resize((side, side)).save(path, "JPEG", quality=85)


def _measure(path: Path, requests: int) -> dict[str, float | int]:
    from batch.reports.thumbs import make_thumb
    from batch.web.thumbcache import SIZES

    data = path.read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with ThreadPoolExecutor(requests) as pool:
        thumbs = list(pool.map(lambda _: make_thumb(data, SIZES["sm"]), range(requests)))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"file_mb": round(len(data) / 1e6, 1), "rss_before_mb": round(before / 1024),
            "rss_peak_mb": round(peak / 1024), "thumbnail_added_mb": round((peak - before) / 1024),
            "seconds": round(seconds, 2), "made": sum(t is not None for t in thumbs)}


def main() -> None:
    """Write the picture in one child, measure the thumbnail in another, print the figures as JSON."""
    if len(sys.argv) > 2 and sys.argv[1] == "--write":
        _write(Path(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(_measure(Path(sys.argv[2]), int(sys.argv[3]))))
        return
    side = int(sys.argv[1]) if len(sys.argv) > 1 else SIDE
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.jpg"
        subprocess.run([sys.executable, __file__, "--write", str(path), str(side)], check=True)
        found = subprocess.run([sys.executable, __file__, "--measure", str(path), str(requests)], check=True,
                               capture_output=True, text=True)
        print(json.dumps({"side": side, "requests": requests, **json.loads(found.stdout)}))


if __name__ == "__main__":
    main()
