"""The ``--json`` documents of the commands that report (schemas: docs/json.md)."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from batch.cli.exits import Exit
from batch.cli.jsonout import emit
from batch.commands import service
from batch.errors import InputError, ManifestError


def validate_json(manifest: str) -> None:
    """``validate --json``: ``ok`` and the job count, or every problem as an object (exit 2)."""
    try:
        loaded = service.validate(manifest)
    except ManifestError as exc:
        _refused(manifest, [p.as_json() for p in exc.problems])
    except InputError as exc:  # the output folder (preflight): a problem of the manifest as a whole
        _refused(manifest, [{"file": manifest, "line": 0, "field": "", "message": str(exc)}])
    emit({"manifest": manifest, "ok": True, "name": loaded.name, "jobs": len(loaded.jobs),
          "warnings": list(loaded.warnings), "problems": []})


def _refused(manifest: str, problems: list[dict[str, Any]]) -> NoReturn:
    emit({"manifest": manifest, "ok": False, "name": None, "jobs": 0, "warnings": [], "problems": problems})
    sys.exit(Exit.USAGE)


def report_to_stdout(batch_id: int, fmt: str | None) -> None:
    """``report -o -``: the report on stdout (JSON unless ``fmt``), no file written."""
    from batch.reports.data import load_report
    from batch.reports.writer import render

    data = load_report(service.require_batch(batch_id), batch_id)
    sys.stdout.write(render(data, fmt or "json"))
    sys.stdout.flush()
