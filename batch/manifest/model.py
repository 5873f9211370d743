"""The manifest's public data types and the problem log that feeds its error (``batch.errors.ManifestError``).

``Problem`` lives beside that error in ``batch.errors`` (the schedules file reports them too); it is
named here as well, as part of the manifest's public types.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batch.storage.config import StorageConfig
    from batch.storage.uploads import LocalInput

from batch.errors import ManifestError
from batch.errors import Problem as Problem


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One API request the manifest asks for."""

    id: str
    inputs: dict[str, Any]
    output_name: str
    line: int
    vars: dict[str, str]
    sources: list[str | None] | None = None  # per image_urls entry: the local path written, if it was one
    style: str | None = None  # the matrix style it comes from (None: an explicit job)
    variant: str | None = None  # the style's prompt variant it tries (None: the style has no variants)
    unit: str = ""  # item x style: the jobs of one unit differ only by their variant ("": the job is its own)

    @property
    def sample_unit(self) -> str:
        """What the pilot samples: the job's item x style (its variants go together), else the job itself."""
        return self.unit or self.id


@dataclass(frozen=True)
class Limits:
    """Rate and concurrency limits from the manifest's ``limits:`` block (None: not set)."""

    requests_per_second: float | None = None
    submits_per_second: float | None = None
    max_in_flight: int | None = None


@dataclass(frozen=True)
class Pilot:
    """The manifest's ``pilot:`` block (or ``run --pilot N``): a sample of ``size`` units runs first.

    ``max_failed`` None: a person approves (``gate: review``, the default); else the gate's share.
    """

    size: int
    max_failed: float | None = None
    line: int = 0


@dataclass(frozen=True)
class Manifest:
    """A loaded, expanded and validated manifest."""

    name: str
    path: str
    jobs: list[JobSpec]
    output_dir: str | None
    limits: Limits
    budget_usd: float | None
    notify: dict[str, Any] | None
    warnings: list[str]
    storage: StorageConfig | None = None  # the storage: block (where local inputs are uploaded)
    output_url: str | None = None  # output_dir given as a bucket reference (files are also kept locally)
    uploads: tuple[LocalInput, ...] = ()  # local input files, each once, by the reference they go to
    lines: dict[str, int] = dataclasses.field(default_factory=dict)  # where storage:/output_dir are written
    pilot: Pilot | None = None  # the pilot: block



class ProblemLog:
    """Collects problems and warnings while a manifest is parsed.

    Problems found per job (``job_problem``/``job_warning``) are collapsed: the same message at
    the same line for the same field of many jobs is reported once, "(and N more jobs)".
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.count = 0
        self._problems: list[Problem] = []
        self._warnings: list[Problem] = []
        self._grouped: dict[tuple[bool, str, int, str, str], list[Any]] = {}

    def add(self, line: int, field: str, message: str, file: str | None = None) -> None:
        """Record a problem."""
        self._problems.append(Problem(file or self.file, line, field, message))
        self.count += 1

    def warn(self, line: int, field: str, message: str) -> None:
        """Record a warning."""
        self._warnings.append(Problem(self.file, line, field, message))

    def job_problem(self, line: int, label: str, field: str, message: str) -> None:
        """Record a problem of one job's ``field`` (collapsed with the same one of other jobs)."""
        self._group(False, line, label, field, message)
        self.count += 1

    def job_warning(self, line: int, label: str, field: str, message: str) -> None:
        """Record a warning about one job's ``field`` (collapsed like ``job_problem``)."""
        self._group(True, line, label, field, message)

    def _group(self, warning: bool, line: int, label: str, field: str, message: str) -> None:
        key = (warning, self.file, line, field, message)
        entry = self._grouped.get(key)
        if entry is None:
            self._grouped[key] = [label, 0]
        else:
            entry[1] += 1

    def _collapsed(self, warning: bool) -> list[Problem]:
        out = []
        for (is_warning, file, line, field, message), (label, more) in self._grouped.items():
            if is_warning == warning:
                suffix = f" (and {more} more job{'s' if more > 1 else ''})" if more else ""
                out.append(Problem(file, line, f"{label}.{field}", message + suffix))
        return out

    def problems(self) -> list[Problem]:
        """Every problem, the manifest's own first, in line order."""
        return self._sorted(self._problems + self._collapsed(False))

    def warnings(self) -> list[str]:
        """Every warning as ``file:line: field: message``, in line order."""
        return [str(w) for w in self._sorted(self._warnings + self._collapsed(True))]

    def _sorted(self, problems: list[Problem]) -> list[Problem]:
        return sorted(problems, key=lambda p: (p.file != self.file, p.file, p.line))

    def raise_if_any(self) -> None:
        """Raise ``ManifestError`` with every problem, if there is one."""
        if self.count:
            raise ManifestError(self.problems())
