"""``torchgen registry``: plan ``registry.py`` and ``initializers.py`` for a package."""

from __future__ import annotations

from pathlib import Path

from torchscaffold.inits import DEFAULT_SCHEME, SCHEMES, check_scheme
from torchscaffold.plan import Plan, PlannedFile
from torchscaffold.render import header, render_python

# (output file, template): the registry first, since initializers.py imports it.
FILES: tuple[tuple[str, str], ...] = (
    ("registry.py", "registry/registry.py.j2"),
    ("initializers.py", "registry/initializers.py.j2"),
)
PROJECT_FILES = (("registry.py", "project/registry.py.j2"), FILES[1])


def plan_registry(
    out_dir: Path,
    *,
    command: str = "torchgen registry",
    default_scheme: str = DEFAULT_SCHEME,
    subpackages: bool = False,
) -> Plan:
    """Render both files into ``out_dir`` (nothing is written: the plan decides that).

    ``default_scheme`` is the scheme ``initialize(module)`` applies when given none.
    ``subpackages``: a project's layout, where MODELS and DATASETS import the sibling
    ``models`` and ``data`` packages on their first lookup.
    """
    check_scheme(default_scheme)
    context = {
        "header": header(command),
        "schemes": SCHEMES,
        "default_scheme": default_scheme,
        "subpackages": subpackages,
    }
    # A project's registry is the lean one: what its own code uses, nothing more.
    files = PROJECT_FILES if subpackages else FILES
    return Plan(
        files=tuple(
            PlannedFile(Path(out_dir) / name, render_python(template, **context))
            for name, template in files
        )
    )
