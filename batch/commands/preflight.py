"""Checks that cost nothing, run before anything is paid for: where the files go, and their names.

``validate`` and ``submit``/``run`` run them before the first row is written, so a batch whose
files could never be written is refused at once instead of being paid for job by job.
"""

from __future__ import annotations

from batch.errors import ManifestError
from batch.files.outputs import MAX_OUTPUTS_PER_JOB, Collision, check_output_dir, output_collisions
from batch.manifest import Manifest, Problem


def check_outputs(manifest: Manifest, output_dir: str, *, probe: bool = True) -> None:
    """Every output path unique (extra outputs included), then, with ``probe``, ``output_dir``
    created and writable. Raises ManifestError (at the jobs' lines) or InputError (naming the folder)."""
    lines = {spec.id: spec.line for spec in manifest.jobs}
    collisions = output_collisions((spec.id, spec.output_name) for spec in manifest.jobs)
    if collisions:
        raise ManifestError([Problem(manifest.path, lines[c.job], f"{c.job}.output_name",
                                     _message(c, lines[c.other])) for c in collisions])
    if probe:
        check_output_dir(output_dir)


def _message(collision: Collision, other_line: int) -> str:
    other = f"job {collision.other!r} (line {other_line})"
    if collision.folder:
        return f"output {collision.path!r} is a file, but {other} puts its outputs in a folder of that name"
    return (f"output {collision.path!r} is also an output path of {other}: a job may return up to "
            f"{MAX_OUTPUTS_PER_JOB} images, saved as NAME.ext, NAME-2.ext ... NAME-{MAX_OUTPUTS_PER_JOB}.ext")
