"""Every kind of manifest problem, with its exact file:line and field; all reported at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from batch.errors import ManifestError, format_problems
from batch.manifest import Problem, parse_manifest

OK_JOB = '{id: ok, prompt: p, image_urls: ["https://x.example/a.png"]}'


def problems(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ManifestError) as err:
        parse_manifest(textwrap.dedent(text), "jobs.yaml", tmp_path, env or {})
    assert str(err.value) == "\n".join(str(p) for p in err.value.problems)
    return [str(p) for p in err.value.problems]


CASES: list[tuple[str, str, list[str]]] = [
    (
        "unknown and mistyped top-level keys",
        f"""\
        name: [x]
        nme: y
        output_dir: 5
        budget_usd: -1
        limits: {{requests_per_second: 0, max_in_flight: 2.5, burst: 1}}
        notify: hooks
        vars: [a]
        defaults: {{aspect_ratio: auto, colour: red}}
        jobs: [{OK_JOB}]
        """,
        [
            "jobs.yaml:1: name: must be a non-empty string, not a list",
            "jobs.yaml:2: nme: unknown key; did you mean 'name'?",
            "jobs.yaml:3: output_dir: must be a non-empty string, not a number",
            "jobs.yaml:4: budget_usd: must be a number greater than 0, not -1",
            "jobs.yaml:5: limits.burst: unknown key; expected one of requests_per_second, "
            "submits_per_second, max_in_flight",
            "jobs.yaml:5: limits.requests_per_second: must be a number greater than 0, not 0",
            "jobs.yaml:5: limits.max_in_flight: must be a whole number greater than 0, not 2.5",
            "jobs.yaml:6: notify: must be a mapping, not a string",
            "jobs.yaml:7: vars: must be a mapping, not a list",
            "jobs.yaml:8: defaults.colour: unknown key; expected one of prompt, image_urls, "
            "aspect_ratio, resolution, output_format",
        ],
    ),
    (
        "name is required; jobs must be a list of mappings",
        """\
        budget_usd: true
        jobs:
          - just a string
          - id: a
            promt: p
        """,
        [
            "jobs.yaml:1: name: required",
            "jobs.yaml:1: budget_usd: must be a number greater than 0, not True",
            "jobs.yaml:3: jobs[0]: must be a mapping (id:, prompt:, image_urls: ...), not a string",
            "jobs.yaml:4: jobs[1].prompt: field required",
            "jobs.yaml:4: jobs[1].image_urls: field required",
            "jobs.yaml:5: jobs[1].promt: unknown key; did you mean 'prompt'?",
        ],
    ),
    (
        "input schema problems point at the line of the value",
        """\
        name: s
        defaults:
          aspect_ratio: "17:9"
        jobs:
          - id: a
            prompt: ""
            image_urls:
              - https://x.example/a.png
              - ftp://x.example/b.png
            resolution: 8K
          - id: b
            prompt: p
            image_urls: []
        """,
        [
            "jobs.yaml:3: jobs[0].aspect_ratio: must be one of auto, 21:9, 16:9, 3:2, 4:3, 5:4, 1:1, "
            "4:5, 3:4, 2:3, 9:16 (got '17:9') (and 1 more job)",
            "jobs.yaml:6: jobs[0].prompt: must be a non-empty string",
            "jobs.yaml:9: jobs[0].image_urls.1: not a public http(s) URL: 'ftp://x.example/b.png'",
            "jobs.yaml:10: jobs[0].resolution: must be one of 1K, 2K, 4K (got '8K')",
            "jobs.yaml:13: jobs[1].image_urls: must hold 1 to 20 URLs (got 0)",
        ],
    ),
    (
        "matrix field problems name the item and the style",
        """\
        name: m
        matrix:
          items:
            - {sku: shoe-01}
            - {sku: mug-02}
          image_urls: ["https://x.example/{sku}.png"]
          styles:
            - name: studio
              prompt: p
              aspect_ratio: "1:3"
            - name: street
              prompt: p
              output_format: gif
        """,
        [
            "jobs.yaml:10: matrix[shoe-01 x studio].aspect_ratio: must be one of auto, 21:9, 16:9, 3:2, "
            "4:3, 5:4, 1:1, 4:5, 3:4, 2:3, 9:16 (got '1:3') (and 1 more job)",
            "jobs.yaml:13: matrix[shoe-01 x street].output_format: must be one of jpeg, png, webp "
            "(got 'gif') (and 1 more job)",
        ],
    ),
    (
        "duplicate ids name both lines; duplicate output names too",
        f"""\
        name: d
        jobs:
          - {OK_JOB}
          - {OK_JOB}
          - {{id: b, output_name: OK, prompt: p, image_urls: ["https://x.example/a.png"]}}
        matrix:
          items: [{{sku: ok}}]
          id: "{{sku}}"
          styles: [{{name: s, prompt: p, image_urls: ["https://x.example/a.png"]}}]
        """,
        [
            "jobs.yaml:4: jobs[1].id: duplicate id 'ok' (first at line 3)",
            "jobs.yaml:5: jobs[2].output_name: duplicate output_name 'OK.png' (first at line 3 as "
            "'ok.png'; case does not count)",
            "jobs.yaml:7: matrix[ok x s].id: duplicate id 'ok' (first at line 3)",
        ],
    ),
    (
        "unsafe ids and output names",
        """\
        name: u
        defaults: {prompt: p, image_urls: ["https://x.example/a.png"]}
        jobs:
          - {id: "a/b"}
          - {id: "../up"}
          - {id: ".hidden"}
          - {id: "sp ace"}
          - {id: "-flag"}
          - {id: abs, output_name: "/etc/{id}"}
          - {id: dots, output_name: "x/../../{id}"}
          - {id: back, output_name: 'x\\{id}'}
          - {id: empty, output_name: "x//{id}"}
          - {id: uni, output_name: "caf\u00e9/{id}"}
          - {id: "", output_name: "x"}
        """,
        [
            "jobs.yaml:4: jobs[0].id: id 'a/b' contains '/'; ids are one name (use output_name for folders)",
            "jobs.yaml:5: jobs[1].id: id '../up' contains '/'; ids are one name (use output_name for folders)",
            "jobs.yaml:6: jobs[2].id: id '.hidden' starts with '.'",
            "jobs.yaml:7: jobs[3].id: id 'sp ace' has characters outside A-Z a-z 0-9 . _ - (' '); use only those",
            "jobs.yaml:8: jobs[4].id: id '-flag' starts with '-'",
            "jobs.yaml:9: jobs[5].output_name: output_name '/etc/abs.png' is absolute; it must stay inside "
            "output_dir",
            "jobs.yaml:10: jobs[6].output_name: output_name 'x/../../dots.png' has an empty, '.' or '..' part",
            "jobs.yaml:11: jobs[7].output_name: output_name 'x\\\\back.png' contains a backslash; separate "
            "folders with '/'",
            "jobs.yaml:12: jobs[8].output_name: output_name 'x//empty.png' has an empty, '.' or '..' part",
            "jobs.yaml:13: jobs[9].output_name: output_name 'café/uni.png' (part 'café') has characters "
            "outside A-Z a-z 0-9 . _ - ('é'); use only those",
            "jobs.yaml:14: jobs[10].id: must be a non-empty string, not a string",
        ],
    ),
    (
        "templates: unknown variables, bad placeholders, the inherited output_name",
        """\
        name: t
        output_name: "{sku}/{id}"
        defaults: {image_urls: ["https://x.example/{img}.png"]}
        jobs:
          - {id: a, prompt: "Hello {who}"}
          - {id: b, prompt: "{a.b} and {", output_name: "{id}", vars: {img: x}}
        matrix:
          items: [{sku: s1, title: T}]
          styles:
            - {name: studio, prompt: "{title} {colour}"}
        """,
        [
            "jobs.yaml:2: jobs[0].output_name: unknown variable {sku} (known here: id); the top-level "
            "output_name applies to every job: give this one its own",
            "jobs.yaml:3: jobs[0].image_urls.0: unknown variable {img} (known here: none)",
            "jobs.yaml:3: matrix[s1 x studio].image_urls.0: unknown variable {img} (known here: sku, style, "
            "title)",
            "jobs.yaml:5: jobs[0].prompt: unknown variable {who} (known here: none)",
            "jobs.yaml:6: jobs[1].prompt: bad placeholder '{a.b}' in '{a.b} and {': placeholders look like "
            "{name}; write {{ and }} for literal braces",
            "jobs.yaml:6: jobs[1].prompt: unmatched '{' in '{a.b} and {': placeholders look like {name}; "
            "write {{ and }} for literal braces",
            "jobs.yaml:10: matrix[s1 x studio].prompt: unknown variable {colour} (known here: sku, style, "
            "title)",
        ],
    ),
    (
        "empty matrix parts",
        """\
        name: e
        matrix:
          items: []
          styles: []
        """,
        [
            "jobs.yaml:3: matrix.items: no items: the matrix would make no jobs",
            "jobs.yaml:4: matrix.styles: no styles: the matrix would make no jobs",
        ],
    ),
    (
        "matrix shape problems",
        """\
        name: m
        matrix:
          items:
            - {title: a, tags: [x]}
            - 7
          styles:
            - {prompt: p}
            - {name: s, prompt: p, image_urls: ["https://x.example/a.png"], size: big}
            - {name: s, prompt: q}
            - plain
        """,
        [
            "jobs.yaml:4: matrix.items[0].tags: must be a string or number, not a list",
            "jobs.yaml:5: matrix.items[1]: must be a mapping of fields, not a number",
            "jobs.yaml:7: matrix.styles[0].name: required",
            "jobs.yaml:8: matrix.styles[1].size: unknown key; expected one of name, vars, prompt, "
            "image_urls, aspect_ratio, resolution, output_format, variants",
            "jobs.yaml:9: matrix.styles[2].name: duplicate style name 's' (first at line 8)",
            "jobs.yaml:10: matrix.styles[3]: must be a mapping with a name, not a string",
        ],
    ),
    (
        "matrix without sku needs an id; missing styles",
        """\
        name: m
        matrix:
          items: [{title: a}]
        """,
        [
            "jobs.yaml:2: matrix.id: required when the items have no 'sku' field (e.g. id: \"{name}-{style}\")",
            "jobs.yaml:2: matrix.styles: required: a list of styles, each with a name",
        ],
    ),
    (
        "no jobs at all",
        "name: nothing\njobs: []\n",
        ["jobs.yaml:1: the manifest makes no jobs: add a jobs: list or a matrix: block"],
    ),
    ("empty document", "# just a comment\n", [
        "jobs.yaml:1: the manifest must be a mapping with name: and jobs: or matrix:, but it is empty"]),
    ("a list document", "\n- a\n- b\n", [
        "jobs.yaml:2: the manifest must be a mapping with name: and jobs: or matrix:, but it is a list"]),
    ("a scalar document", "hello\n", [
        "jobs.yaml:1: the manifest must be a mapping with name: and jobs: or matrix:, but it is a string"]),
    (
        "YAML syntax error",
        "name: x\njobs:\n  - id: a\n   prompt: [b\n",
        ["jobs.yaml:4: YAML syntax error: while parsing a block collection; did not find expected '-' "
         "indicator"],
    ),
    ("two YAML documents", "name: a\n---\nname: b\n", [
        "jobs.yaml:2: YAML syntax error: expected a single document in the stream; but found another document"]),
    ("a custom YAML tag", f"name: !secret x\njobs: [{OK_JOB}]\n", [
        "jobs.yaml:1: unsupported YAML tag !secret", "jobs.yaml:1: name: required"]),
    (
        "YAML duplicate keys, tags and recursion",
        f"""\
        name: x
        name: y
        budget_usd: !!binary aGk=
        vars: &v {{a: *v}}
        jobs: [{OK_JOB}]
        """,
        [
            "jobs.yaml:2: name: duplicate key (first at line 1)",
            "jobs.yaml:3: unsupported YAML tag tag:yaml.org,2002:binary",
            "jobs.yaml:4: recursive YAML alias",
        ],
    ),
    (
        "environment variables",
        f"""\
        name: ${{NAME}}
        output_dir: ${{OUT:-}}/x
        vars: {{a: "${{A", b: "${{B:-ok}}"}}
        jobs: [{OK_JOB}]
        """,
        [
            "jobs.yaml:1: environment variable NAME is not set (use ${NAME:-default} to give a default)",
            "jobs.yaml:1: name: required",  # it became empty
            "jobs.yaml:3: malformed ${...} in '${A': write ${NAME}, ${NAME:-default} or $${ for a literal ${",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems(text, tmp_path) == expected


CSV_MANIFEST = """\
name: c
matrix:
  items: {csv: data/items.csv}
  image_urls: ["https://x.example/{sku}.png"]
  styles: [{name: s, prompt: "{title}"}]
"""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, ["jobs.yaml:3: matrix.items.csv: cannot read data/items.csv: No such file or directory"]),
        ("", ["data/items.csv:1: no header row: the first line must name the columns"]),
        ("\n\n", ["data/items.csv:1: no header row: the first line must name the columns"]),
        ("sku,title\n", ["jobs.yaml:3: matrix.items: no items: the matrix would make no jobs"]),
        (
            "sku,title\na,A\nb\n\nc,C,extra\nd,D\n",
            ["data/items.csv:3: row has 1 fields; the header has 2",
             "data/items.csv:5: row has 3 fields; the header has 2"],
        ),
        (
            'title,sku\n"multi\nline",a\nb\n',
            ["data/items.csv:4: row has 1 fields; the header has 2"],
        ),
        (
            "sku,,title,sku\na,b,c,d\n",
            ["data/items.csv:1: header column 2 is empty",
             "data/items.csv:1: header names column 'sku' twice"],
        ),
        (b"sku,title\na,caf\xe9\n", ["jobs.yaml:3: matrix.items.csv: data/items.csv is not UTF-8 text "
                                     "(invalid continuation byte)"]),
        ('sku,title\na,"unterminated\n', None),  # csv accepts this: one item, title "unterminated\n"
    ],
)
def test_csv_problems(tmp_path: Path, content: str | bytes | None, expected: list[str] | None) -> None:
    if content is not None:
        (tmp_path / "data").mkdir()
        data = content if isinstance(content, bytes) else content.encode()
        (tmp_path / "data" / "items.csv").write_bytes(data)
    if expected is None:
        manifest = parse_manifest(CSV_MANIFEST, "jobs.yaml", tmp_path, {})
        assert [job.inputs["prompt"] for job in manifest.jobs] == ["unterminated\n".strip()]
        return
    assert problems(CSV_MANIFEST, tmp_path) == expected


def test_csv_problems_are_named_relative_to_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "items.csv").write_text("sku\na,b\n")
    with pytest.raises(ManifestError) as err:
        parse_manifest(CSV_MANIFEST, "conf/jobs.yaml", tmp_path, {})
    assert [str(p) for p in err.value.problems] == ["conf/data/items.csv:2: row has 2 fields; the header has 1"]


def test_odd_item_labels_stay_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "items.csv").write_text('sku,title\n"two\nlines",x\n')
    assert problems(CSV_MANIFEST, tmp_path) == [
        "jobs.yaml:2: matrix['two\\nlines' x s].id: id 'two\\nlines-s' has characters outside "
        "A-Z a-z 0-9 . _ - ('\\n'); use only those",
        "jobs.yaml:4: matrix['two\\nlines' x s].image_urls.0: not a public http(s) URL: "
        "'https://x.example/two\\nlines.png'",
    ]


def test_every_problem_is_kept_and_the_message_is_capped(tmp_path: Path) -> None:
    jobs = "\n".join(f"  - {{id: 'bad id {i}', prompt: p, image_urls: [https://x.example/a]}}" for i in range(60))
    with pytest.raises(ManifestError) as err:
        parse_manifest(f"name: many\njobs:\n{jobs}\n", "jobs.yaml", tmp_path, {})
    assert len(err.value.problems) == 60
    lines = str(err.value).splitlines()
    assert len(lines) == 51
    assert lines[0].startswith("jobs.yaml:3: jobs[0].id: id 'bad id 0' has characters outside")
    assert lines[-1] == "... and 10 more problems"


def test_a_matrix_problem_shared_by_many_jobs_is_reported_once(tmp_path: Path) -> None:
    items = ", ".join(f"{{sku: s{i}}}" for i in range(500))
    text = f"""\
name: shared
matrix:
  items: [{items}]
  image_urls: [https://x.example/a]
  styles:
    - {{name: a, prompt: p, resolution: 3K}}
    - {{name: b, prompt: "{{nope}}"}}
"""
    assert problems(text, tmp_path) == [
        "jobs.yaml:6: matrix[s0 x a].resolution: must be one of 1K, 2K, 4K (got '3K') (and 499 more jobs)",
        "jobs.yaml:7: matrix[s0 x b].prompt: unknown variable {nope} (known here: sku, style) "
        "(and 499 more jobs)",
    ]


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (Problem("jobs.yaml", 12, "jobs[3].aspect_ratio", "must be one of ..."),
         "jobs.yaml:12: jobs[3].aspect_ratio: must be one of ..."),
        (Problem("jobs.yaml", 4, "", "YAML syntax error: x"), "jobs.yaml:4: YAML syntax error: x"),
        (Problem("jobs.yaml", 0, "", "cannot read the manifest"), "jobs.yaml: cannot read the manifest"),
    ],
)
def test_problem_text(problem: Problem, text: str) -> None:
    assert str(problem) == text
    assert format_problems([problem]) == text
