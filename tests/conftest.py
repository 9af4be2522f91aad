"""Shared test helpers. torch is imported once per session (here), never per test."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import math
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from torchscaffold.cli import main

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()

# Under pytest-xdist each worker is one process per core: torch's intra-op threads (one per
# core) on top of the workers oversubscribe the cores. One thread per worker, and per process
# it starts (the variable is inherited): the test-model runs took a third of the time under load.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def import_file(path: Path, name: str | None = None) -> ModuleType:
    """Import a generated file under a unique module name (so tests never see stale modules)."""
    name = name or f"generated_{path.stem}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


def run_python(
    *code: str,
    python: str = sys.executable,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run lines of Python in a fresh interpreter (``env`` added to ours); its stdout."""
    import os

    done = subprocess.run(
        [python, "-c", "\n".join(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# A user's model file, the smallest with two layers: for the tests of what --to/--from read.
TWO_LAYER_NET = """\
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(self.fc(x))
"""


def run_cli(*args: str, cwd: Path | None = None) -> Result:
    """Run ``torchgen ARGS`` in-process (fast); ``cwd`` changes directory for the call."""
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args), prog_name="torchgen", catch_exceptions=False)
    import os

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, list(args), prog_name="torchgen", catch_exceptions=False)
    finally:
        os.chdir(old)


def run_torchgen(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (for exit codes, stderr, imports)."""
    return subprocess.run(
        [sys.executable, "-m", "torchscaffold", *args],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def new_projects(root: Path, options: dict[str, list[str]]) -> dict[str, Path]:
    """``torchgen new root/NAME OPTIONS...`` for each NAME: the projects, by NAME."""
    made = {}
    for name, argv in options.items():
        result = run_cli("new", str(root / name), *argv)
        assert result.exit_code == 0, result.output
        made[name] = root / name
    return made


def run_suite(
    project: Path, *selection: str, path: Sequence[Path] = (), images: bool = False
) -> subprocess.CompletedProcess:
    """A generated project's own tests (``selection``: pytest arguments, default all), in a
    fresh interpreter, from its root, as a user runs them. ``images``: the project reads
    images with torchvision, which imports here through ``shim_torchvision``."""
    plugins = ["-p", "shim_torchvision"] if images else []
    return run_in_project(
        project, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins, *selection, path=path
    )


def run_in_project(
    project: Path, *argv: str, path: Sequence[Path] = ()
) -> subprocess.CompletedProcess:
    """``python ARGV`` in a fresh interpreter, from a generated project's root, its ``src/``
    importable (as after ``pip install -e .``; ``path``: more folders after it), torch on
    one thread (as the project's own tests run it: their models are tiny, and spinning
    threads slow a busy machine); this folder is importable too, for the
    ``shim_torchvision`` plugin."""
    import os

    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    folders = [project / "src", *path, Path(__file__).parent]
    env |= {"PYTHONPATH": os.pathsep.join(map(str, folders)), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *argv],
        cwd=project,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )


def count_tests(project: Path, *selection: str) -> int:
    """How many tests ``selection`` (folders, files, ``file::test_name``; default ``tests``)
    holds in a generated project, counted from its files: each top-level ``test_*`` function
    once per case of its ``pytest.mark.parametrize`` decorators (literal lists only)."""
    total = 0
    for item in selection or ("tests",):
        path, _, wanted = item.partition("::")
        where = project / path
        for file in [where] if where.suffix == ".py" else sorted(where.rglob("test_*.py")):
            for node in ast.parse(file.read_text(encoding="utf-8")).body:
                if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                    continue
                if wanted in ("", node.name):
                    total += math.prod(
                        len(ast.literal_eval(decorator.args[1]))
                        for decorator in node.decorator_list
                        if isinstance(decorator, ast.Call)
                        and ast.unparse(decorator.func) == "pytest.mark.parametrize"
                    )
    return total


def every_test_but(project: Path, *left_out: str) -> list[str]:
    """A selection of every test of a generated project but ``left_out`` (``file::test``)."""
    out = []
    for file in sorted((project / "tests").rglob("test_*.py")):
        rel = file.relative_to(project).as_posix()
        names = [
            node.name
            for node in ast.parse(file.read_text(encoding="utf-8")).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
        if any(item.startswith(f"{rel}::") for item in left_out):
            out += [f"{rel}::{n}" for n in names if f"{rel}::{n}" not in left_out]
        else:
            out.append(rel)
    return out


def assert_suite_passes(
    project: Path, *selection: str, path: Sequence[Path] = (), images: bool = False
) -> None:
    """``run_suite`` succeeds, and every test that the files hold ran and passed (none
    skipped, none missing): the count comes from the files, not from a number kept here."""
    done = run_suite(project, *selection, path=path, images=images)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    expected = count_tests(project, *selection)
    assert re.match(rf"{expected} passed\b(?!.*skipped)", summary), summary


def assert_regenerates_identically(project: Path) -> None:
    """Inside a fresh project, its model and dataset regenerate byte-identical: no change."""
    before = tree_snapshot(project)
    for args in (["model", "Net"], ["dataset", "TrainingData"]):
        result = run_cli(*args, cwd=project)
        assert result.exit_code == 0, result.output
        statuses = {line.split()[0] for line in result.output.splitlines()[:3]}
        assert statuses == {"identical"}, result.output
    assert tree_snapshot(project) == before


def child_venv(path: Path) -> str:
    """A virtual environment at ``path`` that sees the packages of the interpreter running the
    tests, whatever that is (a venv, a conda env, the system Python), and returns its python.

    ``system_site_packages=True`` would show the *base* interpreter's packages, not an active
    venv's; a ``.pth`` file naming this interpreter's site directories shows exactly what the
    tests run with. Those directories' own ``.pth`` files are not processed, so an editable
    install of torchscaffold out there stays invisible: the child gets it only from what is
    installed into it.
    """
    import site
    import sysconfig
    import venv

    venv.create(path, with_pip=False)
    python = str(path / "bin" / "python")
    child_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    ours += [p for p in site.getsitepackages() if p not in ours]
    # A system interpreter's ``pip install --user`` packages (a venv has no user site).
    if site.ENABLE_USER_SITE and site.getusersitepackages() in sys.path:
        ours.append(site.getusersitepackages())
    Path(child_site, "_parent_site.pth").write_text("\n".join(ours) + "\n")
    return python


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: compare before/after to prove nothing was written."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep torchgen's caches (compiled templates, formatted output) out of the user's home."""
    import os

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session")
def torch():
    import torch

    torch.manual_seed(0)
    return torch


def assert_lint_clean(*paths: Path) -> None:
    """Generated code passes ``black --check`` and ruff's defaults plus import sorting, run with
    no configuration but their own (as in a user's fresh project)."""
    files = [str(p) for p in paths]
    black = subprocess.run(
        [sys.executable, "-m", "black", "--check", "-q", *files],
        check=False,
        capture_output=True,
        text=True,
    )
    assert black.returncode == 0, black.stderr
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--extend-select", "I", *files],
        check=False,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


@pytest.fixture(scope="session")
def datasets(tmp_path_factory, torch) -> dict[str, ModuleType]:
    """Every dataset kind, generated through the CLI once and imported."""
    from reference import torchvision_or_none
    from torchscaffold.generate.dataset import KINDS

    out = tmp_path_factory.mktemp("datasets")
    modules = KindModules()
    for kind in KINDS:
        path = out / f"{kind}_data.py"
        assert run_cli("dataset", "Data", "--kind", kind, "-o", str(path)).exit_code == 0
        if kind != "images" or torchvision_or_none() is not None:
            modules[kind] = import_file(path)
    return modules


class KindModules(dict):
    """The generated dataset modules by kind; a kind that could not be imported (images
    without torchvision) skips the test that asks for it."""

    def __missing__(self, kind: str) -> ModuleType:
        from reference import TORCHVISION_SKIP

        pytest.skip(TORCHVISION_SKIP)
