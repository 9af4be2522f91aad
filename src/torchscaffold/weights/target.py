"""The classes a conversion involves: ``--to FILE.py[:Class]`` and ``--from-class MODULE:CALLABLE``.

A class (or a factory such as ``torchvision.models:resnet18``) is found in a file or an importable
module, built with its defaults or the given keyword arguments (on the meta device for the match:
no memory, no init), and listed like a checkpoint for ``match``. Importing a file runs it: it is
the user's model, not the checkpoint, and nothing from a checkpoint is ever run.

What is called is checked before the call: an ``nn.Module`` subclass, a function of the user's
own code (the file named, or a file under the working directory), or a function declared to
return an ``nn.Module`` (a model library's builder, ``-> ResNet``). ``os:system`` is none of
these: naming a callable is not a way to run any function with ``--args``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import sysconfig
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


# The prefix of the name a file given by path is imported under (never shown to a user).
FILE_MODULE = "torchgen_convert_"


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


def source_file(text: str) -> Path | None:
    """The file ``FILE.py[:Class]`` names (an input of the command), or None for a module."""
    where, _ = split(text)
    path = Path(where)
    return path if where.endswith(".py") or "/" in where or paths.is_file(path) else None


def find(text: str) -> Factory:
    """The callable ``text`` names; a file without ``:Name`` gives its last nn.Module class."""
    where, attr = split(text)
    path = Path(where)
    if source_file(text) is not None:
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
    _check_callable(found, f"{place}:{attr}", path.parent if place.endswith(".py") else None)
    label = f"{attr} ({place})" if place.endswith(".py") else f"{place}:{attr}"
    return Factory(found, attr, label, path if place.endswith(".py") else None)


CALLABLE = (
    "torchgen calls only an nn.Module class, a function of your own code, or a function "
    "declared to return an nn.Module"
)


def _check_callable(found: Any, label: str, folder: Path | None) -> None:
    """Refuse, before any call, what is not a model's class or builder (``os:system``)."""
    from torch import nn

    if isinstance(found, type):
        if not issubclass(found, nn.Module):
            raise TorchgenError(f"{label} is not an nn.Module class; {CALLABLE}")
        return
    function = getattr(found, "__func__", found)  # a classmethod: its function
    if not inspect.isfunction(function):
        what = "a built-in function" if inspect.isbuiltin(function) else type(found).__name__
        raise TorchgenError(f"{label} is {_article(what)}; {CALLABLE}")
    if not (_own_code(function, folder) or _returns_module(function)):
        raise TorchgenError(
            f"{label} is a function of {function.__module__} that is not declared to return an "
            f"nn.Module; {CALLABLE}"
        )


def _article(what: str) -> str:
    return what if what.startswith("a ") else f"a {what}"


def _own_code(function: Any, folder: Path | None) -> bool:
    """Defined in a file under the working directory (or the named file's folder), not in the
    standard library or an installed package (a virtual environment may sit in the cwd)."""
    filename = Path(inspect.unwrap(function).__code__.co_filename)
    if not filename.is_absolute() or not paths.is_file(filename):  # "<frozen os>", "<string>"
        return False
    where = paths.resolve(filename)
    installed = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if any(p and where.is_relative_to(Path(p).resolve()) for p in installed):
        return False
    roots = [Path.cwd().resolve(), *([paths.resolve(folder)] if folder is not None else [])]
    return any(where.is_relative_to(root) for root in roots)


def _returns_module(function: Any) -> bool:
    """Its return annotation names an nn.Module subclass (a string one is looked up by its
    dotted name in the function's module, never evaluated)."""
    from torch import nn

    inner = inspect.unwrap(function)
    annotation = getattr(function, "__annotations__", {}).get("return")
    if isinstance(annotation, str):
        found: Any = inner.__globals__
        for k, part in enumerate(annotation.strip().split(".")):
            found = found.get(part) if k == 0 else getattr(found, part, None)
            if found is None:
                return False
        annotation = found
    return isinstance(annotation, type) and issubclass(annotation, nn.Module)


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
    with importable(root or path.parent), user_code(f"could not import {path}"):
        if root is not None:
            dotted = ".".join(path.relative_to(root).with_suffix("").parts)
            return importlib.import_module(dotted)
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        name = f"{FILE_MODULE}{path.stem}_{digest}"
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
        with user_code(f"could not import {name}"):
            return importlib.import_module(name)
    except TorchgenError:
        if importlib.util.find_spec(name.partition(".")[0]) is None:
            raise TorchgenError(f"no module named {name!r} (nor a file of that name)") from None
        raise


@contextlib.contextmanager
def user_code(what: str, hint: Callable[[BaseException], str] = lambda exc: "") -> Iterator[None]:
    """Whatever the user's code raises becomes one line: a SystemExit, a KeyboardInterrupt or
    another BaseException too (not ours to obey: exit 0 with nothing done, or click's
    ``Aborted!``, would hide that the command failed)."""
    try:
        yield
    except TorchgenError:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's code, any error
        said = f": {first_line(exc)}" if str(exc).strip() else ""
        from torchscaffold.torch_builds import torchvision_hint

        # A torchvision built for another torch: the fix in the same line.
        tail = f"{hint(exc)}{torchvision_hint(exc)}"
        raise TorchgenError(f"{what}: {type(exc).__name__}{said}{tail}") from None


def build(factory: Factory, kwargs: dict[str, Any], device: str, args_option: str) -> nn.Module:
    """``factory(**kwargs)`` with its tensors on ``device``; a failure is one line."""
    import torch
    from torch import nn

    def hint(exc: BaseException) -> str:
        more = f" (give its keyword arguments with {args_option} JSON)"
        return more if isinstance(exc, TypeError) else ""

    with user_code(f"could not build {factory.label}", hint), torch.device(device):
        model = factory.make(**kwargs)
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
