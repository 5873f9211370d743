"""The web app over a real batch, through Starlette's test client: pages, thumbnails, review, rerun, guards."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from batch.core.cost import PriceTable
from batch.engine.tick import drain
from batch.errors import InputError
from batch.simulator import SimulatorConfig, running_simulator
from batch.store import reviews
from batch.store.db import transaction
from batch.store.models import Batch, Job
from batch.web.app import WebState, build_app
from batch.web.thumbcache import ThumbCache
from tests.helpers import make_runtime, make_settings, submit_manifest, write_manifest

CSRF = "test-csrf-token-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebState, int, Path]]:
    folder = tmp_path_factory.mktemp("web")
    with running_simulator(SimulatorConfig(latency=(0.0, 0.0), workers=8)) as sim:
        rt = make_runtime(make_settings(folder, f"sqlite:///{folder / 'nb.db'}", sim.base_url))
        batch_id = submit_manifest(rt, write_manifest(folder, sim.base_url, items=3, styles=2), time.time())
        drain(rt, batch_id, timeout=60)
        yield WebState(rt.sessions, ThumbCache(folder / "thumbs"), PriceTable(), CSRF, "tester"), batch_id, folder


def test_pages_thumbnails_and_review(served: tuple[WebState, int, Path]) -> None:
    state, batch_id, folder = served
    client = TestClient(build_app(state), base_url="http://127.0.0.1")
    home = client.get("/")
    assert home.status_code == 200 and f"/batch/{batch_id}" in home.text
    listed = client.get("/api/batches").json()
    assert listed[0]["total"] == 6 and listed[0]["finished"] == 6
    sheet = client.get(f"/batch/{batch_id}?group=style&q=sku-001")
    assert sheet.status_code == 200 and "2 shown of 2 matching" in sheet.text
    with state.sessions() as s:
        ids = reviews.reviewable(s, batch_id)
    thumb = client.get(f"/thumb/out/{ids[0]}")  # output ids follow job ids here
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert len(list((folder / "thumbs" / "out").rglob("*.jpg"))) == 1  # made once, cached on disk
    assert client.get(f"/files/{ids[0]}").content[:4] == b"\x89PNG"

    body = {"job_ids": ids[:2], "decision": "rejected", "note": "<b>logo</b>"}
    assert client.post(f"/api/batches/{batch_id}/review", json=body).status_code == 403  # no CSRF token
    evil = {"X-CSRF-Token": CSRF, "Origin": "http://evil.example"}
    assert client.post(f"/api/batches/{batch_id}/review", json=body, headers=evil).status_code == 403
    ok = client.post(f"/api/batches/{batch_id}/review", json=body, headers={"X-CSRF-Token": CSRF})
    assert ok.json() == {"recorded": 2, "decision": "rejected"}
    page = client.get(f"/batch/{batch_id}?review=rejected").text
    assert "2 shown of 2 matching" in page and "<b>logo</b>" not in page and "&lt;b&gt;logo&lt;/b&gt;" in page

    plan = client.post(f"/api/batches/{batch_id}/rerun", json={"confirm": False}, headers={"X-CSRF-Token": CSRF})
    assert plan.json()["jobs"] == 2 and plan.json()["queued"] == 0
    made = client.post(f"/api/batches/{batch_id}/rerun", json={"confirm": True}, headers={"X-CSRF-Token": CSRF})
    assert made.json()["queued"] == 2
    assert "8 shown of 8 matching" in client.get(f"/batch/{batch_id}").text


def test_token_and_host_guards(served: tuple[WebState, int, Path]) -> None:
    state, _, _ = served
    token = "a-token-long-enough-123"
    remote = TestClient(build_app(state, token=token, loopback_only=False), base_url="http://192.0.2.10:8600")
    assert remote.get("/").status_code == 401
    assert remote.get("/api/batches", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    entered = remote.get(f"/?token={token}", follow_redirects=False)
    assert entered.status_code == 303 and "token=" not in entered.headers["location"]
    assert remote.get("/").status_code == 200  # the cookie now
    local = TestClient(build_app(state), base_url="http://rebound.example")
    assert local.get("/").status_code == 400  # a DNS name pointed at 127.0.0.1 is refused


def test_batch_events_say_why_it_stopped(served: tuple[WebState, int, Path]) -> None:
    state, batch_id, _ = served
    with transaction(state.sessions) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        batch.options = {**batch.options, "parked": "budget of $0.50 reached", "parked_at": 1_700_000_000.0}
    client = TestClient(build_app(state), base_url="http://127.0.0.1")
    events = client.get(f"/api/batches/{batch_id}").json()["events"]
    assert events == ["2023-11-14T22:13:20Z stopped: budget of $0.50 reached"]
    assert "stopped: budget of $0.50 reached" in client.get("/").text


def test_serve_off_loopback_generates_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    from batch.commands import service
    from batch.web import app as web_app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr(service, "sessions", lambda: None)
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'nb.db'}", "http://127.0.0.1:1")
    web_app.run(settings, host="0.0.0.0", port=0, token=None)
    printed = capsys.readouterr().out
    assert seen["host"] == "0.0.0.0" and "/?token=" in printed
    with pytest.raises(InputError, match="--token: use at least 16 characters"):
        web_app.run(settings, host="0.0.0.0", port=0, token="short")
    web_app.run(settings, host="127.0.0.1", port=0, token=None)
    assert "token" not in capsys.readouterr().out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            web_app.run(settings, host="127.0.0.1", port=port, token=None)


@pytest.mark.parametrize("path", ["/batch/{big}", "/api/batches/{big}", "/thumb/out/{big}", "/thumb/in/{big}/0",
                                  "/thumb/in/1/{big}", "/files/{big}", "/files/{huge}"])
def test_an_id_beyond_int64_is_not_found(served: tuple[WebState, int, Path], path: str) -> None:
    state, _, _ = served
    client = TestClient(build_app(state), base_url="http://127.0.0.1", raise_server_exceptions=False)
    answer = client.get(path.format(big=2**63, huge=10**40))
    assert answer.status_code == 404, answer.text


@pytest.mark.parametrize("job_ids", [[True], [1, False], [1.0], ["1"], [2**63], [-1], [None]])
def test_review_refuses_job_ids_that_are_not_whole_numbers(served: tuple[WebState, int, Path],
                                                           job_ids: list[object]) -> None:
    state, batch_id, _ = served
    client = TestClient(build_app(state), base_url="http://127.0.0.1", raise_server_exceptions=False)
    with state.sessions() as s:
        before = reviews.counts(s, batch_id)
    answer = client.post(f"/api/batches/{batch_id}/review", json={"job_ids": job_ids, "decision": "approved"},
                         headers={"X-CSRF-Token": CSRF})
    assert answer.status_code == 400, answer.text
    with state.sessions() as s:
        assert reviews.counts(s, batch_id) == before

def test_files_and_thumbnails_serve_only_the_recorded_file(served: tuple[WebState, int, Path]) -> None:
    """A link put where an output was (to a private file), or a file changed since, is not served."""
    from sqlalchemy import select

    from batch.store.models import Output

    state, _, folder = served
    client = TestClient(build_app(state), base_url="http://127.0.0.1")
    with state.sessions() as session:
        outputs = session.scalars(select(Output).order_by(Output.id.desc()).limit(2)).all()
    linked, grown = outputs
    secret = folder / "secret.png"  # an image, so that even a thumbnail of it could be made
    secret.write_bytes(Path(linked.path).read_bytes())
    Path(linked.path).unlink()
    Path(linked.path).symlink_to(secret)
    Path(grown.path).write_bytes(Path(grown.path).read_bytes() + b"\0")
    for out in (linked, grown):
        assert client.get(f"/files/{out.id}").status_code == 404
        assert client.get(f"/thumb/out/{out.id}?s=lg").status_code == 404
    assert not list((folder / "thumbs" / "out").rglob(f"{linked.sha256}-*.jpg"))
    intact = client.get(f"/files/{outputs[0].id - 2}")
    assert intact.status_code == 200 and intact.headers["content-type"] == "image/png"
    assert int(intact.headers["content-length"]) == len(intact.content) > 0


def test_input_thumbnails_decode_reduced_refuse_huge_images_and_remember_failures(
        served: tuple[WebState, int, Path], tmp_path: Path) -> None:
    """A huge JPEG is decoded at 1/8 scale; an image too large to decode even so (a PNG) gets a 404,
    and is not fetched again on every request, only once the failure is old."""
    import io

    from PIL import Image

    from batch.store import sheet
    from batch.testing.clock import ManualClock
    from batch.web.thumbcache import FAILURE_SECONDS

    state, batch_id, _ = served
    with state.sessions() as session:
        ids = list(session.scalars(select(Job.id).where(Job.batch_id == batch_id).order_by(Job.id)))
        found = [(sheet.job_input_url(session, job_id, 0), job_id) for job_id in ids]
    by_url = {where[0]: job for where, job in found if where is not None}  # by url (it comes with its storage)
    urls, jobs = list(by_url)[:2], list(by_url.values())[:2]  # two jobs with different inputs
    images = []
    for side, fmt in ((9000, "JPEG"), (7000, "PNG")):  # 81 M and 49 M pixels, both over the decode cap
        buf = io.BytesIO()
        Image.new("L", (side, side), 128).save(buf, fmt)
        images.append(buf.getvalue())
    fetched: list[str] = []

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        return dict(zip(urls, images, strict=True)).get(url)

    clock = ManualClock()
    thumbs = ThumbCache(tmp_path / "thumbs", fetch=fetch, clock=clock)
    client = TestClient(build_app(WebState(state.sessions, thumbs, PriceTable(), CSRF, "tester")),
                        base_url="http://127.0.0.1")
    jpeg, png = (f"/thumb/in/{job_id}/0" for job_id in jobs)
    made = client.get(jpeg)
    assert made.status_code == 200 and Image.open(io.BytesIO(made.content)).size == (192, 192)
    assert [client.get(png).status_code for _ in range(3)] == [404, 404, 404]
    assert fetched == urls  # each fetched once: the failure is remembered
    clock.advance(FAILURE_SECONDS)
    assert client.get(png).status_code == 404 and fetched == [*urls, urls[1]]
