"""A report written: its format chosen (``--format`` or the path's extension), rendered by ``data``
(CSV, JSON) or ``html``, and written atomically.

Apart from ``data`` because ``html`` reads ``data``'s types: the module that picks among the
renderers sits above both.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from batch.errors import InputError
from batch.reports.data import ReportData, format_for, load_report, render_csv, render_json, write_atomic


def render(data: ReportData, fmt: str) -> str:
    """The report text in ``fmt`` (csv, json or html)."""
    if fmt == "csv":
        return render_csv(data)
    if fmt == "json":
        return render_json(data)
    from batch.reports.html import render_html

    return render_html(data)


def write_report(sessions: sessionmaker[Session], batch_id: int, path: str | Path,
                 fmt: str | None = None) -> Path:
    """Write the report of ``batch_id`` to ``path`` (format from ``fmt`` or the extension); return it."""
    target = Path(path).expanduser().absolute()
    chosen = format_for(target, fmt)
    if target.is_dir():
        raise InputError(f"cannot write {target}: it is a directory")
    if not target.parent.is_dir():
        raise InputError(f"cannot write {target}: no directory {target.parent}")
    data = load_report(sessions, batch_id)
    write_atomic(target, render(data, chosen).encode("utf-8"))
    return target
