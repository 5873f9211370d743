"""Settings from the environment, and the token kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.config import REAL_API_BASE, load_settings
from batch.errors import ConfigError


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
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_run_batches_scope_the_workers_and_default_to_every_batch() -> None:
    assert load_settings({}).run_batches is None
    assert load_settings({"NANOBATCH_RUN_BATCHES": "7,3"}).run_batches == frozenset({3, 7})
