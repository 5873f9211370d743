"""The ``simulate`` command line and the subprocess runner ``spawn_simulator``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch.simulator import SimulatorConfig, parse_latency, spawn_simulator
from batch.simulator.cli import simulate
from batch.simulator.testing import SimClient

FLAGS = ["--host", "--port", "--token", "--workers", "--latency", "--result-ttl", "--rate-limit",
         "--max-in-flight", "--fail-rate", "--error-rate", "--drop-rate", "--slow-rate", "--slow-seconds",
         "--seed", "--journal", "--price-1k2k", "--price-4k", "--result-errors"]


def test_help_documents_every_flag_and_a_curl_example() -> None:
    result = CliRunner().invoke(simulate, ["--help"])
    assert result.exit_code == 0
    for flag in FLAGS:
        assert flag in result.output, flag
    assert "curl" in result.output and "127.0.0.1" in result.output and "8765" in result.output


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "batch.simulator", "--help"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and "--max-in-flight" in done.stdout


@pytest.mark.parametrize("args", [["--latency", "5-2"], ["--latency", "abc"], ["--latency", "-1"],
                                  ["--fail-rate", "2"], ["--error-rate", "-0.1"], ["--drop-rate", "x"],
                                  ["--workers", "0"], ["--port", "70000"], ["--rate-limit", "0"],
                                  ["--max-in-flight", "0"], ["--slow-seconds", "-1"], ["--token", ""],
                                  ["--result-errors", "-1"]])
def test_bad_flag_values_exit_2_with_one_line_error(args: list[str]) -> None:
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1


def test_parse_latency_forms() -> None:
    assert parse_latency("0") == (0.0, 0.0)
    assert parse_latency("2.5") == (2.5, 2.5)
    assert parse_latency("10-40") == (10.0, 40.0)
    for bad in ("5-2", "", "1-2-3", "a-b", "-1", "inf"):
        with pytest.raises(ValueError):
            parse_latency(bad)


def test_config_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="fail_rate"):
        SimulatorConfig(fail_rate=1.5)
    with pytest.raises(ValueError, match="latency"):
        SimulatorConfig(latency=(3.0, 1.0))


def test_spawn_simulator_runs_a_job_and_flushes_journal_on_exit(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    with spawn_simulator(["--latency", "0", "--token", "tok", "--journal", str(journal)]) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        c = SimClient(sim.base_url, token="tok")
        result = c.run(c.body(aspect_ratio="1:1"))
        assert result["status"] == "succeeded"
        assert c.download(result["output"]["images"][0]).status_code == 200
        assert c.status("x", token="nope").status_code == 401
        stats = sim.stats()
        assert stats["submits"] == 1 and stats["jobs_by_state"]["succeeded"] == 1
        assert [j["state"] for j in sim.jobs()] == ["succeeded"]
        c.close()
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert lines[0]["status"] == 200 and lines[-1]["status"] == 401


def test_spawn_simulator_reports_a_failed_start() -> None:
    with pytest.raises(RuntimeError), spawn_simulator(["--workers", "0"]):
        pass
