"""Settings from the environment, and the token kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.config import REAL_API_BASE, load_settings
from batch.errors import ConfigError
from batch.files.download import DownloadLimits


def test_defaults_need_nothing(tmp_path: Path) -> None:
    s = load_settings({"NANOBATCH_HOME": str(tmp_path)})
    assert s.api_base == REAL_API_BASE and s.is_real_api
    assert s.db_url == f"sqlite:///{tmp_path / 'nanobatch.db'}"
    assert s.redis_url is None and s.token is None


def test_token_never_in_repr_or_error(tmp_path: Path) -> None:
    s = load_settings({"RUNCOMFY_API_TOKEN": "sk-secret-123", "NANOBATCH_HOME": str(tmp_path)})
    assert "sk-secret-123" not in repr(s)
    assert s.require_token() == "sk-secret-123"


def test_token_from_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert load_settings({"RUNCOMFY_API_TOKEN_FILE": str(token_file)}).token == "from-file"


def test_missing_token_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="RUNCOMFY_API_TOKEN"):
        load_settings({}).require_token()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NANOBATCH_REQUESTS_PER_SECOND": "fast"}, "must be a number"),
        ({"NANOBATCH_MAX_IN_FLIGHT": "-1"}, "must be positive"),
        ({"NANOBATCH_UNCERTAIN_SUBMIT": "pray"}, "resubmit, hold"),
        ({"RUNCOMFY_API_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
        ({"NANOBATCH_RUN_BATCHES": "3,x"}, "NANOBATCH_RUN_BATCHES must be batch ids"),
        ({"NANOBATCH_DOWNLOAD_MIN_RATE": "0"}, "NANOBATCH_DOWNLOAD_MIN_RATE must be positive"),
        ({"NANOBATCH_DOWNLOAD_FLOOR_SECONDS": "soon"}, "NANOBATCH_DOWNLOAD_FLOOR_SECONDS must be a number"),
        ({"NANOBATCH_METRICS_PORT": "70000"}, "NANOBATCH_METRICS_PORT must be a port number"),
        ({"NANOBATCH_METRICS_PORT": "ninety"}, "NANOBATCH_METRICS_PORT must be a port number"),
        ({"NANOBATCH_OUTPUT_BYTES": "big"}, "NANOBATCH_OUTPUT_BYTES must be a number"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_run_batches_scope_the_workers_and_default_to_every_batch() -> None:
    assert load_settings({}).run_batches is None
    assert load_settings({"NANOBATCH_RUN_BATCHES": "7,3"}).run_batches == frozenset({3, 7})


@pytest.mark.parametrize(
    "content",
    [b"\xef\xbb\xbfsk-file-77\r\n", b"  sk-file-77\n\n", b"\xef\xbb\xbf  sk-file-77  \n", b"sk-file-77"],
    ids=["bom-crlf", "whitespace", "bom-spaces", "bare"],
)
def test_token_file_is_read_tolerantly(tmp_path: Path, content: bytes) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(content)
    assert load_settings({"RUNCOMFY_API_TOKEN_FILE": str(token_file)}).token == "sk-file-77"


def test_token_variable_with_bom_and_newline() -> None:
    assert load_settings({"RUNCOMFY_API_TOKEN": "\ufeffsk-env-5\n"}).token == "sk-env-5"


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("sk-sec ret", "character 7 of 10 is a space"),
        ("sk-sec\x00ret", "character 7 of 10 is a control character"),
        ("sk-sec\u20acret", "character 7 of 10 is the non-ASCII character U+20AC"),
        ("sk-sec\r\nret", "character 7 of 11 is a space"),
    ],
)
def test_token_unfit_for_a_header_is_refused_without_quoting_it(tmp_path: Path, token: str, kind: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"RUNCOMFY_API_TOKEN": token})
    assert str(err.value) == (f"RUNCOMFY_API_TOKEN: the API token cannot go in an HTTP header: {kind}; "
                              "copy the token again from the RunComfy dashboard")
    token_file = tmp_path / "token"
    token_file.write_text(token, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings({"RUNCOMFY_API_TOKEN_FILE": str(token_file)})
    assert "sk-sec" not in str(err.value) and kind in str(err.value)


def test_token_file_that_is_not_utf8(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(b"sk-\xff\xfe")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text$"):
        load_settings({"RUNCOMFY_API_TOKEN_FILE": str(token_file)})


def test_the_download_deadline_is_configured_from_the_environment() -> None:
    s = load_settings({"NANOBATCH_DOWNLOAD_MAX_BYTES": "1000", "NANOBATCH_DOWNLOAD_MIN_RATE": "100",
                       "NANOBATCH_DOWNLOAD_FLOOR_SECONDS": "2", "NANOBATCH_DOWNLOAD_STALL_RATE": "50",
                       "NANOBATCH_DOWNLOAD_STALL_SECONDS": "4"})
    assert DownloadLimits.from_settings(s) == DownloadLimits(max_bytes=1000, min_rate=100.0, floor_seconds=2.0,
                                                             stall_rate=50.0, stall_seconds=4.0)
    assert DownloadLimits.from_settings(s).deadline == 2 + 1000 / 100
