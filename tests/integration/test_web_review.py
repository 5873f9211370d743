"""The contact sheet's review endpoints through Starlette's test client: per output, clear, live changes."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from sqlalchemy import select
from starlette.testclient import TestClient

from batch.commands.export import export_approved
from batch.core.cost import PriceTable
from batch.engine.tick import drain
from batch.simulator import SimulatorConfig, running_simulator
from batch.store.db import transaction
from batch.store.models import Job, Output
from batch.web.app import WebState, build_app
from batch.web.thumbcache import ThumbCache
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

CSRF = "test-csrf-token-0123456789"
HEADERS = {"X-CSRF-Token": CSRF}


def _cursor(html: str) -> str:
    found = re.search(r'data-cursor="([0-9.]+)"', html)
    assert found is not None
    return found[1]


def test_reviews_per_output_clear_and_changes_since_a_cursor(tmp_path: Path) -> None:
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=4)) as sim:
        rt = make_runtime(make_settings(tmp_path, f"sqlite:///{tmp_path / 'nb.db'}", sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(tmp_path, sim.base_url, items=2, styles=2), time.time())
        drain(rt, batch_id, timeout=60)
    with transaction(rt.sessions) as s:  # the first job returned two images
        first = s.scalars(select(Output).join(Job, Job.id == Output.job_id).where(Job.key == "sku-000-s0")).one()
        second_path = Path(first.path).with_name("s0-2.png")
        shutil.copy(first.path, second_path)
        s.add(Output(job_id=first.job_id, idx=1, path=str(second_path), bytes=first.bytes, sha256=first.sha256,
                     width=first.width, height=first.height, format=first.format))
    with rt.sessions() as s:
        one, two = s.scalars(select(Output.id).where(Output.job_id == first.job_id).order_by(Output.idx)).all()
    client = TestClient(build_app(WebState(rt.sessions, ThumbCache(tmp_path / "thumbs"), PriceTable(), CSRF, "ann")),
                        base_url="http://127.0.0.1")
    page = client.get(f"/batch/{batch_id}").text
    assert page.count('class="tile ') == 5 and "0 of 5 reviewed" in page
    cursor = _cursor(page)
    idle = client.get(f"/api/batches/{batch_id}/changes", params={"since": cursor})
    assert idle.json() == {"cursor": cursor} and len(idle.content) < 40  # an idle page: near nothing

    url = f"/api/batches/{batch_id}/review"
    assert client.post(url, json={"outputs": [one], "decision": "approved"}, headers=HEADERS).json()["recorded"] == 1
    assert client.post(url, json={"outputs": [two], "decision": "rejected"}, headers=HEADERS).json()["recorded"] == 1
    changed = client.get(f"/api/batches/{batch_id}/changes", params={"since": cursor}).json()
    assert [t["job"] for t in changed["tiles"]] == [first.job_id] and changed["cursor"] != cursor
    html = changed["tiles"][0]["html"]
    assert f'data-out="{one}"' in html and 'data-decision="approved"' in html and 'data-decision="rejected"' in html
    assert "2 of 5 reviewed (1 approved, 1 rejected)" in client.get(f"/batch/{batch_id}").text
    assert [f.relative for f in export_approved(rt.sessions, batch_id, tmp_path / "export")] == ["sku-000/s0.png"]

    assert client.post(url, json={"outputs": [two], "decision": "cleared"}, headers=HEADERS).json()["recorded"] == 1
    unreviewed = client.get(f"/batch/{batch_id}?review=unreviewed").text
    assert "4 shown of 4 matching" in unreviewed  # the job with its second image back to unreviewed, and 3 more
    assert client.post(url, json={"outputs": [two], "decision": "maybe"}, headers=HEADERS).status_code == 400
    other = client.post(url, json={"outputs": [10_000], "decision": "approved"}, headers=HEADERS)
    assert other.json()["recorded"] == 0  # no such output in this batch: nothing recorded


def test_the_page_says_when_no_worker_takes_the_batch(tmp_path: Path) -> None:
    rt = make_runtime(make_settings(tmp_path, f"sqlite:///{tmp_path / 'nb.db'}", "http://127.0.0.1:9"))
    submitted = time.time()
    batch_id = submit_manifest(rt, write_manifest(tmp_path, "http://127.0.0.1:9", items=2, styles=2), submitted)
    clock = [submitted + 30]
    state = WebState(rt.sessions, ThumbCache(tmp_path / "thumbs"), PriceTable(), CSRF, "ann", clock=lambda: clock[0])
    client = TestClient(build_app(state), base_url="http://127.0.0.1")
    cursor = _cursor(client.get(f"/batch/{batch_id}").text)
    assert client.get(f"/api/batches/{batch_id}/changes", params={"since": cursor}).json() == {"cursor": cursor}
    clock[0] = submitted + 90  # a minute past due, no worker has leased a job
    answer = client.get(f"/api/batches/{batch_id}/changes", params={"since": cursor}).json()
    assert answer["workers"].startswith("4 jobs waiting with no worker taking them")
    assert f"nanobatch resume {batch_id}" in client.get(f"/batch/{batch_id}").text  # said on the page, not only once
