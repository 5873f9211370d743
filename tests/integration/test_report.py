"""Reports of a real batch run in-process against the simulator: CSV, JSON and HTML."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from batch.engine.runtime import Runtime
from batch.engine.tick import drain
from batch.errors import InputError
from batch.reports.data import COLUMNS, format_for, load_report, render_csv
from batch.reports.html import render_html
from batch.reports.thumbs import make_thumb
from batch.reports.writer import write_report
from batch.simulator import SimulatorConfig, SimulatorHandle, running_simulator
from batch.store import db
from batch.store.models import Output
from batch.store.queries import list_batches
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

BROKEN_ERROR = "HTTP 404 when fetching the image"


@dataclass(frozen=True)
class Ran:
    """A finished batch: 4 succeeded jobs, one failed (its input does not exist), one with 2 inputs."""

    rt: Runtime
    batch_id: int
    sim: SimulatorHandle
    folder: Path


def _extra_jobs(base: str) -> str:
    return f"""jobs:
  - id: broken
    output_name: "hand/{{id}}"
    prompt: "this input does not exist <b>&</b>"
    image_urls: ["{base}/samples/no-such-image.png"]
  - id: pair
    output_name: "hand/{{id}}"
    prompt: "the bag and the watch together"
    image_urls: ["{base}/samples/bag.png", "{base}/samples/watch.png"]
    aspect_ratio: "1:1"
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    folder = tmp_path_factory.mktemp("report")
    with running_simulator(SimulatorConfig(port=0, latency=(0.0, 0.0), workers=8)) as sim:
        rt = make_runtime(make_settings(folder, f"sqlite:///{folder / 'nb.db'}", sim.base_url))
        manifest = write_manifest(folder, sim.base_url, items=2, styles=2, extra=_extra_jobs(sim.base_url))
        batch_id = submit_manifest(rt, manifest, time.time())
        drain(rt, batch_id, timeout=60)
        yield Ran(rt, batch_id, sim, folder)
    db.dispose_engines()


def test_csv_has_one_row_per_job_with_verified_files(ran: Ran, tmp_path: Path) -> None:
    path = write_report(ran.rt.sessions, ran.batch_id, tmp_path / "r.csv")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = {row["id"]: row for row in reader}
    assert len(rows) == 6
    assert {r["state"] for r in rows.values()} == {"succeeded", "failed"}
    good = [r for r in rows.values() if r["state"] == "succeeded"]
    assert len(good) == 5
    for row in good:
        out = Path(row["outputs"])
        assert hashlib.sha256(out.read_bytes()).hexdigest() == row["sha256"]
        with Image.open(out) as img:
            assert row["size"] == f"{img.width}x{img.height}"
        assert float(row["cost"]) > 0 and row["error"] == ""
        assert float(row["seconds"]) >= 0 and int(row["submits"]) >= 1
        for column in ("created_at", "submitted_at", "completed_at", "finished_at"):
            assert row[column].endswith("Z") and datetime.fromisoformat(row[column])
    assert rows["pair"]["inputs"].count(" ") == 1 and rows["pair"]["inputs"].endswith("watch.png")
    broken = rows["broken"]
    assert BROKEN_ERROR in broken["error"] and broken["outputs"] == "" and broken["sha256"] == ""
    assert rows["sku-000-s1"]["aspect_ratio"] == "4:5" and rows["sku-000-s1"]["resolution"] == "1K"


def test_json_has_header_and_lists(ran: Ran, tmp_path: Path) -> None:
    path = write_report(ran.rt.sessions, ran.batch_id, tmp_path / "r.json")
    doc = json.loads(path.read_text())
    assert doc["batch"]["batch_id"] == ran.batch_id and doc["batch"]["total"] == 6
    assert doc["batch"]["counts"] == {"succeeded": 5, "failed": 1}
    assert doc["batch"]["cost_usd"] == pytest.approx(sum(j["cost"] or 0 for j in doc["jobs"]))
    jobs = {j["id"]: j for j in doc["jobs"]}
    assert set(jobs["pair"]) == set(COLUMNS)
    assert len(jobs["pair"]["inputs"]) == 2 and len(jobs["pair"]["outputs"]) == 1
    assert jobs["pair"]["size"] == ["1024x1024"] and len(jobs["pair"]["sha256"][0]) == 64
    assert jobs["broken"]["outputs"] == [] and BROKEN_ERROR in jobs["broken"]["error"]


def test_html_is_self_contained_with_thumbnails(ran: Ran, tmp_path: Path) -> None:
    path = write_report(ran.rt.sessions, ran.batch_id, tmp_path / "r.html")
    page = path.read_text()
    assert page.count('<article class="card"') == 6
    # one class per distinct image: 3 distinct catalog inputs (shoe, mug; bag, watch) + 5 outputs
    assert len(re.findall(r'url\("data:image/jpeg;base64,', page)) == 2 + 2 + 5
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page, re.I)
    assert not re.search(r"""url\(\s*["']?https?:""", page, re.I)
    assert "@import" not in page
    assert BROKEN_ERROR in page and "input unavailable" in page and "no output (failed)" in page
    assert "this input does not exist &lt;b&gt;&amp;&lt;/b&gt;" in page  # escaped, never raw markup
    assert 'data-filter="failed"' in page and 'data-state="failed"' in page
    assert "<script>" in page and not list(tmp_path.glob("*.part"))


def test_html_survives_unreachable_inputs(ran: Ran) -> None:
    data = load_report(ran.rt.sessions, ran.batch_id)
    page = render_html(data, fetch=lambda url: None)
    assert page.count("input unavailable") == 7  # every input of every job, as placeholders
    assert len(re.findall(r'url\("data:image/jpeg;base64,', page)) == 5  # outputs still read from disk


def test_thumbnail_is_a_small_jpeg() -> None:
    big = Image.new("RGBA", (1376, 768), (255, 0, 0, 128))
    buf = io.BytesIO()
    big.save(buf, "PNG")
    thumb = make_thumb(buf.getvalue())
    assert thumb is not None and thumb.uri.startswith("data:image/jpeg;base64,")
    assert (thumb.width, thumb.height) == (256, 143)
    assert make_thumb(b"not an image") is None


def test_format_from_extension_or_flag() -> None:
    assert format_for(Path("a.CSV"), None) == "csv"
    assert format_for(Path("a.htm"), None) == "html"
    assert format_for(Path("a.txt"), "json") == "json"
    with pytest.raises(InputError, match="cannot tell the format"):
        format_for(Path("a.txt"), None)
    with pytest.raises(InputError, match="unknown report format"):
        format_for(Path("a.csv"), "xml")


def test_errors_are_one_line(ran: Ran, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^no batch 999$"):
        write_report(ran.rt.sessions, 999, tmp_path / "r.csv")
    with pytest.raises(InputError, match="no directory"):
        write_report(ran.rt.sessions, ran.batch_id, tmp_path / "missing" / "r.csv")
    with pytest.raises(InputError, match="is a directory"):
        write_report(ran.rt.sessions, ran.batch_id, tmp_path, "csv")
    # /proc refuses new files even to root: the system's reason comes back on one line
    with pytest.raises(InputError, match=r"^cannot write /proc/r\.csv: [^\n]+$"):
        write_report(ran.rt.sessions, ran.batch_id, "/proc/r.csv")


def test_report_rewrites_atomically(ran: Ran, tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("old")
    write_report(ran.rt.sessions, ran.batch_id, target)
    assert target.read_text() == render_csv(load_report(ran.rt.sessions, ran.batch_id))
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_list_batches_counts(ran: Ran) -> None:
    [summary] = list_batches(ran.rt.sessions)
    assert (summary.batch_id, summary.total, summary.done, summary.succeeded, summary.failed) == (
        ran.batch_id, 6, 6, 5, 1)
    assert summary.cost == pytest.approx(5 * 0.15)
    assert summary.as_json()["created_at"].endswith("Z")


def test_html_report_is_capped_failures_first_with_links(tmp_path: Path) -> None:
    from batch.reports.data import BatchHeader, ReportData
    from batch.reports.html import render_html
    from batch.store.queries import BatchSummary  # noqa: F401 - the header's base

    def row(n: int, state: str) -> dict[str, object]:
        image = "a.png" if n < 3 else "b.png"
        return {"id": f"job-{n}", "state": state, "prompt": "p", "inputs": [f"http://x/{image}"], "aspect_ratio": "1:1",
                "resolution": "1K", "output_format": "png", "outputs": [str(tmp_path / f"o{n}.png")],
                "sha256": ["0" * 64], "size": ["1x1"], "bytes": [1], "cost": None, "seconds": None, "attempts": 0,
                "submits": 1, "uncertain_submits": 0, "error": None, "review": "approved" if n == 0 else None,
                "review_note": None}

    rows = [row(n, "succeeded") for n in range(5)] + [row(5, "failed")]
    header = BatchHeader(1, "b", 0.0, {"succeeded": 5, "failed": 1}, 0.0, str(tmp_path))
    page = render_html(ReportData(header, rows), fetch=lambda _: None, now=0.0, max_cards=3)
    assert page.count('<article class="card"') == 3 and "3 more jobs (succeeded) are not shown" in page
    assert page.index("job-5") < page.index("job-0")  # the failed job comes first
    assert f'href="{(tmp_path / "o0.png").as_uri()}"' in page and 'r-approved' in page
    assert page.count('<h2 class="item"') == 2  # b.png (the failed job), then a.png: grouped by item


def test_thumbnails_are_decoded_a_few_at_a_time() -> None:
    """While every decoding slot is taken, one more thumbnail waits for a slot to free."""
    import threading

    from batch.reports import thumbs

    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "PNG")
    made: list[object] = []
    for _ in range(thumbs.THUMB_SLOTS):
        assert thumbs.DECODING.acquire(blocking=False)
    waiting = threading.Thread(target=lambda: made.append(thumbs.make_thumb(buf.getvalue())))
    try:
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive() and made == []
    finally:
        for _ in range(thumbs.THUMB_SLOTS):
            thumbs.DECODING.release()
    waiting.join(timeout=30)
    assert len(made) == 1 and made[0] is not None


def test_html_shows_no_thumbnail_of_a_link_put_in_an_output_s_place(ran: Ran, tmp_path: Path) -> None:
    """The report is handed on: a link where an output was (to someone's private picture) stays out of it."""
    with ran.rt.sessions() as session:
        out = session.scalars(select(Output).order_by(Output.id)).first()
    assert out is not None
    path, original = Path(out.path), Path(out.path).read_bytes()
    private = tmp_path / "private.png"
    Image.new("RGB", (300, 200), (1, 2, 3)).save(private)
    path.unlink()
    path.symlink_to(private)
    try:
        page = render_html(load_report(ran.rt.sessions, ran.batch_id), fetch=lambda url: None)
    finally:
        path.unlink()
        path.write_bytes(original)
    assert page.count("output unreadable") == 1
