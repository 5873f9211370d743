"""Manifest expansion: explicit jobs, the matrix (inline and CSV), variables, layering."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

from batch.errors import ManifestError
from batch.manifest import JobSpec, Limits, Manifest, load_manifest, parse_manifest


def parse(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> Manifest:
    return parse_manifest(textwrap.dedent(text), "jobs.yaml", tmp_path, env or {})


def by_id(manifest: Manifest) -> dict[str, JobSpec]:
    return {job.id: job for job in manifest.jobs}


EXPLICIT = """\
name: explicit
vars:
  cdn: https://cdn.example.com
defaults:
  resolution: 2K
  output_format: jpeg
jobs:
  - id: hero-shoe
    prompt: "Shoe on a rain-soaked street at night"
    image_urls: ["{cdn}/shoe.png"]
    aspect_ratio: 16:9
  - id: mug
    vars: {thing: mug}
    output_name: "mugs/{id}-{thing}"
    prompt: "A {thing} on a table"
    image_urls: "{cdn}/{thing}.png"
    output_format: webp
"""


def test_explicit_jobs_are_full_request_bodies(tmp_path: Path) -> None:
    manifest = parse(EXPLICIT, tmp_path)
    hero, mug = manifest.jobs
    assert hero == JobSpec(
        id="hero-shoe",
        inputs={"aspect_ratio": "16:9", "resolution": "2K", "output_format": "jpeg",
                "prompt": "Shoe on a rain-soaked street at night",
                "image_urls": ["https://cdn.example.com/shoe.png"]},
        output_name="hero-shoe.jpg",
        line=8,
        vars={},
    )
    assert mug.inputs == {"aspect_ratio": "auto", "resolution": "2K", "output_format": "webp",
                          "prompt": "A mug on a table", "image_urls": ["https://cdn.example.com/mug.png"]}
    assert mug.output_name == "mugs/mug-mug.webp"
    assert (mug.line, mug.vars) == (12, {"thing": "mug"})
    assert manifest == Manifest(name="explicit", path="jobs.yaml", jobs=manifest.jobs, output_dir=None,
                                limits=Limits(), budget_usd=None, notify=None, warnings=[])


INLINE_MATRIX = """\
name: catalog
output_name: "{sku}/{style}"
vars:
  cdn: https://cdn.example.com
  mood: calm
matrix:
  items:
    - {sku: shoe-01, title: running shoe, image: shoe.png}
    - sku: mug-02
      title: coffee mug
      image: mug.png
      mood: cosy
  image_urls: ["{cdn}/{image}"]
  styles:
    - name: studio
      prompt: "The {title} on white, {mood}"
      aspect_ratio: 1:1
    - name: street
      vars: {mood: gritty}
      prompt: "The {title} in the street, {mood}, style {style}"
      output_format: webp
"""


def test_inline_matrix_is_items_times_styles(tmp_path: Path) -> None:
    jobs = by_id(parse(INLINE_MATRIX, tmp_path))
    assert list(jobs) == ["shoe-01-studio", "shoe-01-street", "mug-02-studio", "mug-02-street"]
    studio = jobs["shoe-01-studio"]
    assert studio.inputs == {"aspect_ratio": "1:1", "resolution": "1K", "output_format": "png",
                             "prompt": "The running shoe on white, calm",
                             "image_urls": ["https://cdn.example.com/shoe.png"]}
    assert studio.output_name == "shoe-01/studio.png"
    assert studio.line == 8  # the item's line
    assert studio.vars == {"sku": "shoe-01", "title": "running shoe", "image": "shoe.png", "style": "studio"}
    assert jobs["mug-02-street"].output_name == "mug-02/street.webp"
    assert jobs["mug-02-street"].line == 9


@pytest.mark.parametrize(
    ("job_id", "prompt"),
    [
        ("shoe-01-studio", "The running shoe on white, calm"),  # manifest var
        ("mug-02-studio", "The coffee mug on white, cosy"),  # the item's field wins over vars
        ("mug-02-street", "The coffee mug in the street, gritty, style street"),  # the style's vars win
    ],
)
def test_variable_precedence(tmp_path: Path, job_id: str, prompt: str) -> None:
    assert by_id(parse(INLINE_MATRIX, tmp_path))[job_id].inputs["prompt"] == prompt


def write_csv(tmp_path: Path, text: str, name: str = "catalog.csv") -> None:
    (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")


CSV_MATRIX = """\
name: csv
matrix:
  items: {csv: catalog.csv}
  id: "{code}-{style}"
  output_name: "{style}/{code}"
  image_urls: ["https://cdn.example.com/{image}"]
  styles:
    - name: studio
      prompt: "{title}"
    - name: banner
      prompt: "{title}, wide"
      aspect_ratio: 16:9
"""


def test_csv_matrix(tmp_path: Path) -> None:
    write_csv(tmp_path, '\ufeffcode, title ,image\na1,"Shoe, red",a.png\n\n b2 ,Mug, b.png \n')
    manifest = parse(CSV_MATRIX, tmp_path)
    jobs = by_id(manifest)
    assert list(jobs) == ["a1-studio", "a1-banner", "b2-studio", "b2-banner"]
    assert jobs["a1-studio"].inputs["prompt"] == "Shoe, red"
    assert jobs["b2-banner"].inputs["image_urls"] == ["https://cdn.example.com/b.png"]
    assert jobs["b2-banner"].inputs["aspect_ratio"] == "16:9"
    assert jobs["b2-banner"].output_name == "banner/b2.png"
    assert [job.line for job in manifest.jobs] == [8, 10, 8, 10]  # CSV rows: the style's line
    assert jobs["a1-studio"].vars == {"code": "a1", "title": "Shoe, red", "image": "a.png", "style": "studio"}


def test_explicit_jobs_and_matrix_together_keep_order(tmp_path: Path) -> None:
    text = INLINE_MATRIX + textwrap.dedent("""\
        jobs:
          - id: extra
            output_name: "extra/{id}"
            prompt: one more
            image_urls: ["https://x.example/a.png"]
        """)
    assert [job.id for job in parse(text, tmp_path).jobs] == [
        "extra", "shoe-01-studio", "shoe-01-street", "mug-02-studio", "mug-02-street"]


def test_layers_defaults_matrix_style(tmp_path: Path) -> None:
    text = """\
    name: layers
    defaults: {aspect_ratio: "4:3", resolution: 4K, output_format: jpeg, prompt: default prompt,
               image_urls: ["https://d.example/x.png"]}
    matrix:
      items: [{sku: a}]
      resolution: 2K
      styles:
        - {name: plain}
        - {name: custom, resolution: 1K, prompt: mine}
    """
    jobs = by_id(parse(text, tmp_path))
    assert jobs["a-plain"].inputs == {"aspect_ratio": "4:3", "resolution": "2K", "output_format": "jpeg",
                                      "prompt": "default prompt", "image_urls": ["https://d.example/x.png"]}
    assert jobs["a-custom"].inputs["resolution"] == "1K"
    assert jobs["a-custom"].inputs["prompt"] == "mine"
    assert jobs["a-custom"].output_name == "a-custom.jpg"


def test_vars_may_use_earlier_vars_and_numbers(tmp_path: Path) -> None:
    text = """\
    name: v
    vars: {version: 2, host: cdn.example.com, cdn: "https://{host}/v{version}"}
    jobs:
      - {id: "job-{version}", prompt: "{cdn}", image_urls: ["https://{host}/a.png"], vars: {size: 3}}
    """
    job = parse(text, tmp_path).jobs[0]
    assert (job.id, job.inputs["prompt"], job.vars) == ("job-2", "https://cdn.example.com/v2", {"size": "3"})


def test_vars_may_not_use_later_vars(tmp_path: Path) -> None:
    text = """\
    name: v
    vars: {cdn: "https://{host}", host: cdn.example.com}
    jobs: [{id: a, prompt: p, image_urls: ["https://x.example/a.png"]}]
    """
    with pytest.raises(ManifestError) as err:
        parse(text, tmp_path)
    assert str(err.value) == ("jobs.yaml:2: vars.cdn: unknown variable {host} (known here: none); "
                              "a var may use only the ones above it")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"{{literal}} {x}"', "{literal} X"),
        ('"{{{x}}}"', "{X}"),
        ("'}}{{'", "}{"),
        ('"$${x}"', "$X"),  # $${ is a literal ${ for the ENV pass; then {x} is a template variable
        ('"$${{x}}"', "${x}"),  # both escapes: a literal ${x}
        ('"cost $$5 and $PATH"', "cost $$5 and $PATH"),  # only ${ is special
    ],
)
def test_escapes(tmp_path: Path, value: str, expected: str) -> None:
    text = f"""\
    name: e
    vars: {{x: X}}
    jobs: [{{id: a, prompt: {value}, image_urls: ["https://x.example/a.png"]}}]
    """
    assert parse(text, tmp_path, env={"x": "env"}).jobs[0].inputs["prompt"] == expected


ENV_TEXT = """\
name: ${NAME:-env-demo}
budget_usd: ${BUDGET:-2.5}
output_dir: ${OUT:-out}
jobs:
  - id: a
    prompt: "${PROMPT}"
    image_urls: ["${BASE:-http://127.0.0.1:8765/samples}/shoe.png"]
"""


@pytest.mark.parametrize(
    ("env", "name", "budget", "url"),
    [
        ({"PROMPT": "p"}, "env-demo", 2.5, "http://127.0.0.1:8765/samples/shoe.png"),
        ({"PROMPT": "p", "NAME": "n", "BUDGET": "7", "BASE": "https://h"}, "n", 7.0, "https://h/shoe.png"),
        ({"PROMPT": "p", "NAME": "", "BASE": ""}, "env-demo", 2.5, "http://127.0.0.1:8765/samples/shoe.png"),
    ],
)
def test_env_interpolation(tmp_path: Path, env: dict[str, str], name: str, budget: float, url: str) -> None:
    manifest = parse(ENV_TEXT, tmp_path, env)
    assert (manifest.name, manifest.budget_usd) == (name, budget)
    assert manifest.jobs[0].inputs["image_urls"] == [url]
    assert manifest.output_dir == str(tmp_path.resolve() / "out")


def test_env_unset_without_default_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as err:
        parse(ENV_TEXT, tmp_path)
    assert str(err.value.problems[0]) == (
        "jobs.yaml:6: environment variable PROMPT is not set (use ${PROMPT:-default} to give a default)")


def test_quoted_env_value_stays_a_string(tmp_path: Path) -> None:
    text = 'name: q\nbudget_usd: "${B:-3}"\njobs: [{id: a, prompt: p, image_urls: ["https://x.example/a"]}]\n'
    with pytest.raises(ManifestError) as err:
        parse(text, tmp_path)
    assert str(err.value) == "jobs.yaml:2: budget_usd: must be a number greater than 0, not '3'"


def test_yaml_12_scalars(tmp_path: Path) -> None:
    text = """\
    name: on
    jobs:
      - id: a
        prompt: no
        image_urls: [https://x.example/a.png]
        aspect_ratio: 16:9
      - {id: b, prompt: 2024-01-01, image_urls: [https://x.example/b.png], aspect_ratio: 1:1}
    """
    manifest = parse(text, tmp_path)
    assert manifest.name == "on"
    assert [(j.inputs["prompt"], j.inputs["aspect_ratio"]) for j in manifest.jobs] == [
        ("no", "16:9"), ("2024-01-01", "1:1")]


def test_merge_keys_and_anchors(tmp_path: Path) -> None:
    text = """\
    name: m
    matrix:
      items: [{sku: a}]
      image_urls: [https://x.example/a.png]
      styles:
        - &base {name: one, prompt: shared, aspect_ratio: 3:2}
        - <<: *base
          name: two
    """
    jobs = by_id(parse(text, tmp_path))
    assert jobs["a-two"].inputs["prompt"] == "shared"
    assert jobs["a-two"].inputs["aspect_ratio"] == "3:2"
    assert jobs["a-two"].line == 3  # an inline item's line


def test_top_level_settings(tmp_path: Path) -> None:
    text = """\
    name: s
    output_dir: /srv/out
    budget_usd: 25
    limits: {requests_per_second: 20, submits_per_second: 0.5, max_in_flight: 50}
    notify:
      webhook: {url: "https://hooks.example/x"}
      command: echo done
    jobs: [{id: a, prompt: p, image_urls: ["https://x.example/a"]}]
    """
    manifest = parse(text, tmp_path)
    assert manifest.output_dir == str(Path("/srv/out").resolve())
    assert manifest.budget_usd == 25.0
    assert manifest.limits == Limits(requests_per_second=20.0, submits_per_second=0.5, max_in_flight=50)
    assert manifest.notify == {"webhook": {"url": "https://hooks.example/x"}, "command": "echo done"}
    assert type(manifest.notify) is dict
    assert type(manifest.notify["webhook"]) is dict


def test_warnings(tmp_path: Path) -> None:
    urls = ", ".join(f"https://x.example/{i}.png" for i in range(16))
    text = f"""\
    name: w
    output_name: "{{id}}.png"
    matrix:
      items: [{{sku: a}}, {{sku: b}}]
      styles:
        - name: many
          prompt: p
          image_urls: [{urls}]
    """
    manifest = parse(text, tmp_path)
    assert len(manifest.jobs) == 2
    assert manifest.jobs[0].output_name == "a-many.png.png"
    assert manifest.warnings == [
        "jobs.yaml:2: output_name: '{id}.png' ends with a file extension; the extension is added "
        "from output_format, so files would end in two",
        "jobs.yaml:8: matrix[a x many].image_urls: 16 images; Google's limit is 14 (and 1 more job)",
    ]


def test_load_manifest_reads_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    write_csv(folder, "code,title,image\nz9,Lamp,l.png\n")
    (folder / "m.yaml").write_text(CSV_MATRIX.replace("name: csv", "name: ${WHO}\noutput_dir: out"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WHO", "from-os-environ")
    manifest = load_manifest("proj/m.yaml")
    assert (manifest.name, manifest.path) == ("from-os-environ", "proj/m.yaml")
    assert manifest.output_dir == str(folder.resolve() / "out")
    assert len(manifest.jobs) == 2
    assert load_manifest(folder / "m.yaml", env={"WHO": "given"}).name == "given"


def test_load_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path / "nope.yaml")
    assert str(err.value) == f"{tmp_path / 'nope.yaml'}: cannot read the manifest: No such file or directory"


def test_manifest_error_pickles(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as err:
        parse("name: [1]\n", tmp_path)
    copy: Any = pickle.loads(pickle.dumps(err.value))
    assert copy.problems == err.value.problems
    assert str(copy) == str(err.value)


def test_manifest_and_jobs_pickle(tmp_path: Path) -> None:
    manifest = parse(INLINE_MATRIX, tmp_path)
    assert pickle.loads(pickle.dumps(manifest)) == manifest
