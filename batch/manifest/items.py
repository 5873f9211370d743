"""Matrix items: an inline list of mappings, ``{csv: path}`` with a header row, or ``{files: glob}``.

``{files: "photos/*.jpg"}`` makes one item per matching file (relative to the manifest's folder,
in name order) with the fields ``file`` (its path, as matched) and ``stem`` (its name without
the extension).
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .checks import check_keys, scalar_text, type_name
from .model import ProblemLog
from .yamlsrc import YList, YMap

MAX_CSV_BYTES = 50 * 1024 * 1024  # items are held in memory: 100,000 rows of 500 bytes pass


@dataclass(frozen=True, slots=True)
class Item:
    """One matrix item: its fields as variables, its manifest line (0 for CSV rows), a label."""

    vars: dict[str, str]
    line: int
    label: str


def load_items(matrix: YMap, base_dir: Path, log: ProblemLog) -> tuple[list[Item], set[str]] | None:
    """The matrix's items and the union of their field names; None when unusable (reported)."""
    raw = matrix.get("items")
    line = matrix.line_of("items")
    if isinstance(raw, YList):
        return _inline(raw, log)
    if isinstance(raw, YMap):
        check_keys(raw, ("csv", "files"), "matrix.items", log)
        if "files" in raw:
            return _from_files(raw.get("files"), raw.line_of("files"), base_dir, log)
        path = raw.get("csv")
        if isinstance(path, str) and path.strip():
            return _from_csv(path, raw.line_of("csv"), base_dir, log)
        log.add(raw.line_of("csv"), "matrix.items.csv",
                "must name a CSV file, e.g. {csv: catalog.csv}, or use {files: \"photos/*.jpg\"}")
        return None
    if raw is None:
        log.add(line, "matrix.items", "required: a list of mappings or {csv: file.csv}")
    else:
        log.add(line, "matrix.items", f"must be a list of mappings or {{csv: file.csv}}, not {type_name(raw)}")
    return None


def _from_files(pattern: object, line: int, base_dir: Path, log: ProblemLog) -> tuple[list[Item], set[str]] | None:
    if not isinstance(pattern, str) or not pattern.strip():
        log.add(line, "matrix.items.files", "must be a glob pattern, e.g. {files: \"photos/*.jpg\"}")
        return None
    root = str(base_dir)
    found = sorted(p for p in glob.glob(os.path.join(glob.escape(root), pattern), recursive=True) if os.path.isfile(p))
    if not found:
        log.add(line, "matrix.items.files", f"no file matches {pattern!r} (relative to the manifest's folder)")
        return None
    items = []
    for path in found:
        shown = Path(os.path.relpath(path, root)).as_posix()
        stem = Path(path).stem
        items.append(Item({"file": shown, "stem": stem}, line, stem))
    return items, {"file", "stem"}


def _label(fields: dict[str, str], fallback: str) -> str:
    sku = fields.get("sku")
    if not sku:
        return fallback
    return sku if sku.isprintable() and "]" not in sku else repr(sku)


def _inline(raw: YList, log: ProblemLog) -> tuple[list[Item], set[str]]:
    items: list[Item] = []
    names: set[str] = set()
    for index, entry in enumerate(raw):
        line = raw.line_of(index)
        if not isinstance(entry, YMap):
            log.add(line, f"matrix.items[{index}]", f"must be a mapping of fields, not {type_name(entry)}")
            continue
        fields: dict[str, str] = {}
        for key, value in entry.items():
            text = scalar_text(value)
            if text is None:
                log.add(entry.line_of(key), f"matrix.items[{index}].{key}",
                        f"must be a string or number, not {type_name(value)}")
            else:
                fields[key] = text
        if len(fields) == len(entry):  # an item with a bad field is left out (it is reported)
            names.update(fields)
            items.append(Item(fields, line, _label(fields, f"items[{index}]")))
    return items, names


def _from_csv(path: str, line: int, base_dir: Path, log: ProblemLog) -> tuple[list[Item], set[str]] | None:
    shown = path if os.path.isabs(path) else os.path.join(os.path.dirname(log.file), path)
    try:
        with open(base_dir / path, newline="", encoding="utf-8-sig") as handle:
            if os.fstat(handle.fileno()).st_size > MAX_CSV_BYTES:
                log.add(line, "matrix.items.csv", f"{shown} is larger than {MAX_CSV_BYTES:,} bytes: "
                                                  "split the batch into several manifests")
                return None
            return _read_csv(_numbered_rows(handle), shown, log)
    except OSError as err:
        log.add(line, "matrix.items.csv", f"cannot read {shown}: {err.strerror or err}")
    except UnicodeDecodeError as err:
        log.add(line, "matrix.items.csv", f"{shown} is not UTF-8 text ({err.reason})")
    except csv.Error as err:
        log.add(0, "", f"CSV error: {err}", file=shown)
    return None


def _numbered_rows(handle: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts at."""
    reader = csv.reader(handle)
    start = 1
    for row in reader:
        if any(cell.strip() for cell in row):
            yield start, row
        start = reader.line_num + 1


def _read_csv(rows: Iterator[tuple[int, list[str]]], shown: str,
              log: ProblemLog) -> tuple[list[Item], set[str]] | None:
    first = next(rows, None)
    if first is None:
        log.add(1, "", "no header row: the first line must name the columns", file=shown)
        return None
    header = [name.strip() for name in first[1]]
    if not _header_ok(header, first[0], shown, log):
        return None
    width = len(header)
    items: list[Item] = []
    for line, row in rows:
        if len(row) != width:
            log.add(line, "", f"row has {len(row)} fields; the header has {width}", file=shown)
            continue
        fields = dict(zip(header, (cell.strip() for cell in row), strict=True))
        items.append(Item(fields, 0, _label(fields, f"{os.path.basename(shown)}:{line}")))
    return items, set(header)


def _header_ok(header: list[str], line: int, shown: str, log: ProblemLog) -> bool:
    ok = True
    seen: set[str] = set()
    for column, name in enumerate(header, 1):
        if not name:
            log.add(line, "", f"header column {column} is empty", file=shown)
            ok = False
        elif name in seen:
            log.add(line, "", f"header names column {name!r} twice", file=shown)
            ok = False
        seen.add(name)
    return ok
