"""Reading a whole manifest: the top-level keys, then expansion, then every problem at once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batch.core import notice, schema
from batch.core import pilot as pilot_rules
from batch.core.cost import MAX_BUDGET_USD
from batch.storage.config import StorageConfig
from batch.storage.refs import key_problem, parse_ref

from .checks import check_keys, get_list, get_mapping, get_positive, get_string, get_vars, type_name
from .expand import Expander
from .inputs import InputResolver, storage_config
from .model import Limits, Manifest, Pilot, ProblemLog
from .recipes import compile_layer, compile_output_name
from .templates import render_vars
from .yamlsrc import YList, YMap, load_yaml

TOP_KEYS = ("name", "output_dir", "output_name", "budget_usd", "limits", "vars", "defaults", "jobs",
            "matrix", "notify", "storage", "allow_env", "pilot")
PILOT_KEYS = ("size", "gate")
STORAGE_KEYS = ("url", "endpoint_url", "region", "url_expiry_seconds", "local_roots")
NOTIFY_KEYS = (*notice.CHANNELS, "on", "format")
LIMIT_KEYS = ("requests_per_second", "submits_per_second", "max_in_flight")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_MANIFEST_BYTES = 10 * 1024 * 1024  # a manifest is typed by hand or generated: far below this


def load_manifest(path: str | Path, env: Mapping[str, str] | None = None) -> Manifest:
    """Read, expand and validate the manifest at ``path``.

    ``env`` (default ``os.environ``) answers ``${NAME}`` references. Relative paths in the
    manifest (``output_dir``, ``items: {csv: ...}``) are taken from the manifest's folder.
    Raises ManifestError listing every problem; an unreadable file, or one larger than
    ``MAX_MANIFEST_BYTES``, is one problem too.
    """
    shown = str(path)
    log = ProblemLog(shown)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        log.add(0, "", f"cannot read the manifest: {reason}")
    else:
        if len(raw) > MAX_MANIFEST_BYTES:
            log.add(1, "", f"the manifest is larger than {MAX_MANIFEST_BYTES:,} bytes: split it, "
                           "or list the items in a CSV file (matrix: items: {csv: ...})")
    log.raise_if_any()
    base_dir = Path(path).parent.resolve()
    return parse_manifest(text, shown, base_dir, os.environ if env is None else env)


def parse_manifest(text: str, filename: str, base_dir: Path, env: Mapping[str, str]) -> Manifest:
    """Expand and validate manifest ``text``; ``filename`` is used in messages and ``Manifest.path``.

    Raises ManifestError listing every problem found (see ``ManifestError.problems``).
    """
    log = ProblemLog(filename)
    doc = load_yaml(text, env, log)
    if not isinstance(doc, YMap):
        if log.count == 0:
            what = "empty" if doc is None else type_name(doc)
            log.add(doc.line if isinstance(doc, YList) else 1, "",
                    f"the manifest must be a mapping with name: and jobs: or matrix:, but it is {what}")
        log.raise_if_any()
        raise AssertionError("unreachable")  # pragma: no cover
    check_keys(doc, TOP_KEYS, "", log)
    _allow_env(doc, log)
    name = get_string(doc, "name", "", log, required=True)
    output_dir, output_url = _output_dir(doc, base_dir, log)
    limits = _limits(doc, log)
    budget = get_positive(doc, "budget_usd", "", log, maximum=MAX_BUDGET_USD)
    notify = _notify(doc, log)
    storage, roots = _storage(doc, base_dir, log)
    pilot = _pilot(doc, log)
    expander = _expander(doc, log, InputResolver(base_dir, storage, roots))
    expander.explicit(doc)
    expander.matrix(doc, base_dir)
    if pilot is not None and pilot.max_failed is not None and any(spec.variant for spec in expander.jobs):
        log.add(pilot.line, "pilot.gate", "a gate cannot choose between prompt variants: use gate: review "
                                          "(a person picks one with nanobatch pilot approve --variant)")
    if not expander.jobs and log.count == 0:
        log.add(1, "", "the manifest makes no jobs: add a jobs: list or a matrix: block")
    log.raise_if_any()
    return Manifest(
        name=name or "",
        path=filename,
        jobs=expander.jobs,
        output_dir=output_dir,
        limits=limits,
        budget_usd=None if budget is None else float(budget),
        notify=None if notify is None else _plain(notify),
        warnings=log.warnings(),
        storage=storage,
        output_url=output_url,
        uploads=tuple(expander.resolver.uploads.values()),
        lines={key: doc.line_of(key) for key in ("storage", "output_dir") if key in doc},
        pilot=pilot,
    )


def _expander(doc: YMap, log: ProblemLog, resolver: InputResolver) -> Expander:
    block, lines = get_vars(doc, "vars", "", log)
    base_vars = render_vars(block, lines, {}, "vars", log)
    defaults = get_mapping(doc, "defaults", "", log)
    if defaults is not None:
        check_keys(defaults, schema.INPUT_FIELDS, "defaults", log)
    return Expander(log, base_vars, compile_layer(defaults, "defaults", log),
                    compile_output_name(doc, "", log), resolver)


def _output_dir(doc: YMap, base_dir: Path, log: ProblemLog) -> tuple[str | None, str | None]:
    """The local output folder, or (None, the bucket reference) for ``output_dir: s3://bucket/prefix``."""
    raw = get_string(doc, "output_dir", "", log)
    if raw is None:
        return None, None
    if "://" in raw:
        ref = parse_ref(raw)
        problem = None if ref is None else key_problem(ref.key)
        if ref is None:
            log.add(doc.line_of("output_dir"), "output_dir",
                    f"must be a folder or a bucket reference (s3://, gs://, az://), not {raw!r}")
        elif problem is not None:
            log.add(doc.line_of("output_dir"), "output_dir", f"{raw!r} {problem}")
        return None, raw.rstrip("/")
    return str((base_dir / Path(raw).expanduser()).resolve()), None


def _storage(doc: YMap, base_dir: Path, log: ProblemLog) -> tuple[StorageConfig | None, tuple[Path, ...]]:
    """The ``storage:`` block, and the folders besides the manifest's that local inputs may come from."""
    block = get_mapping(doc, "storage", "", log)
    if block is None:
        return None, ()
    check_keys(block, STORAGE_KEYS, "storage", log)
    config, problems = storage_config(_plain(block))
    for key, message in problems.items():
        log.add(block.line_of(key), f"storage.{key}", message)
    return config, _local_roots(block, base_dir, log)


def _local_roots(block: YMap, base_dir: Path, log: ProblemLog) -> tuple[Path, ...]:
    """``storage.local_roots``: existing folders (relative to the manifest's, ``~`` expanded), resolved."""
    entries = get_list(block, "local_roots", "storage", log)
    roots: list[Path] = []
    for index, entry in enumerate(entries or ()):
        line, field = entries.line_of(index) if entries else 0, f"storage.local_roots.{index}"
        if not isinstance(entry, str) or not entry.strip():
            log.add(line, field, f"must be a folder's path, not {type_name(entry)}")
            continue
        folder = (base_dir / Path(entry).expanduser()).resolve()
        if not folder.is_dir():
            log.add(line, field, f"{entry!r} is not a folder ({folder})")
        elif folder == Path(folder.anchor):
            log.add(line, field, f"{entry!r} is the root of the file system: name the folder that holds the photos")
        else:
            roots.append(folder)
    return tuple(roots)


def _allow_env(doc: YMap, log: ProblemLog) -> None:
    """``allow_env:`` (read by ``load_yaml``) must be a list of variable names."""
    names = get_list(doc, "allow_env", "", log)
    for index, name in enumerate(names or ()):
        if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
            log.add(names.line_of(index) if names else 0, f"allow_env.{index}",
                    f"must be an environment variable's name, not {name!r}")


def _notify(doc: YMap, log: ProblemLog) -> YMap | None:
    """The ``notify:`` block: ``webhook``/``command`` strings, ``on`` (events), ``format`` (json | slack)."""
    block = get_mapping(doc, "notify", "", log)
    if block is None:
        return None
    check_keys(block, NOTIFY_KEYS, "notify", log)
    events = get_list(block, "on", "notify", log) or YList(block.line_of("on"))
    for index, event in enumerate(events):
        if event not in notice.EVENTS:
            log.add(events.line_of(index), f"notify.on.{index}",
                    f"unknown event {event!r}; expected some of {', '.join(notice.EVENTS)}")
    fmt = block.get("format")
    if fmt is not None and fmt not in notice.FORMATS:
        log.add(block.line_of("format"), "notify.format", f"must be one of {', '.join(notice.FORMATS)}, not {fmt!r}")
    return block


def _pilot(doc: YMap, log: ProblemLog) -> Pilot | None:
    """``pilot: {size: 24, gate: review | {max_failed: 10%}}``."""
    block = get_mapping(doc, "pilot", "", log)
    if block is None:
        return None
    check_keys(block, PILOT_KEYS, "pilot", log)
    size = get_positive(block, "size", "pilot", log, integer=True)
    if "size" not in block:
        log.add(block.line_of("size") or doc.line_of("pilot"), "pilot.size",
                "required: how many items x styles run first (e.g. size: 24)")
    gate, max_failed = block.get("gate", pilot_rules.REVIEW), None
    if isinstance(gate, YMap):
        check_keys(gate, ("max_failed",), "pilot.gate", log)
        max_failed = pilot_rules.parse_share(gate.get("max_failed"))
        if max_failed is None:
            log.add(gate.line_of("max_failed") or block.line_of("gate"), "pilot.gate.max_failed",
                    f"must be a share of the pilot's jobs such as 10% or 0.1, not {gate.get('max_failed')!r}")
    elif gate != pilot_rules.REVIEW:
        log.add(block.line_of("gate"), "pilot.gate",
                f"must be review (a person approves) or {{max_failed: 10%}}, not {gate!r}")
    return Pilot(int(size or 1), max_failed, doc.line_of("pilot"))


def _limits(doc: YMap, log: ProblemLog) -> Limits:
    block = get_mapping(doc, "limits", "", log)
    if block is None:
        return Limits()
    check_keys(block, LIMIT_KEYS, "limits", log)
    rps = get_positive(block, "requests_per_second", "limits", log)
    sps = get_positive(block, "submits_per_second", "limits", log)
    in_flight = get_positive(block, "max_in_flight", "limits", log, integer=True)
    return Limits(
        requests_per_second=None if rps is None else float(rps),
        submits_per_second=None if sps is None else float(sps),
        max_in_flight=in_flight,
    )


def _plain(value: Any) -> Any:
    """YMap/YList turned back into plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
