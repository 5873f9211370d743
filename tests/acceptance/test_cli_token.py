"""The API token as a user's file holds it: a BOM and a line break are fine, a token HTTP cannot carry stops `run`."""

from __future__ import annotations

from pathlib import Path

from tests.acceptance.test_cli import nanobatch
from tests.helpers import write_manifest

SECRET = "sk-secret-9876"


def test_token_unfit_for_a_header_stops_run_with_exit_2_and_no_token_shown(tmp_path: Path) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text(f"\ufeff{SECRET}\u00a0extra\r\n", encoding="utf-8")  # a no-break space inside
    manifest = write_manifest(tmp_path, "http://127.0.0.1:9")
    home = tmp_path / "home"
    done = nanobatch(["run", str(manifest)], home, tmp_path, RUNCOMFY_API_TOKEN_FILE=str(token_file),
                     RUNCOMFY_API_BASE="http://127.0.0.1:9")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: RUNCOMFY_API_TOKEN_FILE ({token_file}): the API token cannot go in an HTTP header: "
        "character 15 of 20 is a space; copy the token again from the RunComfy dashboard")
    assert SECRET not in done.stdout + done.stderr
    assert not home.exists()
