"""``{name}`` templates: compiled once, rendered per job with ``str.format_map``.

Syntax: ``{name}`` is replaced by the variable ``name`` (letters, digits, ``_`` and ``-``,
not starting with a digit or ``-``); ``{{`` and ``}}`` stand for literal braces. Anything else
in braces, or a lone brace, is a problem at the template's line.

Vars may use the vars above them, so a few lines of ``b: "{a}{a}{a}..."`` nest into gigabytes
(the "billion laughs" shape again). A template's result is measured before it is made: past
``MAX_CHARS`` it is refused (``TemplateTooLong``), so no expansion ever builds more than that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from batch.errors import InputError

from .model import ProblemLog

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
MAX_KNOWN_SHOWN = 25
# The longest text a template may make, and the longest prompt: the API publishes no limit, and
# real prompts are a few hundred characters; this is generous for them and small for memory.
MAX_CHARS = 10_000
TOO_LONG = (f"expands to more than {MAX_CHARS:,} characters (the most a template or prompt may hold): "
            "shorten it, or use fewer or shorter variables in it")
PROMPT_TOO_LONG = f"is longer than {MAX_CHARS:,} characters, the most a prompt may hold: shorten it"


class UnknownVariable(InputError):
    """A template used variables its scope does not have (the manifest reports it as a problem)."""

    def __init__(self, template: Template, missing: list[str]) -> None:
        super().__init__(template, missing)
        self.template = template
        self.missing = missing


class TemplateTooLong(InputError):
    """A template would expand past the cap on what one may make (the manifest reports it as a problem)."""

    def __init__(self, template: Template, size: int) -> None:
        super().__init__(template, size)
        self.template = template
        self.size = size


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled template. ``field`` is the field it fills (``prompt``, ``image_urls.0``, ``id``...)."""

    source: str
    line: int
    field: str
    fmt: str | None  # a str.format string, None when the template has no placeholder
    names: tuple[str, ...]
    uses: tuple[str, ...] = ()  # every placeholder, in order, repeats included
    fixed: int = 0  # the characters of the result that are not variables
    @property
    def constant(self) -> bool:
        """True when the template has no placeholder (it renders to ``source`` unescaped)."""
        return self.fmt is None

    def render(self, scope: Mapping[str, str]) -> str:
        """The template filled from ``scope``; raises UnknownVariable when a name is missing, and
        TemplateTooLong, before building anything, when the result would pass ``MAX_CHARS``."""
        if self.fmt is None:
            return self.source
        try:
            size = self.fixed + sum(map(len, map(scope.__getitem__, self.uses)))
        except KeyError:
            raise UnknownVariable(self, [n for n in self.names if n not in scope]) from None
        if size > MAX_CHARS:
            raise TemplateTooLong(self, size)
        return self.fmt.format_map(scope)


def compile_template(source: str, line: int, field: str, log: ProblemLog, label: str = "") -> Template:
    """Compile ``source``; syntax problems go to ``log`` (under ``label``.``field``).

    A template with a syntax problem compiles to a constant holding ``source`` as written.
    """
    if "{" not in source and "}" not in source:
        return Template(source, line, field, None, ())
    parts: list[str] = []
    names: list[str] = []
    pos = escapes = 0
    bad = False
    for match in _TOKEN.finditer(source):
        parts.append(source[pos:match.start()].replace("{", "{{").replace("}", "}}"))
        pos = match.end()
        token, name = match.group(0), match.group(1)
        if token in ("{{", "}}"):
            parts.append(token)
            escapes += 1
        elif name is not None and NAME_RE.fullmatch(name):
            parts.append("{" + name + "}")
            names.append(name)
        else:
            bad = True
            what = f"bad placeholder {token!r}" if name is not None else f"unmatched {token!r}"
            log.add(line, _join(label, field), f"{what} in {source!r}: placeholders look like {{name}}; "
                                               "write {{ and }} for literal braces")
    parts.append(source[pos:])
    if bad:
        return Template(source, line, field, None, ())
    if not names:
        return Template("".join(parts).replace("{{", "{").replace("}}", "}"), line, field, None, ())
    fixed = len(source) - sum(len(n) + 2 for n in names) - escapes  # each {{ or }} makes one
    return Template(source, line, field, "".join(parts), tuple(dict.fromkeys(names)), tuple(names), fixed)


def _join(label: str, field: str) -> str:
    return f"{label}.{field}" if label and field else label or field


def unknown_message(missing: Iterable[str], known: Iterable[str]) -> str:
    """The message for a template that used ``missing`` variables."""
    names = ", ".join("{" + n + "}" for n in missing)
    shown = sorted(known)
    listed = ", ".join(shown[:MAX_KNOWN_SHOWN]) + (", ..." if len(shown) > MAX_KNOWN_SHOWN else "")
    return f"unknown variable {names} (known here: {listed or 'none'})"


def render_vars(block: Mapping[str, str], lines: Mapping[str, int], scope: dict[str, str],
                label: str, log: ProblemLog) -> dict[str, str]:
    """Render each value of a ``vars:`` block in order against ``scope`` plus the earlier ones.

    Returns the rendered block (``scope`` is not changed).
    """
    known = dict(scope)
    out: dict[str, str] = {}
    for name, value in block.items():
        line = lines.get(name, 0)
        template = compile_template(value, line, name, log, label)
        try:
            out[name] = known[name] = template.render(known)
        except UnknownVariable as err:
            log.add(line, _join(label, name),
                    unknown_message(err.missing, known) + "; a var may use only the ones above it")
            out[name] = known[name] = value
        except TemplateTooLong:
            log.add(line, _join(label, name), TOO_LONG)
            out[name] = known[name] = value
    return out
