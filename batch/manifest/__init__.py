"""Job manifests: a YAML file of prompts and image URLs expanded into API jobs.

``load_manifest(path)`` reads, expands and validates a manifest and returns a ``Manifest``, or
raises ``ManifestError`` whose ``problems`` list every problem found (file:line, field, message).

Top-level keys: ``name`` (required), ``output_dir``, ``output_name`` (template, default ``{id}``;
the extension comes from ``output_format``), ``budget_usd``, ``limits``, ``vars``, ``defaults``
(input fields), ``jobs`` (explicit jobs), ``matrix`` (items x styles), ``notify``, ``storage``
(where local input files are uploaded; ``image_urls`` may name local files and ``s3://``,
``gs://``, ``az://`` references, see ``inputs``; ``output_dir`` may be a bucket reference).
See ``jobs.example.yaml`` at the repository root for a commented example, and the module
docstrings of ``yamlsrc`` (YAML 1.2 scalars, ``${ENV}``), ``templates`` (``{var}``), ``expand``
(variables, order, problem lines), ``recipes`` (input layering) and ``checks`` (the safe-name
rule for ids and output names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batch.errors import ManifestError  # kept here too: the CLI and callers catch it as batch.manifest's

from .model import JobSpec, Limits, Manifest, Pilot, Problem

if TYPE_CHECKING:
    from .parse import load_manifest, parse_manifest


def __getattr__(name: str) -> Any:
    """The parser (and YAML) load on first use: commands such as ``status`` only need the model."""
    if name in ("load_manifest", "parse_manifest"):
        from . import parse

        return getattr(parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["JobSpec", "Limits", "Manifest", "ManifestError", "Pilot", "Problem", "load_manifest", "parse_manifest"]
