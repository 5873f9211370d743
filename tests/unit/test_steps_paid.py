"""A paid result is recorded before its files are written, and survives their failure (issue 13 item 2).

The step handlers alone, as in ``test_steps``: the fake API, a SQLite file, a hand-moved clock.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from batch.commands import operations
from batch.core.states import JobState
from batch.store.models import Batch, Job, Output
from batch.upstream.client import Result
from tests.helpers import Answer, HandlerAdapter
from tests.unit.test_steps import FILES, OWNER, World, make_world, serve_files

S = JobState
PAID = Result("succeeded", [f"{FILES}/out.png"], None, Decimal("0.15"), upstream_seconds=5.0)


@pytest.fixture
def world(tmp_path: Path) -> World:
    # one attempt: a write failure is retried like any (files/download's table), and spends them at once
    return make_world(tmp_path, max_attempts=1)


def charged(world: World) -> Decimal:
    with world.rt.sessions() as session:
        return session.get_one(Batch, world.job().batch_id).charged_usd


def part_files(world: World) -> list[Path]:
    return list((world.rt.settings.home / "out").rglob("*.part*"))  # .part files and .parts folders


def running_job(world: World) -> None:
    world.add_job(S.RUNNING, request_id="req-1", submitted_at=world.clock() - 10, upstream_status="in_progress")
    world.api.script("result", PAID)


def test_the_cost_is_committed_before_the_download_starts(world: World) -> None:
    running_job(world)
    seen: list[tuple[str, Decimal | None, Decimal]] = []

    def files(request: requests.PreparedRequest) -> Answer:
        seen.append((world.job().state, world.job().cost, charged(world)))  # read from another session
        return serve_files(request)

    world.rt.http.mount(FILES, HandlerAdapter(files))
    world.step()
    assert seen == [("downloading", Decimal("0.15"), Decimal("0.15"))]
    assert (world.job().state, charged(world)) == ("succeeded", Decimal("0.15"))
    assert world.moves() == [("running", "downloading"), ("downloading", "succeeded")]


def test_an_output_that_cannot_be_written_fails_the_job_but_keeps_its_result_and_cost(world: World) -> None:
    running_job(world)
    (world.rt.settings.home / "out" / "j1.png").mkdir(parents=True)  # the rename onto it fails, even as root
    world.step()
    job = world.job()
    assert (job.state, job.request_id, job.result_urls, job.cost) == ("failed", "req-1", PAID.urls, Decimal("0.15"))
    assert "could not write output j1.png" in (job.error or "") and "without paying" in (job.error or "")
    assert charged(world) == Decimal("0.15")
    assert part_files(world) == []


def test_an_unreadable_image_keeps_the_cost(world: World) -> None:
    running_job(world)
    world.rt.http.mount(FILES, HandlerAdapter(lambda request: (200, {}, b"not an image")))
    world.step()
    job = world.job()
    assert (job.state, job.cost, charged(world)) == ("failed", Decimal("0.15"), Decimal("0.15"))
    assert "not a readable image" in (job.error or "")
    assert part_files(world) == []


def failed_after_paying(world: World) -> None:
    running_job(world)
    blocker = world.rt.settings.home / "out" / "j1.png"
    blocker.mkdir(parents=True)
    world.step()
    assert world.job().state == "failed"
    blocker.rmdir()


def test_retry_downloads_a_paid_result_again_without_a_submit(world: World) -> None:
    failed_after_paying(world)
    report = operations.retry(world.rt, world.job().batch_id)
    assert (report.downloads, report.resubmits) == (1, 0)
    assert any("no new charge" in line for line in report.lines())
    job = world.job()
    assert (job.state, job.attempts, job.error, job.request_id) == ("downloading", 0, None, "req-1")
    with world.rt.sessions() as session:  # the tick leases it, as for any due job
        session.get_one(Job, job.id).lease_owner = OWNER
        session.commit()
    world.step()
    assert world.api.names() == ["result"]  # the one poll before the failure: no submit, no new poll
    assert (world.job().state, charged(world)) == ("succeeded", Decimal("0.15"))
    with world.rt.sessions() as session:
        assert len(session.scalars(select(Output).where(Output.job_id == job.id)).all()) == 1


@pytest.mark.parametrize("error_text", [None, "could not write"])
def test_retry_resubmit_pays_again_and_says_so(world: World, error_text: str | None) -> None:
    failed_after_paying(world)
    report = operations.retry(world.rt, world.job().batch_id, error_contains=error_text, resubmit=True)
    assert (report.downloads, report.resubmits, report.repaid) == (0, 1, 1)
    assert any("paid again" in line for line in report.lines())
    job = world.job()
    assert (job.state, job.request_id, job.cost) == ("pending", None, None)
    assert charged(world) == Decimal("0.15")  # what was paid stays in the batch's total


def test_a_paid_result_listing_no_readable_output_is_resubmitted_only_by_retry_resubmit(world: World) -> None:
    world.add_job(S.RUNNING, request_id="req-1", submitted_at=world.clock() - 10, upstream_status="in_progress")
    world.api.script("result", Result("succeeded", [], None, Decimal("0.15")))
    world.step()
    assert (world.job().state, charged(world)) == ("failed", Decimal("0.15"))
    report = operations.retry(world.rt, world.job().batch_id)  # paid, and still unreadable: not paid again
    assert (report.downloads, report.resubmits, report.unreadable, world.job().state) == (0, 0, 1, "failed")
    report = operations.retry(world.rt, world.job().batch_id, resubmit=True)
    assert (report.downloads, report.resubmits, world.job().state) == (0, 1, "pending")


def test_a_result_no_longer_served_says_that_only_resubmit_helps(world: World) -> None:
    running_job(world)
    world.rt.http.mount(FILES, HandlerAdapter(lambda request: (404, {}, b"")))
    world.step()
    job = world.job()
    assert (job.state, job.cost) == ("failed", Decimal("0.15"))
    assert "no longer served" in (job.error or "") and "--resubmit" in (job.error or "")
