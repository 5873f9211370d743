"""The package as a user installs it: a wheel, a fresh venv without the dev extra, the installed command.

The dev venv hides missing runtime dependencies (pytest brings ``packaging``, which kombu's Redis
transport needs): here nothing but the wheel's declared dependencies is installed. pip's cache
is reused, so after the first run this needs no download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch.simulator import spawn_simulator
from tests.helpers import write_manifest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"batch", "workers", "migrations"}
TIMEOUT = 600  # a cold pip cache downloads every dependency


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the dev venv's or the tests' settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NANOBATCH_", "RUNCOMFY_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "NANOBATCH_HOME": str(home), "COLUMNS": "120", **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a copy of this checkout's tracked layout.

    A copy: setuptools builds in the source tree, and a stale ``build/`` left there by an
    earlier build would put modules deleted since into the wheel.
    """
    source = tmp_path_factory.mktemp("source")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("batch", "workers", "migrations", "bench", "tests"):  # bench and tests must stay out
        shutil.copytree(REPO / name, source / name, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)], out)
    (built,) = out.glob("nanobatch-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Path]:
    """A fresh venv holding the wheel and its runtime dependencies only."""
    folder = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(folder)], folder)
    _run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], folder)
    yield folder


def test_wheel_holds_the_three_packages_and_their_data_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert tops == TOP_LEVEL  # no bench, tests, scripts or examples
    needed = {"batch/py.typed", "migrations/script.py.mako"}
    needed |= {p.relative_to(REPO).as_posix() for p in (REPO / "batch").rglob("*.lua")}
    needed |= {p.relative_to(REPO).as_posix() for p in (REPO / "migrations" / "versions").glob("*.py")}
    assert needed - set(names) == set()


def test_installed_command_runs_a_batch_against_the_simulator(venv: Path, tmp_path: Path) -> None:
    bin_dir = venv / "bin"
    where = _run([str(bin_dir / "python"), "-c", "import batch; print(batch.__file__)"], tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv)  # the installed copy, not this checkout
    absent = subprocess.run([str(bin_dir / "python"), "-c", "import pytest"], capture_output=True, timeout=60)
    assert absent.returncode != 0  # the dev extra is not there to hide a missing dependency
    home = tmp_path / "home"
    _run([str(bin_dir / "nanobatch"), "simulate", "--help"], tmp_path, _clean_env(home))
    with spawn_simulator(["--latency", "0.2-0.5", "--workers", "8"]) as sim:
        manifest = write_manifest(tmp_path, sim.base_url, items=2, styles=2)
        env = _clean_env(home, RUNCOMFY_API_BASE=sim.base_url, RUNCOMFY_API_TOKEN="t")
        done = _run([str(bin_dir / "nanobatch"), "run", str(manifest)], tmp_path, env)
    assert "succeeded" in done.stdout
    assert len(list((tmp_path / "out").rglob("*.png"))) == 4
