"""Hostile templates through ``nanobatch validate``: nested vars that expand to gigabytes, prompts
past the cap, credentials pulled from the environment, bucket output keys that escape their prefix."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from batch.cli.main import main

URL = "https://x.example/a.png"
MAX_CHARS = 10_000  # the documented cap (README)
PROMPT_TOO_LONG = "is longer than 10,000 characters, the most a prompt may hold: shorten it"
TOO_LONG = (f"expands to more than {MAX_CHARS:,} characters (the most a template or prompt may hold): "
            "shorten it, or use fewer or shorter variables in it")


def validate(tmp_path: Path, text: str, **env: str) -> tuple[Path, Result]:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    return path, CliRunner().invoke(main, ["validate", str(path)], env=env)


def nested_vars(depth: int, width: int = 16) -> str:
    """``depth`` vars, each ``width`` copies of the one before: 32 * width**depth characters at the end."""
    lines = ["name: bomb", "output_dir: out", "vars:", '  v0: "' + "x" * 32 + '"']
    lines += [f'  v{i}: "' + f"{{v{i - 1}}}" * width + '"' for i in range(1, depth + 1)]
    lines += ["jobs:", f'  - {{id: j, prompt: "{{v{depth}}}", image_urls: ["{URL}"]}}']
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("depth", [6, 7])
def test_nested_vars_are_refused_at_the_line_that_passes_the_cap_without_building_them(
        tmp_path: Path, depth: int) -> None:
    text = nested_vars(depth)  # 7 deep: 8.6 GB if expanded (11.7 s and a MemoryError before); 6 deep: 537 MB
    assert len(text) < 700
    tracemalloc.start()
    try:
        path, done = validate(tmp_path, text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.exit_code == 2
    assert done.output.splitlines()[0] == f"error: {path}:7: vars.v3: {TOO_LONG}"  # 32 * 16**3 = 131,072
    assert peak < 20 * 1024 * 1024


def test_a_prompt_is_capped_whether_written_out_or_made_from_vars(tmp_path: Path) -> None:
    longest = "p" * MAX_CHARS
    path, done = validate(tmp_path, f"name: n\noutput_dir: out\nvars: {{half: '{'h' * 6000}'}}\njobs:\n"
                                    f"  - {{id: a, prompt: '{longest}', image_urls: ['{URL}']}}\n"
                                    f"  - {{id: b, prompt: '{longest}q', image_urls: ['{URL}']}}\n"
                                    f"  - {{id: c, prompt: '{{half}} and {{half}}', image_urls: ['{URL}']}}\n")
    assert done.exit_code == 2
    assert done.output.splitlines() == [f"error: {path}:6: jobs[1].prompt: {PROMPT_TOO_LONG}",
                                        f"error: {path}:7: jobs[2].prompt: {TOO_LONG}"]


def test_credentials_in_templates_are_refused_by_name_unless_allowed(tmp_path: Path) -> None:
    secrets = {"RUNCOMFY_API_TOKEN": "tok-123", "AWS_SECRET_ACCESS_KEY": "aws-456", "SHOP_DB_PASSWORD": "pw-789",
               "STRIPE_KEY": "sk-000"}
    text = ("name: n\noutput_dir: out\njobs:\n"
            f"  - {{id: a, prompt: 'use ${{RUNCOMFY_API_TOKEN}}', image_urls: ['{URL}']}}\n"
            f"  - {{id: b, prompt: 'x ${{AWS_SECRET_ACCESS_KEY:-none}}', image_urls: ['{URL}']}}\n"
            f"  - {{id: c, prompt: 'y ${{SHOP_DB_PASSWORD}}', image_urls: ['{URL}']}}\n"
            f"  - {{id: d, prompt: 'z ${{STRIPE_KEY}} ${{UNSET_TOKEN}}', image_urls: ['{URL}']}}\n"
            f"  - {{id: e, prompt: 'fine ${{SHOP_NAME}}', image_urls: ['{URL}']}}\n")
    path, done = validate(tmp_path, text, SHOP_NAME="Acme", **secrets)
    assert done.exit_code == 2
    lines = done.output.splitlines()
    assert len(lines) == 5, done.output
    for line, name in [(4, "RUNCOMFY_API_TOKEN"), (5, "AWS_SECRET_ACCESS_KEY"), (6, "SHOP_DB_PASSWORD"),
                       (7, "STRIPE_KEY"), (7, "UNSET_TOKEN")]:
        assert (f"error: {path}:{line}: ${{{name}}} names a credential: its value would be stored with the batch "
                f"and could be sent upstream; if it must be used, list it in allow_env: [{name}]") in lines
    assert not any(value in done.output for value in secrets.values())
    allowed = "allow_env: [SHOP_DB_PASSWORD]\n" + text.replace("${RUNCOMFY_API_TOKEN}", "t").replace(
        "${AWS_SECRET_ACCESS_KEY:-none}", "").replace("${STRIPE_KEY} ${UNSET_TOKEN}", "")
    path, done = validate(tmp_path, allowed, SHOP_NAME="Acme", **secrets)
    assert done.exit_code == 0, done.output
    bad, done = validate(tmp_path, allowed.replace("[SHOP_DB_PASSWORD]", "[SHOP_DB_PASSWORD, 'two words']"))
    assert done.exit_code == 2
    assert f"error: {bad}:1: allow_env.1: must be an environment variable's name, not 'two words'" in done.output


@pytest.mark.parametrize("output_dir", ["s3://b/out/../other", "s3://b/out//x", "s3://b/./out", "s3://b/out/.",
                                        "s3://b/out/%2e%2e/x", "s3://b/out/%2E%2e", "s3://b/out\\x", "s3://b/a/%2fx"])
def test_bucket_output_keys_that_escape_their_prefix_are_refused(tmp_path: Path, output_dir: str) -> None:
    path, done = validate(tmp_path, f"name: n\noutput_dir: '{output_dir}'\n"
                                    f"jobs:\n  - {{id: a, prompt: p, image_urls: ['{URL}']}}\n")
    assert done.exit_code == 2
    assert done.output.startswith(f"error: {path}:2: output_dir: {output_dir!r} ")
    assert done.output.count("\n") == 1
