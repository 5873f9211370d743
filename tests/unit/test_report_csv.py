"""The CSV report defuses cells a spreadsheet would run as formulas (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from batch.reports.data import COLUMNS, BatchHeader, ReportData, render_csv


def one_row(**values: Any) -> dict[str, str]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update({"inputs": [], "outputs": [], "sha256": [], "size": [], "bytes": []}, **values)
    data = ReportData(BatchHeader(1, "b", 0.0, {}, 0.0, "/out"), [row])
    return next(csv.DictReader(io.StringIO(render_csv(data))))


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a red shoe", "a red shoe"),
        ("-3.5", "-3.5"),
        ("+7", "+7"),
    ],
)
def test_formula_cells_get_a_leading_quote_and_plain_numbers_stay_numbers(text: str, written: str) -> None:
    row = one_row(prompt=text, error=text)
    assert (row["prompt"], row["error"]) == (written, written)


def test_list_and_numeric_columns() -> None:
    row = one_row(inputs=["=cmd", "https://x.example/a.png"], cost=-0.15, attempts=2)
    assert row["inputs"] == "'=cmd https://x.example/a.png"
    assert (row["cost"], row["attempts"]) == ("-0.15", "2")
