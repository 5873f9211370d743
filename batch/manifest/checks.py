"""Type checks for manifest values, and the safe-name rule for job ids and output names.

Safe names: an id is one *segment*; an output name is segments joined by ``/``. A segment is
1 to 200 characters from ``A-Z a-z 0-9 . _ -`` and does not start with ``.`` or ``-`` (so no
``.``/``..``, no hidden files, nothing an option parser would take for a flag). An id is at
most 128 characters; an output name at most 1000 and never absolute. That keeps every output
inside the output folder on any OS, with no quoting needed anywhere.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from .model import ProblemLog
from .templates import NAME_RE
from .yamlsrc import YList, YMap

MAX_ID_LENGTH = 128
MAX_SEGMENT_LENGTH = 200
MAX_OUTPUT_NAME_LENGTH = 1000
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}"
_ID_RE = re.compile(_SEGMENT)
_PATH_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a safe job id, or None when it is."""
    if len(value) <= MAX_ID_LENGTH and _ID_RE.fullmatch(value):
        return None
    if "/" in value:
        return f"id {value!r} contains '/'; ids are one name (use output_name for folders)"
    return _segment_problem("id", value, MAX_ID_LENGTH)


def output_name_problem(value: str) -> str | None:
    """Why ``value`` is not a safe relative output path, or None when it is."""
    if len(value) <= MAX_OUTPUT_NAME_LENGTH and _PATH_RE.fullmatch(value):
        return None
    if value.startswith("/"):
        return f"output_name {value!r} is absolute; it must stay inside output_dir"
    if "\\" in value:
        return f"output_name {value!r} contains a backslash; separate folders with '/'"
    if len(value) > MAX_OUTPUT_NAME_LENGTH:
        return f"output_name {value[:40]!r}... is longer than {MAX_OUTPUT_NAME_LENGTH} characters"
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            return f"output_name {value!r} has an empty, '.' or '..' part"
        problem = _segment_problem("output_name", segment, MAX_SEGMENT_LENGTH)
        if problem:
            return problem.replace(repr(segment), f"{value!r} (part {segment!r})", 1)
    return None  # pragma: no cover - the regex and the checks above agree


def _segment_problem(what: str, value: str, limit: int) -> str | None:
    if not value:
        return f"{what} is empty"
    if len(value) > limit:
        return f"{what} {value[:40]!r}... is longer than {limit} characters"
    bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "._-"))})
    if bad:
        shown = "".join(bad)
        return (f"{what} {value!r} has characters outside A-Z a-z 0-9 . _ - ({shown!r}); "
                "use only those")
    if value[0] in ".-":
        return f"{what} {value!r} starts with {value[0]!r}"
    return None


def check_keys(mapping: YMap, allowed: Iterable[str], prefix: str, log: ProblemLog) -> None:
    """Report every key of ``mapping`` not in ``allowed`` (suggesting the nearest one)."""
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; expected one of {', '.join(allowed)}"
            log.add(mapping.line_of(key), join(prefix, key), f"unknown key{hint}")


def join(prefix: str, field: str) -> str:
    """``prefix.field`` (or just one when the other is empty)."""
    return f"{prefix}.{field}" if prefix and field else prefix or field


def type_name(value: Any) -> str:
    """How a YAML value's type is named in messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping"


def get_mapping(parent: YMap, key: str, prefix: str, log: ProblemLog) -> YMap | None:
    """``parent[key]`` when it is a mapping; None when absent/null; a problem otherwise."""
    value = parent.get(key)
    if value is None or isinstance(value, YMap):
        return value
    log.add(parent.line_of(key), join(prefix, key), f"must be a mapping, not {type_name(value)}")
    return None


def get_list(parent: YMap, key: str, prefix: str, log: ProblemLog) -> YList | None:
    """``parent[key]`` when it is a list; None when absent/null; a problem otherwise."""
    value = parent.get(key)
    if value is None or isinstance(value, YList):
        return value
    log.add(parent.line_of(key), join(prefix, key), f"must be a list, not {type_name(value)}")
    return None


def get_string(parent: YMap, key: str, prefix: str, log: ProblemLog, required: bool = False) -> str | None:
    """``parent[key]`` when it is a non-empty string; None when absent; a problem otherwise."""
    value = parent.get(key)
    field = join(prefix, key)
    if value is None:
        if required:
            log.add(parent.line_of(key), field, "required")
        return None
    if isinstance(value, str) and value.strip():
        return value
    log.add(parent.line_of(key), field, f"must be a non-empty string, not {type_name(value)}")
    return None


def get_positive(parent: YMap, key: str, prefix: str, log: ProblemLog, integer: bool = False,
                 maximum: float = float("inf")) -> Any:
    """``parent[key]`` when it is a number > 0 (an integer if asked) and at most ``maximum``; None otherwise."""
    value = parent.get(key)
    if value is None:
        return None
    number = isinstance(value, int) or (isinstance(value, float) and not integer)
    if number and not isinstance(value, bool) and 0 < value < float("inf"):
        if value <= maximum:
            return value
        log.add(parent.line_of(key), join(prefix, key), f"must be at most {maximum:,g}, not {value!r}")
        return None
    what = "a whole number" if integer else "a number"
    log.add(parent.line_of(key), join(prefix, key), f"must be {what} greater than 0, not {value!r}")
    return None


def scalar_text(value: Any) -> str | None:
    """A scalar as variable text (true/false for booleans, "" for null); None for lists/mappings."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return None


def get_vars(parent: YMap, key: str, prefix: str, log: ProblemLog) -> tuple[dict[str, str], dict[str, int]]:
    """A ``vars:`` block as (name -> text, name -> line), reporting bad names and non-scalars."""
    block = get_mapping(parent, key, prefix, log)
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    if block is None:
        return values, lines
    for name, raw in block.items():
        field, line = join(join(prefix, key), name), block.line_of(name)
        text = scalar_text(raw)
        if not NAME_RE.fullmatch(name):
            log.add(line, field, "not a valid variable name (letters, digits, '_', '-'; not starting "
                                 "with a digit or '-')")
        elif text is None:
            log.add(line, field, f"must be a string or number, not {type_name(raw)}")
        else:
            values[name], lines[name] = text, line
    return values, lines
