"""YAML loading that keeps line numbers and interpolates ``${ENV}`` references.

The document is composed with libyaml when available (``CParser``) and turned into plain
values: mappings become :class:`YMap` and sequences :class:`YList`, ``dict``/``list``
subclasses that remember the line of each key or item. Scalars are resolved with YAML 1.2
core rules rather than PyYAML's 1.1 ones, so ``16:9`` is a string (not the sexagesimal 969),
``yes``/``no``/``on``/``off`` are strings, and dates stay strings.

``${NAME}`` and ``${NAME:-default}`` are replaced in every scalar (not in keys) before any
type is decided, so ``budget_usd: ${BUDGET:-25}`` is a number; ``$${`` stands for ``${``.
A quoted scalar stays a string whatever it interpolates to. A variable whose name says it
carries a credential (``batch.config.is_credential_var``) is refused, whether set or not: its
value would be stored with the batch and could be sent upstream in a prompt. The top-level
``allow_env: [NAME, ...]`` lets the names it lists through (read before anything is interpolated).

Aliases are expanded into copies, so a few lines of nested aliases (the "billion laughs"
shape) can stand for billions of nodes: past ``MAX_ALIAS_NODES`` nodes made by re-expanding
an already converted node, conversion stops with a problem at the line of that node.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from batch.config import is_credential_var

from .model import ProblemLog

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - libyaml is missing
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


_TAG = "tag:yaml.org,2002:"
NULL, BOOL, INT, FLOAT, STR = (_TAG + t for t in ("null", "bool", "int", "float", "str"))
MERGE, MAP, SEQ = _TAG + "merge", _TAG + "map", _TAG + "seq"
ALLOW_ENV = "allow_env"  # the top-level key listing credential variables a manifest may use
MAX_ALIAS_NODES = 100_000  # nodes made by alias expansion, past which a document is refused


class _TooManyNodes(Exception):
    """Alias expansion passed ``MAX_ALIAS_NODES``; ``line`` is where it was expanding."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _Resolver(BaseResolver):
    """YAML 1.2 core schema plus ``<<`` merge keys."""


_IMPLICIT = (
    (NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (FLOAT, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
    (MERGE, r"^(?:<<)$", ["<"]),
)
for _tag, _pattern, _first in _IMPLICIT:
    _Resolver.add_implicit_resolver(_tag, re.compile(_pattern), _first)
_PLAIN_TYPES = tuple((tag, re.compile(pattern)) for tag, pattern, _ in _IMPLICIT[:-1])


def _resolve_plain(text: str) -> str:
    """The tag a plain scalar with this text gets."""
    for tag, regex in _PLAIN_TYPES:
        if regex.match(text):
            return tag
    return STR


class _Loader(_Parser, _Resolver):
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _Resolver.__init__(self)


class YMap(dict[str, Any]):
    """A mapping from the YAML source; ``line`` is where it starts, ``key_lines`` where each key is."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        """The line of ``key`` (of the mapping itself when the key is absent)."""
        return self.key_lines.get(key, self.line)


class YList(list[Any]):
    """A sequence from the YAML source; ``item_lines[i]`` is the line of item ``i``."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        """The line of item ``index``."""
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


_ENV_REF = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")


def interpolate(text: str, env: Mapping[str, str], line: int, log: ProblemLog,
                allowed: Collection[str] = ()) -> str:
    """Replace ``${NAME}``/``${NAME:-default}`` from ``env`` and ``$${`` by ``${``.

    An unset variable without a default, a malformed ``${``, or a credential's name not in
    ``allowed``, is a problem at ``line`` (and becomes the empty string). As in the shell, ``:-``
    also applies to an empty value.
    """

    def replace(match: re.Match[str]) -> str:
        whole, name, default = match.group(0), match.group(1), match.group(2)
        if whole == "$${":
            return "${"
        if name is None:
            log.add(line, "", f"malformed ${{...}} in {text!r}: write ${{NAME}}, ${{NAME:-default}} "
                              "or $${ for a literal ${")
            return ""
        if name not in allowed and is_credential_var(name):
            log.add(line, "", f"${{{name}}} names a credential: its value would be stored with the batch and "
                              f"could be sent upstream; if it must be used, list it in allow_env: [{name}]")
            return ""
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            log.add(line, "", f"environment variable {name} is not set (use ${{{name}:-default}} "
                              "to give a default)")
        return ""

    return _ENV_REF.sub(replace, text) if "${" in text else text


class _Converter:
    """Turns a composed node tree into YMap/YList/scalars, reporting what it cannot take."""

    def __init__(self, env: Mapping[str, str], log: ProblemLog, allowed: Collection[str] = ()) -> None:
        self.env = env
        self.log = log
        self.allowed = allowed
        self.active: set[int] = set()
        self.converted: set[int] = set()
        self.copies = 0

    def convert(self, node: Node) -> Any:
        line = node.start_mark.line + 1
        if id(node) in self.converted:  # reached again through an alias: this conversion is a copy
            self.copies += 1
            if self.copies > MAX_ALIAS_NODES:
                raise _TooManyNodes(line)
        else:
            self.converted.add(id(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node, line)
        if id(node) in self.active:
            self.log.add(line, "", "recursive YAML alias")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode) and node.tag == MAP:
                return self.mapping(node, line)
            if isinstance(node, SequenceNode) and node.tag == SEQ:
                return self.sequence(node, line)
            self.log.add(line, "", f"unsupported YAML tag {node.tag}")
            return None
        finally:
            self.active.discard(id(node))

    def sequence(self, node: SequenceNode, line: int) -> YList:
        out = YList(line)
        for child in node.value:
            out.item_lines.append(child.start_mark.line + 1)
            out.append(self.convert(child))
        return out

    def mapping(self, node: MappingNode, line: int) -> YMap:
        out = YMap(line)
        merges: list[Node] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == MERGE:
                merges.append(value_node)
            elif not isinstance(key_node, ScalarNode):
                self.log.add(key_line, "", "a mapping key must be a plain string")
            elif key_node.value in out:
                first = out.key_lines[key_node.value]
                self.log.add(key_line, key_node.value, f"duplicate key (first at line {first})")
            else:
                out[key_node.value] = self.convert(value_node)
                out.key_lines[key_node.value] = key_line
        for merge in merges:
            self.merge(out, merge)
        return out

    def merge(self, out: YMap, node: Node) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source_node in sources:
            source = self.convert(source_node)
            if not isinstance(source, YMap):
                self.log.add(node.start_mark.line + 1, "<<", "a merge key needs a mapping or list of mappings")
                continue
            for key, value in source.items():
                if key not in out:
                    out[key] = value
                    out.key_lines[key] = source.key_lines[key]

    def scalar(self, node: ScalarNode, line: int) -> Any:
        tag, text = node.tag, node.value
        if tag == STR and "$" in text:
            interpolated = interpolate(text, self.env, line, self.log, self.allowed)
            if interpolated != text and not node.style:
                tag = _resolve_plain(interpolated)
            text = interpolated
        try:
            return _scalar_value(tag, text)
        except ValueError:
            self.log.add(line, "", f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}")
            return None
        except KeyError:
            self.log.add(line, "", f"unsupported YAML tag {tag}")
            return None


def _scalar_value(tag: str, text: str) -> Any:
    if tag == STR:
        return text
    if tag == NULL:
        return None
    if tag == BOOL:
        return text.lower() == "true"
    if tag == INT:
        return int(text, 0) if text[:2] in ("0x", "0o") else int(text, 10)
    if tag == FLOAT:
        lowered = text.lower()
        return float(lowered.replace(".", "") if lowered.endswith((".inf", ".nan")) else text)
    raise KeyError(tag)


def _allowed_env(root: Node) -> frozenset[str]:
    """The names listed by a top-level ``allow_env:`` (as written: nothing interpolated)."""
    if not isinstance(root, MappingNode):
        return frozenset()
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == ALLOW_ENV and isinstance(value, SequenceNode):
            return frozenset(item.value for item in value.value if isinstance(item, ScalarNode))
    return frozenset()


def load_yaml(text: str, env: Mapping[str, str], log: ProblemLog) -> Any:
    """Parse one YAML document into YMap/YList/scalars; syntax errors go to ``log`` (result None)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _Converter(env, log, _allowed_env(node)).convert(node)
    except _TooManyNodes as err:
        log.add(err.line, "", f"YAML aliases here expand to more than {MAX_ALIAS_NODES:,} nodes: "
                              "write the values out, or nest fewer aliases")
        return None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 0
        detail = "; ".join(str(part) for part in (err.context, err.problem) if part)
        log.add(line, "", f"YAML syntax error: {detail}")
        return None
    except yaml.YAMLError as err:
        log.add(0, "", f"YAML error: {err}")
        return None
    finally:
        loader.dispose()
