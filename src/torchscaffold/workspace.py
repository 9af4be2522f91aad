"""Find a scaffolded project around the cwd, read its ``[tool.torchgen]`` table, and wire new
modules into its packages.

A project is the nearest directory, from the cwd up, whose ``pyproject.toml`` has a
``[tool.torchgen]`` table. The table records the options ``torchgen new`` was given; they are
the defaults of the commands run inside the project. Nothing here imports torch or renders.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from torchscaffold import __version__, names, paths
from torchscaffold.errors import TorchgenError, unknown
from torchscaffold.formatter import LINE_LENGTH  # black's default, which generated code follows

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PYPROJECT = "pyproject.toml"
NO_INIT = "none"  # [tool.torchgen] init = "none": models get no init_weights()


@dataclass(frozen=True)
class Settings:
    """The ``[tool.torchgen]`` table: what ``torchgen new`` was asked, in this order."""

    package: str
    style: str = "explicit"
    preset: str = "tiny"
    kind: str = "tensor"
    init: str = "kaiming"
    model: str = "Net"
    dataset: str = "TrainingData"
    precision: str = "fp32"
    strategy: str = "ddp"
    loss: str = "cross_entropy"
    trainer: str = "plain"
    version: str = __version__

    def items(self) -> list[tuple[str, str]]:
        """``(key, value)`` pairs for the generated table, the version first."""
        pairs = [(f.name, getattr(self, f.name)) for f in fields(self)]
        return pairs[-1:] + pairs[:-1]

    @property
    def init_scheme(self) -> str | None:
        return None if self.init == NO_INIT else self.init


KEYS = tuple(f.name for f in fields(Settings))


@dataclass(frozen=True)
class Project:
    root: Path
    settings: Settings

    @property
    def package(self) -> str:
        return self.settings.package

    @property
    def package_dir(self) -> Path:
        return self.root / "src" / self.package

    @property
    def models_dir(self) -> Path:
        return self.package_dir / "models"

    @property
    def data_dir(self) -> Path:
        return self.package_dir / "data"

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    def registries(self, *, planned: bool = False) -> Registries | None:
        """The package's ``registry.py`` (and ``initializers.py``): on disk, or ``planned``
        by ``torchgen new`` in the same change."""
        registry = self.package_dir / "registry.py"
        if not (planned or registry.is_file()):
            return None
        initializers = planned or (self.package_dir / "initializers.py").is_file()
        return Registries(
            f"{self.package}.registry", f"{self.package}.initializers" if initializers else None
        )


def find_project(start: Path | None = None) -> Project | None:
    """The project around ``start`` (default: the cwd), or None outside any project.

    A ``pyproject.toml`` without ``[tool.torchgen]`` is passed over (a plain Python project can
    sit inside a scaffolded one, or the other way round); one with a broken table is an error.
    """
    here = paths.resolve(start or Path.cwd())
    for directory in (here, *here.parents):
        pyproject = directory / PYPROJECT
        if not paths.is_file(pyproject):
            continue
        table = _torchgen_table(pyproject)
        if table is not None:
            return Project(directory, read_settings(table, pyproject))
    return None


def _torchgen_table(pyproject: Path) -> dict[str, Any] | None:
    text = paths.read_text(pyproject, "project file")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        if "torchgen" not in text:  # somebody else's broken file: not ours to judge
            return None
        reason = "nested too deeply" if isinstance(exc, RecursionError) else f"invalid TOML: {exc}"
        raise TorchgenError(f"{pyproject}: {reason}") from None
    table = data.get("tool", {}).get("torchgen") if isinstance(data.get("tool"), dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise TorchgenError(f"{pyproject}: [tool.torchgen] must be a table")
    return table


def setting_choices() -> dict[str, Any]:
    """The values each choice of ``[tool.torchgen]`` (and of ``torchgen new``) may take."""
    from torchscaffold.generate.dataset import KINDS
    from torchscaffold.generate.model import STYLES
    from torchscaffold.inits import SCHEMES
    from torchscaffold.spec.presets import PRESETS
    from torchscaffold.train_schema import LOSSES, PRECISIONS, STRATEGIES, TRAINERS

    return {
        "style": STYLES,
        "preset": PRESETS,
        "kind": KINDS,
        "init": [*SCHEMES, NO_INIT],
        "precision": PRECISIONS,
        "strategy": STRATEGIES,
        "loss": LOSSES,
        "trainer": TRAINERS,
    }


def read_settings(table: dict[str, Any], pyproject: Path) -> Settings:
    """Validate the table: known keys, string values, names and choices that exist."""
    where = f"{pyproject}: [tool.torchgen]"
    for key, value in table.items():
        if key not in KEYS:
            raise TorchgenError(f"{where}: {unknown('key', key, KEYS)}")
        if not isinstance(value, str):
            raise TorchgenError(f"{where}: {key} must be a string, not {value!r}")
    if "package" not in table:
        raise TorchgenError(f"{where}: no package key (the package under src/)")
    choices = setting_choices()
    try:
        names.package_name(table["package"])
        for key, options in choices.items():
            if key in table and table[key] not in options:
                raise unknown(key, table[key], options)
        for key in ("model", "dataset"):
            if key in table:
                names.class_name(table[key], what=f"{key} name")
    except TorchgenError as exc:
        raise TorchgenError(f"{where}: {exc}") from None
    settings = Settings(**table)
    package_dir = pyproject.parent / "src" / settings.package
    if not package_dir.is_dir():
        raise TorchgenError(f"{where}: package {settings.package!r} but no {package_dir}")
    return settings


# -- wiring a module into its package's __init__.py ------------------------------------------------


def import_line(module: str, name: str) -> str:
    """The line that imports ``name`` from a sibling module (and so runs its registration).

    ``X as X`` marks a re-export (PEP 484), so linters keep the otherwise unused import.
    A line too long for black is wrapped the way black wraps it.
    """
    line = f"from .{module} import {name} as {name}"
    if len(line) <= LINE_LENGTH:
        return line
    return f"from .{module} import (\n    {name} as {name},\n)"


def wire_import(source: str, module: str, name: str, *, path: Path) -> str:
    """``source`` with ``import_line(module, name)`` added; unchanged if the package already
    imports it (or the whole module). Other lines, the user's included, are kept as they are.

    The new line goes among the relative imports in isort's order (so ruff stays quiet), or
    after the last import, or after the docstring.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise TorchgenError(
            f"{path}: cannot add an import to it: line {exc.lineno}: {exc.msg}"
        ) from None
    relatives = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 1]
    for node in relatives:
        imported = {alias.name for alias in node.names}
        if (node.module == module and name in imported) or (
            node.module is None and module in imported
        ):
            return source
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    new = [import_line(module, name) + "\n"]
    if relatives:
        later = [n for n in relatives if _module_key(n.module) > _module_key(module)]
        if later:
            at = later[0].lineno - 1
        else:
            at = _end(relatives[-1])
    else:
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        docstring = _docstring(tree)
        if imports:
            at, new = _end(imports[-1]), ["\n", *new]  # a section of its own
        elif docstring is not None:
            at, new = _end(docstring), ["\n", *new]
        else:
            at = 0
        if at < len(lines) and lines[at].strip():
            new.append("\n")  # keep code after the imports apart from them
    return "".join(lines[:at] + new + lines[at:])


def _module_key(module: str | None) -> list[str | int]:
    """ruff's isort order: ``from . import x`` first, then by module, case-insensitive and
    natural (``.net2`` before ``.net10``); runs of digits alternate with the rest."""
    parts = re.split(r"(\d+)", (module or "").lower())
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


def _end(node: ast.stmt) -> int:
    """The index of the line after ``node`` (its closing parenthesis included)."""
    return node.end_lineno or node.lineno


def _docstring(tree: ast.Module) -> ast.stmt | None:
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


# -- finding where a generated module belongs ------------------------------------------------------


def dotted_package(directory: Path) -> str | None:
    """The import name of ``directory`` if it is a package (``__init__.py`` up the tree)."""
    parts: list[str] = []
    directory = paths.resolve(directory)
    while (directory / "__init__.py").is_file():
        parts.append(directory.name)
        directory = directory.parent
    return ".".join(reversed(parts)) or None


def import_root(directory: Path) -> Path | None:
    """The folder to put on ``sys.path`` to import the package ``directory`` is in."""
    directory = paths.resolve(directory)
    if not (directory / "__init__.py").is_file():
        return None
    while (directory / "__init__.py").is_file():
        directory = directory.parent
    return directory


@contextlib.contextmanager
def importable(folder: Path) -> Iterator[None]:
    """``folder`` on ``sys.path`` meanwhile: what a file there imports resolves as it will
    when it runs (a registered model's ``from my_proj.registry import MODELS``)."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


@dataclass(frozen=True)
class Registries:
    """A ``registry.py`` (and maybe ``initializers.py``) found for a package being generated into."""

    module: str  # e.g. "my_proj.registry"
    initializers: str | None  # e.g. "my_proj.initializers", when that file sits beside it


def find_registries(directory: Path) -> Registries | None:
    """``registry.py`` in ``directory`` or in a package above it, while they are packages.

    Plain directories (no ``__init__.py``) get nothing: their imports would depend on
    ``sys.path``, and the generated file stays self-contained.
    """
    directory = paths.resolve(directory)
    while (directory / "__init__.py").is_file():
        if (directory / "registry.py").is_file():
            package = dotted_package(directory)
            assert package is not None
            initializers = (directory / "initializers.py").is_file()
            return Registries(
                f"{package}.registry", f"{package}.initializers" if initializers else None
            )
        directory = directory.parent
    return None


_CLASS = "^class {}\\b"


def defines_class(source: str, name: str) -> bool:
    """Whether ``source`` defines a top-level class ``name`` (a cheap text check)."""
    return re.search(_CLASS.format(re.escape(name)), source, re.MULTILINE) is not None
