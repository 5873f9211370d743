"""Checks that cost nothing come before the first submit: the output folder, output names, inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from batch.simulator import spawn_simulator
from tests.acceptance.test_cli import nanobatch
from tests.helpers import journal_submits

OFFLINE = {"RUNCOMFY_API_BASE": "http://127.0.0.1:9", "RUNCOMFY_API_TOKEN": "t"}


def _manifest(folder: Path, output_dir: Path, jobs: list[tuple[str, str, str]]) -> Path:
    """Jobs as (id, output_name, image url)."""
    lines = [f"name: preflight\noutput_dir: {output_dir}\njobs:"]
    for job_id, output_name, url in jobs:
        lines.append(f"  - {{id: {job_id}, output_name: '{output_name}', prompt: p, image_urls: ['{url}']}}")
    path = folder / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("verb", ["validate", "run", "submit"])
def test_a_file_where_the_output_folder_goes_is_refused_before_anything_is_written(tmp_path: Path, verb: str) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    manifest = _manifest(tmp_path, blocker, [("a", "a", "https://cdn.example.com/a.png")])
    done = nanobatch([verb, str(manifest)], tmp_path / "home", tmp_path, **OFFLINE)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().startswith("error: output_dir ") and str(blocker) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "nanobatch.db").exists()


def test_an_output_folder_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    manifest = _manifest(tmp_path, tmp_path / "file" / "out", [("a", "a", "https://cdn.example.com/a.png")])
    done = nanobatch(["validate", str(manifest)], tmp_path / "home", tmp_path, **OFFLINE)
    assert done.returncode == 2 and str(tmp_path / "file" / "out") in done.stderr, done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder: run as a user to check it")
def test_a_read_only_output_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    manifest = _manifest(tmp_path, locked, [("a", "a", "https://cdn.example.com/a.png")])
    done = nanobatch(["validate", str(manifest)], tmp_path / "home", tmp_path, **OFFLINE)
    assert done.returncode == 2 and "cannot write" in done.stderr and str(locked) in done.stderr


def test_validate_leaves_a_writable_folder_with_no_probe_in_it(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, tmp_path / "new" / "out", [("a", "a", "https://cdn.example.com/a.png")])
    done = nanobatch(["validate", str(manifest)], tmp_path / "home", tmp_path, **OFFLINE)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new" / "out").is_dir() and not list((tmp_path / "new" / "out").iterdir())


@pytest.mark.parametrize(("first", "second", "clash"), [
    (("shoe", "shoe"), ("shoe-2", "shoe-2"), "shoe-2.png"),        # shoe's second output is shoe-2.png
    (("a", "a.png/x"), ("b", "a"), "a.png"),                       # a file where a folder goes
    (("c", "Case"), ("d", "case-3"), "case-3.png"),                 # names compare without case
])
def test_output_paths_that_could_clash_are_refused(tmp_path: Path, first: tuple[str, str],
                                                    second: tuple[str, str], clash: str) -> None:
    url = "https://cdn.example.com/a.png"
    manifest = _manifest(tmp_path, tmp_path / "out", [(*first, url), (*second, url)])
    for verb in ("validate", "run"):
        done = nanobatch([verb, str(manifest)], tmp_path / "home", tmp_path, **OFFLINE)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "jobs.yaml:" in done.stderr and repr(clash) in done.stderr.lower(), done.stderr
        assert not (tmp_path / "home" / "nanobatch.db").exists()


def test_check_inputs_fails_a_job_whose_input_is_missing_unpaid(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    with spawn_simulator(["--latency", "0.1-0.2", "--journal", str(journal)]) as sim:
        missing = f"{sim.base_url}/samples/no-such-image.png"
        manifest = _manifest(tmp_path, tmp_path / "out", [("good", "good", f"{sim.base_url}/samples/shoe.png"),
                                                          ("gone", "gone", missing)])
        done = nanobatch(["run", "--check-inputs", str(manifest)], tmp_path / "home", tmp_path,
                         RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
    assert done.returncode == 1, done.stdout + done.stderr
    assert missing in done.stderr and "404" in done.stderr
    assert sum(journal_submits(journal).values()) == 1  # only the good job was sent
    report = tmp_path / "report.json"
    nanobatch(["report", "1", "-o", str(report)], tmp_path / "home", tmp_path)
    rows = {row["id"]: row for row in json.loads(report.read_text())["jobs"]}
    assert rows["good"]["state"] == "succeeded" and rows["gone"]["state"] == "failed"
    assert missing in rows["gone"]["error"] and "HTTP 404" in rows["gone"]["error"]


def test_validate_reports_every_problem_in_one_pass(tmp_path: Path) -> None:
    """An unknown variable does not hide the job's other problems (nor does a missing storage: block)."""
    (tmp_path / "cat.png").write_bytes(b"not checked here")
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text("name: one-pass\njobs:\n  - id: one\n    prompt: 'a {titel}'\n"
                        "    image_urls: [cat.png]\n    resolution: 3K\n")
    done = nanobatch(["validate", str(manifest)], tmp_path / "home", tmp_path, **OFFLINE)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr
    assert lines[0].startswith(f"error: {manifest}:4: jobs[0].prompt: unknown variable {{titel}}")
    assert lines[1].startswith(f"error: {manifest}:5: jobs[0].image_urls.0: ") and "storage:" in lines[1]
    assert lines[2].startswith(f"error: {manifest}:6: jobs[0].resolution: ") and "3K" in lines[2]


def test_a_budget_too_large_to_store_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """``--budget 1e13`` (or ``budget_usd: 1e13``) ended in a traceback from the database; now one line, exit 2."""
    home = tmp_path / "home"
    manifest = _manifest(tmp_path, tmp_path / "out", [("a", "a.png", "https://example.test/a.png")])
    done = nanobatch(["submit", str(manifest), "--budget", "1e13"], home, tmp_path, **OFFLINE)
    assert done.returncode == 2 and "--budget" in done.stderr and "Traceback" not in done.stderr, done.stderr
    manifest.write_text(manifest.read_text() + "budget_usd: 1e13\n")
    done = nanobatch(["submit", str(manifest)], home, tmp_path, **OFFLINE)
    assert done.returncode == 2, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {manifest}:5: budget_usd: must be at most 1e+09, not 10000000000000.0"]
    assert not (home / "nanobatch.db").exists()
