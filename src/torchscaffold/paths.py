"""Where a generated single-file module goes."""

from __future__ import annotations

import sys
from pathlib import Path

from torchscaffold import names
from torchscaffold.errors import TorchgenError

# `python csv.py` puts its own folder first on sys.path, so a generated file named after a module
# would import itself for `import csv` (and torch would, for the stdlib modules it imports).
SHADOWED = frozenset(sys.stdlib_module_names) | {"torch", "numpy", "torchvision", "torchgen"}


def output_file(name: str, output: Path | None) -> Path:
    """``-o`` as given, a directory's default file, or ``snake_case(NAME).py`` in the cwd."""
    default = f"{names.snake_case(name)}.py"
    if output is None:
        path = Path.cwd() / default
    elif output.is_dir() or str(output).endswith(("/", "\\")):
        path = output / default
    else:
        path = output
    if path.suffix == ".py" and path.stem in SHADOWED:
        raise TorchgenError(
            f"invalid file name {path.name!r}: it would shadow the module {path.stem!r}; "
            "choose another NAME or -o"
        )
    return path
