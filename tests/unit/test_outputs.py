"""Output names: a job's extra outputs, the cap on them, and clashes between jobs' paths."""

from __future__ import annotations

from pathlib import Path

import requests

from batch.files.outputs import MAX_OUTPUTS_PER_JOB, Collision, download_all, output_collisions, output_names
from batch.store.models import Batch, Job
from tests.helpers import HandlerAdapter
from tests.unit.test_download import LIMITS, image_bytes


def test_extra_outputs_are_numbered_beside_the_first() -> None:
    assert output_names("a/shoe.png", 3) == ["a/shoe.png", "a/shoe-2.png", "a/shoe-3.png"]


def test_a_name_another_job_may_need_for_its_extra_outputs_clashes() -> None:
    assert output_collisions([("shoe", "shoe.png"), ("shoe-2", "shoe-2.png")]) == [
        Collision("shoe-2", "shoe-2.png", "shoe")]
    beyond = f"shoe-{MAX_OUTPUTS_PER_JOB + 1}.png"  # past the cap: free
    assert output_collisions([("shoe", "shoe.png"), ("far", beyond)]) == []


def test_a_file_where_another_job_needs_a_folder_clashes() -> None:
    assert output_collisions([("x", "a.png/x.png"), ("a", "a.png")]) == [Collision("a", "a.png", "x", folder=True)]
    assert output_collisions([("x", "a/x.png"), ("y", "a/y.png")]) == []  # sharing a folder is fine


def test_only_the_capped_number_of_outputs_is_downloaded(tmp_path: Path) -> None:
    body = image_bytes("PNG", (1024, 1024))
    http = requests.Session()
    http.mount("http://", HandlerAdapter(lambda _request: (200, {}, body)))
    urls = [f"http://cdn.test/{n}.png" for n in range(MAX_OUTPUTS_PER_JOB + 2)]
    job = Job(id=1, output_name="shoe.png", result_urls=urls,
              inputs={"aspect_ratio": "1:1", "resolution": "1K", "output_format": "png"})
    saved = download_all(http, job, Batch(output_dir=str(tmp_path)), limits=LIMITS)
    assert len(saved) == MAX_OUTPUTS_PER_JOB
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(output_names("shoe.png", MAX_OUTPUTS_PER_JOB))
