"""``--json`` for every command that reports: one option, one way to print (schemas: docs/json.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(help_text: str = "Print the result as one JSON document (schema: docs/json.md).") -> Callable[[F], F]:
    """The ``--json`` flag, passed to the command as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def emit(doc: Any) -> None:
    """Write ``doc`` as one line of JSON on stdout (nothing else goes to stdout under ``--json``)."""
    click.echo(json.dumps(doc))


def echo_or_emit(as_json: bool, doc: Callable[[], Any], lines: Callable[[], list[str]]) -> None:
    """The command's JSON document under ``--json``, else its lines of text."""
    if as_json:
        emit(doc())
    else:
        click.echo("\n".join(lines()))
