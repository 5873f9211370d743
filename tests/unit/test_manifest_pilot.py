"""The manifest's ``pilot:`` block and a style's prompt ``variants:``: what they expand to, and every
problem at its file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from batch.manifest import Pilot, parse_manifest
from tests.unit.test_manifest_errors import problems

HEAD = """\
name: t
{pilot}
matrix:
  items:
    - {{sku: a, image: x.png}}
    - {{sku: b, image: y.png}}
  styles:
    - name: studio
      prompt: base
{variants}
    - {{name: plain, prompt: plain}}
  image_urls: ["https://x.example/{{image}}"]
"""


def manifest(pilot: str = "pilot: {size: 2}", variants: str = "") -> str:
    return HEAD.format(pilot=pilot, variants=textwrap.indent(textwrap.dedent(variants), "      "))


TWO = """\
variants:
  - {name: warm, prompt: warm light}
  - {name: neutral}
"""


def test_variants_expand_per_item_with_their_own_ids_and_files(tmp_path: Path) -> None:
    loaded = parse_manifest(manifest(variants=TWO), "jobs.yaml", tmp_path, {})
    jobs = [(j.id, j.output_name, j.style, j.variant, j.inputs["prompt"], j.unit) for j in loaded.jobs]
    assert jobs == [
        ("a-studio-warm", "a-studio-warm.png", "studio", "warm", "warm light", "a x studio"),
        ("a-studio-neutral", "a-studio-neutral.png", "studio", "neutral", "base", "a x studio"),
        ("a-plain", "a-plain.png", "plain", None, "plain", "a x plain"),
        ("b-studio-warm", "b-studio-warm.png", "studio", "warm", "warm light", "b x studio"),
        ("b-studio-neutral", "b-studio-neutral.png", "studio", "neutral", "base", "b x studio"),
        ("b-plain", "b-plain.png", "plain", None, "plain", "b x plain"),
    ]
    assert loaded.pilot == Pilot(2, None, 2)


@pytest.mark.parametrize(
    ("pilot", "variants", "expected"),
    [
        ("pilot: {size: 0, gate: maybe, extra: 1}", "",
         ["jobs.yaml:2: pilot.extra: unknown key; expected one of size, gate",
          "jobs.yaml:2: pilot.gate: must be review (a person approves) or {max_failed: 10%}, not 'maybe'",
          "jobs.yaml:2: pilot.size: must be a whole number greater than 0, not 0"]),
        ("pilot: {gate: {max_failed: 150%}}", "",
         ["jobs.yaml:2: pilot.size: required: how many items x styles run first (e.g. size: 24)",
          "jobs.yaml:2: pilot.gate.max_failed: must be a share of the pilot's jobs such as 10% or 0.1, not '150%'"]),
        ("pilot: {size: 2, gate: {max_failed: 5%}}", TWO,
         ["jobs.yaml:2: pilot.gate: a gate cannot choose between prompt variants: use gate: review "
          "(a person picks one with nanobatch pilot approve --variant)"]),
        ("", "variants:\n  - {name: only, prompt: p}\n",
         ["jobs.yaml:10: matrix.styles[0].variants: 1 variants: a style lists 2 to 4, each {name: ..., prompt: ...}"]),
        ("", "variants:\n  - {name: w, prompt: p}\n  - {name: w, colour: red}\n  - warm\n",
         ["jobs.yaml:12: matrix.styles[0].variants[1].colour: unknown key; expected one of name, prompt, "
          "image_urls, aspect_ratio, resolution, output_format",
          "jobs.yaml:12: matrix.styles[0].variants[1].name: duplicate variant name 'w'",
          "jobs.yaml:13: matrix.styles[0].variants[2]: must be a mapping with a name and a prompt, not a string"]),
    ],
)
def test_pilot_and_variant_problems_at_their_line(tmp_path: Path, pilot: str, variants: str,
                                                  expected: list[str]) -> None:
    assert sorted(problems(manifest(pilot, variants), tmp_path)) == sorted(expected)
