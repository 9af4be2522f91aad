"""The classes a conversion involves: ``--to FILE.py[:Class]`` and ``--from-class MODULE:CALLABLE``.

A class (or a factory such as ``torchvision.models:resnet18``) is found in a file or an importable
module, built with its defaults or the given keyword arguments (on the meta device for the match:
no memory, no init), and listed like a checkpoint for ``match``. Importing a file runs it: it is
the user's model, not the checkpoint, and nothing from a checkpoint is ever run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from torchscaffold import paths
from torchscaffold.errors import TorchgenError, did_you_mean, first_line
from torchscaffold.weights.checkpoint import dtype_name
from torchscaffold.weights.match import Entry

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Factory:
    """A class or a function that returns an nn.Module."""

    make: Callable[..., Any]
    name: str  # Net, resnet18
    label: str  # what messages call it: Net (net.py), torchvision.models:resnet18
    path: Path | None = None  # the file it was found in, when given as one


def split(text: str) -> tuple[str, str | None]:
    """``net.py:Net`` -> (``net.py``, ``Net``); ``net.py`` -> (``net.py``, None)."""
    where, sep, attr = text.rpartition(":")
    if sep and where and attr and all(part.isidentifier() for part in attr.split(".")):
        return where, attr
    return text, None


def find(text: str) -> Factory:
    """The callable ``text`` names; a file without ``:Name`` gives its last nn.Module class."""
    where, attr = split(text)
    path = Path(where)
    if where.endswith(".py") or "/" in where or paths.is_file(path):
        module = import_file(path)
        place = str(path)
    else:
        module = _import_module(where)
        place = where
    if attr is None:
        classes = module_classes(module)
        if not classes:
            raise TorchgenError(f"{place} defines no nn.Module class; name one: {place}:CLASS")
        found: Any = classes[-1]
        attr = found.__name__
    else:
        found = module
        for part in attr.split("."):
            if not hasattr(found, part):
                choices = [c.__name__ for c in module_classes(module)] or [
                    n for n in dir(module) if not n.startswith("_")
                ]
                raise TorchgenError(f"{place} has no {attr!r}{did_you_mean(attr, choices)}")
            found = getattr(found, part)
    if not callable(found):
        raise TorchgenError(f"{place}:{attr} is a {type(found).__name__}, not a class")
    from torch import nn

    if isinstance(found, type) and not issubclass(found, nn.Module):
        raise TorchgenError(f"{place}:{attr} is not an nn.Module class")
    label = f"{attr} ({place})" if place.endswith(".py") else f"{place}:{attr}"
    return Factory(found, attr, label, path if place.endswith(".py") else None)


def module_classes(module: ModuleType) -> list[type]:
    """The nn.Module classes a module defines (not those it imports), in their order."""
    from torch import nn

    return [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__
    ]


def import_file(path: Path) -> ModuleType:
    """Import a Python file as ``python`` would run it: its folder (or, inside a package, the
    folder above the package) importable meanwhile, so its own imports resolve."""
    from torchscaffold.workspace import import_root, importable

    if not paths.is_file(path):
        raise TorchgenError(f"{path}: no such file")
    if path.suffix != ".py":
        raise TorchgenError(f"{path}: not a Python file (.py)")
    path = paths.resolve(path)
    root = import_root(path.parent)
    with importable(root or path.parent), _one_line(f"could not import {path}"):
        if root is not None:
            dotted = ".".join(path.relative_to(root).with_suffix("").parts)
            return importlib.import_module(dotted)
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        name = f"torchgen_convert_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look a module up by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module


def _import_module(name: str) -> ModuleType:
    if not all(part.isidentifier() for part in name.split(".")):
        raise TorchgenError(f"{name!r} is neither a Python file nor a module name")
    try:
        with _one_line(f"could not import {name}"):
            return importlib.import_module(name)
    except TorchgenError:
        if importlib.util.find_spec(name.partition(".")[0]) is None:
            raise TorchgenError(f"no module named {name!r} (nor a file of that name)") from None
        raise


@contextlib.contextmanager
def _one_line(what: str) -> Iterator[None]:
    """Whatever the user's code raises becomes one line (a SystemExit too: not ours to obey)."""
    try:
        yield
    except TorchgenError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's code, any error
        from torchscaffold.torch_builds import torchvision_hint

        hint = torchvision_hint(exc)  # a torchvision built for another torch: the fix
        raise TorchgenError(f"{what}: {type(exc).__name__}: {first_line(exc)}{hint}") from None


def build(factory: Factory, kwargs: dict[str, Any], device: str, args_option: str) -> nn.Module:
    """``factory(**kwargs)`` with its tensors on ``device``; a failure is one line."""
    import torch
    from torch import nn

    hint = f" (give its keyword arguments with {args_option} JSON)"
    try:
        with torch.device(device):
            model = factory.make(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's constructor, any error
        more = hint if isinstance(exc, TypeError) else ""
        raise TorchgenError(
            f"could not build {factory.label}: {type(exc).__name__}: {first_line(exc)}{more}"
        ) from None
    if not isinstance(model, nn.Module):
        raise TorchgenError(f"{factory.label} returned a {type(model).__name__}, not an nn.Module")
    return model


def entries(model: nn.Module, label: str) -> list[Entry]:
    """The target's listing for ``match``: tied keys (one Parameter) share a slot."""
    import torch

    slots: dict[int, int] = {}
    found = []
    for key, tensor in model.state_dict(keep_vars=True).items():
        if not isinstance(tensor, torch.Tensor):
            raise TorchgenError(
                f"{label} keeps a {type(tensor).__name__} under {key!r} in its state_dict; "
                "convert moves tensors only"
            )
        owner = model.get_submodule(key.rpartition(".")[0])
        named = type(owner).__module__.startswith("torch.nn.")
        slot = slots.setdefault(id(tensor), len(slots))
        found.append(Entry(key, tuple(tensor.shape), dtype_name(tensor.dtype), slot, named))
    return found
