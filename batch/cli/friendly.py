"""The decorator every command wears: nanobatch's errors, and a database that does not answer, as one line.

Apart from ``main`` so that the modules of the lazy commands (``review``, ``deploy``...) use it without
importing the group that imports them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy.exc import InterfaceError, OperationalError

from batch.cli.exits import Exit
from batch.commands import service
from batch.errors import ConfigError, InputError, ManifestError, NanobatchError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn nanobatch's errors, and a database that does not answer, into one line on stderr: exit 2 for a
    setup or usage error, else 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ManifestError as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            sys.exit(Exit.USAGE)
        except (ConfigError, InputError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(Exit.USAGE)
        except (OperationalError, InterfaceError) as exc:  # the database is down, refuses us, or cannot be opened
            click.echo(f"error: {service.unreachable_database(exc)}", err=True)
            sys.exit(Exit.USAGE)
        except NanobatchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(Exit.FAILED)

    return wrapper  # type: ignore[return-value]
