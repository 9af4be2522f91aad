"""The ``torchgen dataset`` pipeline: (name, kind) -> rendered, formatted text -> plan.

Each kind is one template under ``templates/data/``; what the kinds share (the DataLoader builder,
worker seeding, the distributed samplers, the demo) lives in ``templates/data/_common.j2``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from torchscaffold import names
from torchscaffold.errors import TorchgenError, unknown
from torchscaffold.plan import Plan, PlannedFile
from torchscaffold.render import header, refuse_rebound, render_python

KINDS: dict[str, str] = {
    "tensor": "in-memory arrays: NAME(inputs, targets)",
    "csv": "numeric CSV columns as float32 tensors: NAME(path, target='label', features=None)",
    "files": "root/<class_name>/<file>, labelled by folder: NAME(root), override load(path)",
    "images": "image files by class folder or labels CSV, torchvision transforms: "
    "NAME(root, labels=None)",
    "iterable": "IterableDataset over JSON Lines shards, split by rank and worker: NAME(shards)",
    "sequence": "variable-length token sequences with a padding collate: NAME(sequences)",
}

# The image files the images kind indexes and a project's predict reads: what Pillow decodes.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def command_line(name: str, kind: str) -> str:
    """The canonical command for the header: no argv, no paths, so output is reproducible."""
    return f"torchgen dataset {name} --kind {kind}"


def validate(name: str, kind: str, registry_module: str | None = None) -> None:
    names.class_name(name, what="dataset name")
    if kind not in KINDS:
        raise unknown("kind", kind, KINDS)
    if registry_module is not None and not _DOTTED.match(registry_module):
        raise TorchgenError(
            f"invalid registry module {registry_module!r}: use a dotted module path"
        )


def render_dataset(
    name: str,
    kind: str,
    *,
    filename: str,
    registry_module: str | None = None,
    loader_module: str | None = None,
) -> str:
    """The formatted source of one dataset file."""
    validate(name, kind, registry_module)
    source = render_python(
        f"data/{kind}.py.j2",
        header=header(command_line(name, kind)),
        name=name,
        filename=filename,
        registry_module=registry_module,
        loader_module=loader_module,
        import_block=import_block,
        image_extensions=IMAGE_EXTENSIONS,
    )
    refuse_rebound(name, (source,), "dataset name")
    return source


def plan_dataset(
    name: str,
    kind: str,
    path: Path,
    *,
    registry_module: str | None = None,
    loader_module: str | None = None,
) -> Plan:
    """Render the file for ``path`` (already chosen by ``paths.output_file``) in memory;
    nothing touches the disk here.

    With ``registry_module`` (e.g. ``"my_proj.registry"``) the class is decorated with
    ``@DATASETS.register()`` imported from it; without, the file stands alone. With
    ``loader_module`` (a project's ``data/loader.py``) the file holds the dataset class
    and imports the loader code from there; without, it carries its own.
    """
    validate(name, kind, registry_module)
    text = render_dataset(
        name,
        kind,
        filename=path.name,
        registry_module=registry_module,
        loader_module=loader_module,
    )
    return Plan((PlannedFile(path, text),))


# -- imports ---------------------------------------------------------------------------------------
# Templates list the import lines they need; the shared macros add theirs. Sorting them here, the
# way ruff's isort rules do (sections; ``import x`` before ``from x import``; members constants,
# classes, then the rest), keeps every kind's import block correct without one hand-sorted copy
# per kind.


def import_block(lines: Iterable[str], first_party: Iterable[str] = ()) -> str:
    """Merge, deduplicate and sort import lines into isort-style sections."""
    first = {m.split(".")[0] for m in first_party}
    straight: dict[str, set[str]] = {}  # section -> "import x [as y]" lines
    froms: dict[str, dict[str, set[str]]] = {}  # section -> module -> members
    for line in lines:
        words = line.split()
        module = words[1]
        section = _section(module, first)
        if words[0] == "import":
            straight.setdefault(section, set()).add(" ".join(words))
        elif words[0] == "from" and words[2] == "import":
            members = " ".join(words[3:]).split(",")
            froms.setdefault(section, {}).setdefault(module, set()).update(
                m.strip() for m in members
            )
        else:  # pragma: no cover - a template bug
            raise ValueError(f"not an import line: {line!r}")
    blocks = []
    for section in ("future", "stdlib", "thirdparty", "firstparty"):
        out = sorted(straight.get(section, ()), key=lambda s: _module_key(s.split()[1]))
        for module in sorted(froms.get(section, {}), key=_module_key):
            members = sorted(froms[section][module], key=_member_key)
            out.append(f"from {module} import {', '.join(members)}")
        if out:
            blocks.append("\n".join(out))
    return "\n\n".join(blocks)


def _section(module: str, first_party: set[str]) -> str:
    top = module.split(".")[0]
    if top == "__future__":
        return "future"
    if top in first_party:
        return "firstparty"
    return "stdlib" if top in sys.stdlib_module_names else "thirdparty"


def _module_key(module: str) -> tuple[str, str]:
    return module.lower(), module


def _member_key(member: str) -> tuple[int, str, str]:
    name = member.split()[0]
    if name.isupper() and len(name) > 1:
        rank = 0
    elif name[:1].isupper():
        rank = 1
    else:
        rank = 2
    return rank, name.lower(), name
