"""The user's module names as names torchgen can write.

torch accepts any string as a submodule's name: nn.Sequential numbers its members (``0``, ``1``),
torchvision's RegNet calls its blocks ``block1-0``, and ``add_module("import", ...)``,
``"x y"`` or ``"1abc"`` are all legal. A generated attribute must be a snake_case identifier
that shadows nothing (a keyword, a builtin, an ``nn.Module`` method), so each part of a step's
name is mapped to the closest such name: ``block1-0`` -> ``block1_0``, ``import`` -> ``import_``,
``Conv`` -> ``conv``, a bare position ``0`` -> ``fc0`` (after what it holds), ``downs.0``
(a member of a ModuleList) -> ``downs_0``. Names that are already valid are kept, so the nested
style keeps the original's ``state_dict`` keys wherever Python can.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import replace

from torchscaffold import catalog, names
from torchscaffold.errors import TorchgenError
from torchscaffold.shapes.scope import base_name, scope_names
from torchscaffold.spec.ir import Step

_NOT_NAME = re.compile(r"[^0-9a-z_]+")


def valid(name: str) -> bool:
    """Whether ``name`` can be a generated attribute as it is."""
    return (
        re.fullmatch(r"[a-z][a-z0-9_]*", name) is not None
        and not keyword.iskeyword(name)
        and name not in names.NN_MODULE_ATTRS
        and not hasattr(builtins, name)
    )


def part(text: str, base: str) -> str:
    """One part of a module path as an attribute name; ``base`` (what the module is, ``linear``)
    leads where the text cannot (a position, a leading digit)."""
    if valid(text):
        return text
    clean = _NOT_NAME.sub("_", names.snake_case(text)).strip("_")
    if not clean:
        return base
    if clean.isdigit():
        clean = f"{base}{clean}"
    elif clean[0].isdigit():
        clean = f"{base}_{clean}"
    return clean if valid(clean) else f"{clean}_"


def path(name: str, base: str, *, dotted: bool) -> str:
    """A step's (dotted) name: each part as an attribute name; a position inside a container
    joins its owner (``downs.0`` -> ``downs_0``); ``dotted=False`` joins every part (a group's
    name is one attribute)."""
    out: list[str] = []
    for text in name.split("."):
        if out and (text.isdigit() or not dotted):
            out[-1] = part(f"{out[-1]}_{text}", base)
        else:
            out.append(part(text, base))
    return ".".join(out)


def class_name(text: str) -> str:
    """A user's class name as one torchgen can define: ``_InvertedResidual`` ->
    ``InvertedResidual``, ``conv_block`` -> ``ConvBlock``; one that clashes with a name the file
    uses or a catalog layer (a subclass of ``nn.Conv2d`` called ``Conv2d``) takes ``Block``."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w]
    name = "".join(w[0].upper() + w[1:] for w in words) or "Block"
    if name[0].isdigit():
        name = f"Block{name}"
    try:
        return names.class_name(name, what="block name", taken=frozenset(catalog.LAYERS))
    except TorchgenError:
        return f"{name}Block"


def unique(name: str, taken: set[str]) -> str:
    new, n = name, 2
    while new in taken or new.replace(".", "_") in taken:
        new, n = f"{name}{n}", n + 1
    taken.add(new)
    taken.add(new.replace(".", "_"))
    return new


def writable(steps: tuple[Step, ...] | list[Step], renamed: dict[str, str]) -> tuple[Step, ...]:
    """``steps`` with every name (and group member's) writable; ``renamed`` gets each renamed
    step's old and new name (for what refers to them: ties)."""
    # Names already valid, and those torchgen derives for unnamed steps (fc1, fc2), keep their
    # place; the others take what is left.
    taken = set(scope_names(tuple(s for s in steps if s.name is None), "the steps"))
    for step in steps:
        if step.name is not None and _kept(step):
            taken.add(step.name)
            taken.add(step.name.replace(".", "_"))
    out = []
    for step in steps:
        name = step.name
        if name is not None and not _kept(step):
            base = base_name(step) if step.kind != "group" else "group"
            name = unique(path(name, _plain(base), dotted=step.kind != "group"), taken)
            renamed[step.name] = name  # type: ignore[index]
        body = writable(step.body, {}) if step.body else step.body
        target = name if step.kind == "group" else step.target
        out.append(replace(step, name=name, target=target, body=body))
    return tuple(out)


def _kept(step: Step) -> bool:
    assert step.name is not None
    parts = step.name.split(".")
    return all(valid(p) for p in parts) and (step.kind != "group" or len(parts) == 1)


def _plain(base: str) -> str:
    return part(base, "module") if base else "module"


def ties(ties: tuple[tuple[str, str], ...], renamed: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Tied weights (``layer.weight``) under their layers' new names."""

    def one(key: str) -> str:
        layer, _, attr = key.rpartition(".")
        return f"{renamed.get(layer, layer)}.{attr}"

    return tuple((one(a), one(b)) for a, b in ties)


def origin(cls: type) -> str:
    """Where a user's class comes from, as they know it: ``torchvision.models.resnet.ResNet``,
    or ``MyCNN (models.py)`` for a class of a file given by path (imported under a name of
    torchgen's own)."""
    import os
    import sys

    from torchscaffold.weights.target import FILE_MODULE

    if cls.__module__.startswith(FILE_MODULE):
        file = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
        return f"{cls.__qualname__} ({os.path.basename(file)})" if file else cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
