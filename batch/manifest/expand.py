"""Expansion: explicit jobs and the matrix (items x styles) into validated JobSpecs.

Variables for a job, later winning: manifest ``vars``; then for the matrix the item's fields,
then ``{style}`` (the style's name) and the style's ``vars``; for an explicit job its ``vars``.
``output_name`` also sees ``{id}``, the rendered job id.

Jobs come out explicit ones first, then the matrix item by item (each item with every style).
``JobSpec.line`` is the job's ``jobs:`` entry, the inline item's line, or for CSV items the
style's line. A problem points at the line where the faulty value is written (a style's
``aspect_ratio``, a ``defaults`` entry, the ``id`` template...), falling back to the job's line;
the same problem of many jobs is reported once, "(and N more jobs)".
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path
from typing import Any

from batch.core import pilot as pilot_rules
from batch.core import schema

from .checks import check_keys, get_list, get_string, get_vars, id_problem, output_name_problem, type_name
from .inputs import InputResolver, url_ok
from .items import Item, load_items
from .model import JobSpec, ProblemLog
from .recipes import Layer, Recipe, compile_layer, compile_output_name, make_recipe, render_steps
from .templates import (
    MAX_CHARS,
    PROMPT_TOO_LONG,
    TOO_LONG,
    Template,
    TemplateTooLong,
    UnknownVariable,
    compile_template,
    render_vars,
    unknown_message,
)
from .yamlsrc import YMap

JOB_KEYS = ("id", "vars", "output_name", *schema.INPUT_FIELDS)
MATRIX_KEYS = ("items", "styles", "id", "output_name", *schema.INPUT_FIELDS)
STYLE_KEYS = ("name", "vars", *schema.INPUT_FIELDS, "variants")
VARIANT_KEYS = ("name", *schema.INPUT_FIELDS)
DEFAULT_MATRIX_ID = "{sku}-{style}"
FILES_MATRIX_ID = "{stem}-{style}"


class Expander:
    """Builds and checks jobs, keeping ids and output names unique across the manifest."""

    def __init__(self, log: ProblemLog, base_vars: dict[str, str], defaults: Layer,
                 output_name: Template | None, resolver: InputResolver | None = None) -> None:
        self.log = log
        self.resolver = resolver or InputResolver(Path.cwd(), None)
        self.base = base_vars
        self.defaults = defaults
        self.output_name = output_name or Template("{id}", 0, "output_name", "{id}", ("id",), ("id",))
        self.jobs: list[JobSpec] = []
        self.ids: dict[str, int] = {}
        self.names: dict[str, tuple[int, str]] = {}

    # -- explicit jobs -------------------------------------------------------------------------

    def explicit(self, doc: YMap) -> None:
        """Add the jobs of the ``jobs:`` list."""
        entries = get_list(doc, "jobs", "", self.log)
        for index, entry in enumerate(entries or ()):
            label = f"jobs[{index}]"
            if not isinstance(entry, YMap):
                self.log.add(entries.line_of(index) if entries else 0, label,
                             f"must be a mapping (id:, prompt:, image_urls: ...), not {type_name(entry)}")
                continue
            recipe = self._job_recipe(entry, label)
            if recipe is not None:
                self.emit(recipe, {**self.base, **recipe.vars}, recipe.vars, recipe.line, None)

    def _job_recipe(self, entry: YMap, label: str) -> Recipe | None:
        log = self.log
        check_keys(entry, JOB_KEYS, label, log)
        raw_id = get_string(entry, "id", label, log, required=True)
        block, lines = get_vars(entry, "vars", label, log)
        variables = render_vars(block, lines, self.base, f"{label}.vars", log)
        layer = compile_layer(entry, label, log).over(self.defaults)
        name = compile_output_name(entry, label, log) or self.output_name
        if raw_id is None:
            return None
        id_template = compile_template(raw_id, entry.line_of("id"), "id", log, label)
        return make_recipe(layer, id_template, name, entry.line, variables, label)

    # -- matrix ----------------------------------------------------------------------------------

    def matrix(self, doc: YMap, base_dir: Path) -> None:
        """Add the jobs of the ``matrix:`` block (every item with every style)."""
        if doc.get("matrix") is None:
            return
        block = doc["matrix"]
        if not isinstance(block, YMap):
            self.log.add(doc.line_of("matrix"), "matrix", f"must be a mapping, not {type_name(block)}")
            return
        check_keys(block, MATRIX_KEYS, "matrix", self.log)
        line = doc.line_of("matrix")
        before = self.log.count
        loaded = load_items(block, base_dir, self.log)
        items, fields = loaded if loaded is not None else ([], None)
        if loaded is not None and not items and self.log.count == before:
            self.log.add(block.line_of("items"), "matrix.items", "no items: the matrix would make no jobs")
        id_template = self._matrix_id(block, fields if items else None, line)
        recipes = self._styles(block, id_template, line)
        if id_template is not None:
            self._cross(items, recipes)

    def _matrix_id(self, block: YMap, fields: set[str] | None, line: int) -> Template | None:
        raw = get_string(block, "id", "matrix", self.log)
        if raw is not None:
            return compile_template(raw, block.line_of("id"), "id", self.log, "matrix")
        if fields is not None and "sku" not in fields and "stem" in fields:  # items: {files: ...}
            return Template(FILES_MATRIX_ID, line, "id", FILES_MATRIX_ID, ("stem", "style"), ("stem", "style"), 1)
        if fields is not None and "sku" not in fields:
            self.log.add(line, "matrix.id", "required when the items have no 'sku' field "
                                                  "(e.g. id: \"{name}-{style}\")")
            return None
        return Template(DEFAULT_MATRIX_ID, line, "id", DEFAULT_MATRIX_ID, ("sku", "style"), ("sku", "style"), 1)

    def _styles(self, block: YMap, id_template: Template | None, line: int) -> list[Recipe]:
        """The styles' recipes (those without problems; the others are reported)."""
        log = self.log
        styles = get_list(block, "styles", "matrix", log)
        if styles is None:
            if "styles" not in block:
                log.add(line, "matrix.styles", "required: a list of styles, each with a name")
            return []
        if not styles:
            log.add(block.line_of("styles"), "matrix.styles", "no styles: the matrix would make no jobs")
        shared = compile_layer(block, "matrix", log).over(self.defaults)
        name = compile_output_name(block, "matrix", log) or self.output_name
        fallback_id = id_template or Template("", 0, "id", None, ())
        recipes: list[Recipe] = []
        seen: dict[str, int] = {}
        for index, style in enumerate(styles):
            found = self._style(style, styles.line_of(index), f"matrix.styles[{index}]", shared,
                                fallback_id, name)
            if not found:
                continue
            label = found[0].label
            if label in seen:
                log.add(found[0].line, f"matrix.styles[{index}].name",
                        f"duplicate style name {label!r} (first at line {seen[label]})")
                continue
            seen[label] = found[0].line
            recipes.extend(found)
        return recipes

    def _style(self, style: object, line: int, prefix: str, shared: Layer, id_template: Template,
               name: Template) -> list[Recipe]:
        """The style's recipe, or one per prompt variant when it lists ``variants``."""
        log = self.log
        if not isinstance(style, YMap):
            log.add(line, prefix, f"must be a mapping with a name, not {type_name(style)}")
            return []
        check_keys(style, STYLE_KEYS, prefix, log)
        style_name = get_string(style, "name", prefix, log, required=True)
        block, lines = get_vars(style, "vars", prefix, log)
        variables = {"style": style_name or "", **render_vars(block, lines, self.base, f"{prefix}.vars", log)}
        layer = compile_layer(style, prefix, log).over(shared)
        variants = self._variants(style, prefix)
        if style_name is None:
            return []
        if not variants:
            return [make_recipe(layer, id_template, name, line, variables, style_name)]
        return [make_recipe(over.over(layer), id_template, name, variant_line, {**variables, "variant": label},
                            style_name, label)
                for label, over, variant_line in variants]

    def _variants(self, style: YMap, prefix: str) -> list[tuple[str, Layer, int]]:
        """The style's ``variants:`` (2 to 4, each a name and the input fields it changes)."""
        log, entries = self.log, get_list(style, "variants", prefix, self.log)
        if entries is None:
            return []
        if not pilot_rules.MIN_VARIANTS <= len(entries) <= pilot_rules.MAX_VARIANTS:
            log.add(style.line_of("variants"), f"{prefix}.variants",
                    f"{len(entries)} variants: a style lists {pilot_rules.MIN_VARIANTS} to "
                    f"{pilot_rules.MAX_VARIANTS}, each {{name: ..., prompt: ...}}")
        found: list[tuple[str, Layer, int]] = []
        for index, entry in enumerate(entries):
            where, label = entries.line_of(index), f"{prefix}.variants[{index}]"
            if not isinstance(entry, YMap):
                log.add(where, label, f"must be a mapping with a name and a prompt, not {type_name(entry)}")
                continue
            check_keys(entry, VARIANT_KEYS, label, log)
            variant = get_string(entry, "name", label, log, required=True)
            if variant is not None and id_problem(variant):
                log.add(entry.line_of("name"), f"{label}.name", f"{id_problem(variant)}")
            elif variant is not None and variant in (v for v, _, _ in found):
                log.add(entry.line_of("name"), f"{label}.name", f"duplicate variant name {variant!r}")
            elif variant is not None:
                found.append((variant, compile_layer(entry, label, log), where))
        return found

    def _cross(self, items: list[Item], recipes: list[Recipe]) -> None:
        base, emit = self.base, self.emit
        enabled = gc.isenabled()
        gc.disable()  # 100k small allocations: the cyclic collector would only slow them down
        try:
            for item in items:
                fields = item.vars
                for recipe in recipes:
                    variables = {**fields, **recipe.vars}
                    emit(recipe, {**base, **variables}, variables, item.line or recipe.line, item)
        finally:
            if enabled:
                gc.enable()

    # -- one job ---------------------------------------------------------------------------------

    def emit(self, recipe: Recipe, scope: dict[str, str], variables: dict[str, str], line: int,
             item: Item | None) -> None:
        """Render one job from ``recipe`` and ``scope``, check it, and keep it if it is sound."""
        try:
            job_id = recipe.id_template.render(scope)
            inputs = render_steps(recipe.steps, scope)
            scope["id"] = job_id
            name = recipe.name_template.render(scope)
        except UnknownVariable:
            unknown = self._report_unknown(recipe, variables, line, item)
            self._check_the_rest(recipe, scope, unknown, line, item)
            return
        except TemplateTooLong as err:
            self.log.job_problem(err.template.line or line, self._label(recipe, item), err.template.field, TOO_LONG)
            return
        written = inputs.get("image_urls")
        inputs, ok = self._check(recipe, inputs, line, item)
        urls = inputs.get("image_urls")
        if type(urls) is list and schema.GOOGLE_IMAGE_LIMIT < len(urls) <= schema.MAX_IMAGE_URLS:
            self.log.job_warning(recipe.field_line("image_urls", line), self._label(recipe, item),
                                 "image_urls", f"{len(urls)} images; Google's limit is "
                                               f"{schema.GOOGLE_IMAGE_LIMIT}")
        output_format = inputs["output_format"]
        extension = schema.FILE_EXTENSIONS.get(output_format) if type(output_format) is str else None
        output_name = f"{name}.{extension}"
        if self._identity_ok(recipe, job_id, output_name if extension else None, line, item) and ok:
            style = None if item is None else recipe.label
            unit = "" if item is None else f"{item.label} x {recipe.label}"
            self.jobs.append(JobSpec(job_id, inputs, output_name, line, variables, _sources(written, urls),
                                     style=style, variant=recipe.variant, unit=unit))

    def _check(self, recipe: Recipe, inputs: dict[str, Any], line: int,
               item: Item | None) -> tuple[dict[str, Any], bool]:
        """Resolve local input files, then check the inputs against the schema (reporting problems)."""
        inputs, problems = self._problems(inputs, recipe.field_line("image_urls", line))
        self._log_problems(recipe, problems, line, item)
        return inputs, not problems

    def _problems(self, inputs: dict[str, Any], inputs_line: int) -> tuple[dict[str, Any], list[schema.FieldProblem]]:
        """The inputs with local files resolved, and their problems (a prompt too long, unusable files, schema)."""
        inputs, unusable = self.resolver.resolve(inputs, inputs_line)
        prompt = inputs.get("prompt")
        too_long = type(prompt) is str and len(prompt) > MAX_CHARS
        return inputs, [*([schema.FieldProblem("prompt", PROMPT_TOO_LONG)] if too_long else []),
                        *(schema.FieldProblem(f"image_urls.{i}", message) for i, message in unusable.items()),
                        *(p for p in schema.check_inputs(inputs, url_ok)
                          if not (unusable and p.field.startswith("image_urls.")
                                  and int(p.field.rsplit(".", 1)[1]) in unusable))]

    def _log_problems(self, recipe: Recipe, problems: list[schema.FieldProblem], line: int,
                      item: Item | None) -> None:
        if problems:
            label = self._label(recipe, item)
            for problem in problems:
                self.log.job_problem(recipe.field_line(problem.field, line), label, problem.field, problem.message)

    def _identity_ok(self, recipe: Recipe, job_id: str, output_name: str | None, line: int,
                     item: Item | None) -> bool:
        """Check the id and output name are safe and unique (recording them)."""
        problem = id_problem(job_id)
        if problem:
            self.log.job_problem(recipe.id_template.line or line, self._label(recipe, item), "id", problem)
            return False
        first = _first_seen(self.ids, job_id, line)
        if first is not None:
            self.log.job_problem(line, self._label(recipe, item), "id",
                                 f"duplicate id {job_id!r} (first at line {first})")
            return False
        if output_name is None:
            return True
        problem = output_name_problem(output_name)
        if problem:
            where = recipe.name_template.line or line
            self.log.job_problem(where, self._label(recipe, item), "output_name", problem)
            return False
        size = len(self.names)
        first_line, first_name = self.names.setdefault(output_name.lower(), (line, output_name))
        if len(self.names) == size:
            case = "" if first_name == output_name else f" as {first_name!r}; case does not count"
            self.log.job_problem(line, self._label(recipe, item), "output_name",
                                 f"duplicate output_name {output_name!r} (first at line {first_line}{case})")
            return False
        return True

    def _check_the_rest(self, recipe: Recipe, scope: dict[str, str], unknown: set[str], line: int,
                        item: Item | None) -> None:
        """Check the fields no unknown variable touched, so that one pass reports every problem.

        The job is not kept. Its fields are rendered with each unknown ``{name}`` left as written;
        the fields that used one are already reported and are not checked.
        """
        rendered = render_steps(recipe.steps, _AsWritten(scope))
        _, problems = self._problems(rendered, recipe.field_line("image_urls", line))
        self._log_problems(recipe, [p for p in problems if p.field.split(".", 1)[0] not in unknown], line, item)

    def _report_unknown(self, recipe: Recipe, variables: dict[str, str], line: int, item: Item | None) -> set[str]:
        """Report each template's unknown variables; the fields that had one."""
        fields: set[str] = set()
        scope = {**self.base, **variables}
        label = self._label(recipe, item)
        with contextlib.suppress(UnknownVariable, TemplateTooLong):  # it still claims its id, for duplicate reports
            self._identity_ok(recipe, recipe.id_template.render(scope), None, line, item)
        checks = [(t, scope) for t in (recipe.id_template, *recipe.templates)]
        checks.append((recipe.name_template, {**scope, "id": ""}))
        for template, known in checks:
            missing = [n for n in template.names if n not in known]
            if missing:
                fields.add(template.field.split(".", 1)[0])
                message = unknown_message(missing, known)
                if template is self.output_name and item is None:
                    message += "; the top-level output_name applies to every job: give this one its own"
                self.log.job_problem(template.line or line, label, template.field, message)
        return fields

    @staticmethod
    def _label(recipe: Recipe, item: Item | None) -> str:
        return recipe.label if item is None else f"matrix[{item.label} x {recipe.label}]"


class _AsWritten(dict[str, str]):
    """A scope in which an unknown variable renders as written, ``{name}``."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _sources(written: Any, resolved: Any) -> list[str | None] | None:
    """Per input, the local path written where the resolver replaced it by a reference (None: none was)."""
    if written is resolved or type(written) is not list or type(resolved) is not list:
        return None
    return [w if w != r else None for w, r in zip(written, resolved, strict=True)]


def _first_seen(seen: dict[str, int], key: str, line: int) -> int | None:
    """The line ``key`` was first seen at if it was seen before (else record it and give None)."""
    size = len(seen)
    first = seen.setdefault(key, line)
    return None if len(seen) > size else first
