"""Recipes: each explicit job or matrix style compiled once into what a job is rendered from.

Input fields layer up, later winning: ``defaults`` < ``matrix`` < style (matrix jobs), or
``defaults`` < the job entry (explicit jobs); ``schema.with_defaults`` fills the rest.
``image_urls`` may be a single string, taken as a one-URL list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from batch.core import schema

from .checks import join
from .model import ProblemLog
from .templates import Template, compile_template
from .yamlsrc import YList, YMap

CONST, TEMPLATE, CONST_LIST, LIST = range(4)
Step = tuple[str, int, Any]
_EXTENSIONS = tuple(f".{ext}" for ext in (*schema.FILE_EXTENSIONS, *schema.FILE_EXTENSIONS.values()))


@dataclass(frozen=True)
class Layer:
    """Input fields of one level (compiled), and the line each field or list item came from."""

    values: dict[str, Any]
    lines: dict[str, int]

    def over(self, lower: Layer) -> Layer:
        """This layer on top of ``lower``."""
        return Layer({**lower.values, **self.values}, {**lower.lines, **self.lines})


EMPTY = Layer({}, {})


def compile_layer(block: YMap | None, prefix: str, log: ProblemLog) -> Layer:
    """Compile the input fields present in ``block`` (other keys are checked elsewhere)."""
    if block is None:
        return EMPTY
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key in schema.INPUT_FIELDS:
        if key not in block:
            continue
        raw, line = block[key], block.line_of(key)
        lines[key] = line
        if key == "image_urls" and isinstance(raw, str):
            raw = YList(line)
            raw.append(block[key])
            raw.item_lines.append(line)
        if isinstance(raw, str):
            values[key] = compile_template(raw, line, key, log, prefix)
        elif isinstance(raw, YList):
            values[key] = _compile_list(raw, key, prefix, lines, log)
        else:
            values[key] = raw
    return Layer(values, lines)


def _compile_list(raw: YList, key: str, prefix: str, lines: dict[str, int], log: ProblemLog) -> list[Any]:
    out: list[Any] = []
    for index, value in enumerate(raw):
        field, line = f"{key}.{index}", raw.line_of(index)
        lines[field] = line
        out.append(compile_template(value, line, field, log, prefix) if isinstance(value, str) else value)
    return out


def compile_output_name(block: YMap, prefix: str, log: ProblemLog) -> Template | None:
    """The ``output_name`` template of ``block`` if it has one (warning on a written extension)."""
    raw = block.get("output_name")
    if raw is None:
        return None
    line, field = block.line_of("output_name"), join(prefix, "output_name")
    if not isinstance(raw, str) or not raw.strip():
        log.add(line, field, "must be a non-empty string template, e.g. \"{sku}/{style}\"")
        return None
    if raw.lower().endswith(_EXTENSIONS):
        log.warn(line, field, f"{raw!r} ends with a file extension; the extension is added from "
                              "output_format, so files would end in two")
    return compile_template(raw, line, "output_name", log, prefix)


@dataclass(frozen=True)
class Recipe:
    """Everything about a job that is known before its variables are."""

    steps: tuple[Step, ...]
    lines: dict[str, int]
    id_template: Template
    name_template: Template
    line: int
    vars: dict[str, str]
    label: str  # "jobs[3]" for an explicit job, the style name for a matrix style
    templates: tuple[Template, ...]  # the input templates, for unknown-variable reports
    variant: str | None = None  # the style's prompt variant this recipe renders, if it has variants

    def field_line(self, field: str, fallback: int) -> int:
        """The line a (dotted) input field was written at."""
        return self.lines.get(field) or self.lines.get(field.split(".", 1)[0]) or fallback


def make_recipe(layer: Layer, id_template: Template, name_template: Template, line: int,
                variables: dict[str, str], label: str, variant: str | None = None) -> Recipe:
    """Freeze a layer (with the schema's defaults filled in) into render steps."""
    steps: list[Step] = []
    templates: list[Template] = []
    for key, value in schema.with_defaults(layer.values).items():
        if isinstance(value, Template):
            templates.append(value)
            steps.append((key, CONST, value.source) if value.constant else (key, TEMPLATE, value))
        elif isinstance(value, list):
            found = [v for v in value if isinstance(v, Template)]
            templates.extend(found)
            if all(t.constant for t in found):
                steps.append((key, CONST_LIST, [v.source if isinstance(v, Template) else v for v in value]))
            else:
                steps.append((key, LIST, value))
        else:
            steps.append((key, CONST, value))
    if variant is not None:
        id_template, name_template = with_variant(id_template), with_variant(name_template)
    return Recipe(tuple(steps), layer.lines, id_template, name_template, line, variables, label,
                  tuple(templates), variant)


def with_variant(template: Template) -> Template:
    """``template`` followed by ``-{variant}`` unless it names ``{variant}`` itself: the variants of a
    style get ids and files of their own (an output name made from ``{id}`` has it already)."""
    if "variant" in template.names or (template.field == "output_name" and "id" in template.names):
        return template
    fmt = template.fmt if template.fmt is not None else template.source.replace("{", "{{").replace("}", "}}")
    return replace(template, source=template.source + "-{variant}", fmt=fmt + "-{variant}",
                   names=(*template.names, "variant"))


def render_steps(steps: tuple[Step, ...], scope: Mapping[str, str]) -> dict[str, Any]:
    """The request body of one job (raises UnknownVariable)."""
    out: dict[str, Any] = {}
    for key, kind, value in steps:
        if kind == CONST:
            out[key] = value
        elif kind == TEMPLATE:
            out[key] = value.render(scope)
        elif kind == CONST_LIST:
            out[key] = list(value)
        else:
            out[key] = [v.render(scope) if isinstance(v, Template) else v for v in value]
    return out
