"""``--check``: import a generated model with torch, run it, and compare it with the
prediction and with a second, independent evaluation of the description.

The only part of the generator that imports torch, and only when asked.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchscaffold.errors import TorchgenError, first_line
from torchscaffold.shapes import ResolvedModel, resolve
from torchscaffold.spec.ir import Model
from torchscaffold.spec.options import with_default

if TYPE_CHECKING:
    from torch import nn

# A changed argument's model runs (forward, outputs compared) up to this many parameters; a
# bigger one is built on the meta device and compared by its tensors' and outputs' shapes: the
# check stays a matter of seconds for a ViT or a GPT-2 as for a small CNN.
RUN_BUDGET = 2_000_000


def check_model(
    source: str,
    resolved: ResolvedModel,
    destination: Path | None = None,
    description: Model | None = None,
) -> str:
    """Run the model in ``source`` on a random batch of 2; return a one-line report.
    ``destination``: where the file goes (its package's imports resolve as they will there).
    ``description``: the model's IR; given, the class is also built with each constructor
    argument changed (``changed_arguments``) and compared with the description at that value.

    Whatever torch raises becomes a one-line error: the check exists to catch a prediction
    that torch disagrees with, and the user should read that, not a traceback."""
    try:
        with generated_class(source, resolved.name, destination) as cls:
            report = _check(cls, resolved)
            if description is not None:
                report += _check_arguments(cls, description)
            return report
    except TorchgenError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's refusal, whatever its type
        raise TorchgenError(
            f"check failed: torch raised {type(exc).__name__}: {first_line(exc)}; nothing was written"
        ) from None


@contextlib.contextmanager
def generated_class(source: str, name: str, destination: Path | None = None) -> Iterator[type]:
    """The class ``name`` of a generated file, imported from a temporary copy, while the
    block runs; inside a package at ``destination`` (a project's models/), the package's own
    imports resolve, and the modules of it they import are forgotten afterwards: a check
    leaves the process as it found it (a later ``torchgen new proj`` there must not see
    ``proj``)."""
    from torchscaffold.workspace import import_root, importable

    root = import_root(destination.parent) if destination is not None else None
    where = importable(root) if root is not None else contextlib.nullcontext()
    before = set(sys.modules)
    with tempfile.TemporaryDirectory() as tmp, where:
        path = Path(tmp) / "torchgen_check.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("torchgen_check", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["torchgen_check"] = module
        try:
            spec.loader.exec_module(module)
            yield getattr(module, name)
        finally:
            sys.modules.pop("torchgen_check", None)
            for imported in set(sys.modules) - before:
                file = getattr(sys.modules[imported], "__file__", None)
                if root is not None and file and Path(file).is_relative_to(root):
                    del sys.modules[imported]


def _check(cls: type, resolved: ResolvedModel) -> str:
    import torch

    from torchscaffold import interpret

    torch.manual_seed(0)
    model = cls().eval()
    reference = interpret.build(resolved).eval()
    try:
        outputs = _compare(model, reference, resolved, "check failed: ", "the summary predicted")
    except _DescriptionFails as exc:  # at the defaults, as much a failure as the class's own
        raise exc.__cause__ from None  # type: ignore[misc]
    shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
    return (
        f"check: ok, output {shapes}, {resolved.total_params:,} parameters as predicted, the "
        "same outputs as an independent evaluation"
    )


def changed_arguments(model: Model) -> list[tuple[str, Any]]:
    """The arguments ``--check`` builds the class with besides its defaults, one changed at a
    time: each integer parameter one more and twice as much (a width that must divide or be
    even gets a chance), each flag flipped, each integer of a tuple (stage depths) one more."""
    changed: list[tuple[str, Any]] = []
    for name, default in model.main.params:
        if isinstance(default, bool):
            changed.append((name, not default))
        elif isinstance(default, int):
            changed += [
                (name, v) for v in dict.fromkeys((default + 1, 2 * default)) if v != default
            ]
        elif isinstance(default, tuple) and default and all(_is_int(x) for x in default):
            changed += [
                (name, (*default[:i], x + 1, *default[i + 1 :])) for i, x in enumerate(default)
            ]
    return changed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_arguments(cls: type, description: Model) -> str:
    """The class built at each of ``changed_arguments`` equals the description evaluated there:
    the same tensors in the same order and, where it is small enough to run, the same outputs.
    A value the description itself refuses is skipped: there is nothing to compare with."""
    ran: list[str] = []
    built: list[str] = []
    big = set()  # parameters of a big model already compared: one value each (a meta forward)
    for name, value in changed_arguments(description):
        if name in big:
            continue
        try:
            resolved = resolve(with_default(description, name, value))
        except TorchgenError:
            continue
        argument = f"{name}={value!r}"
        small = resolved.total_params <= RUN_BUDGET
        fail = f"check failed: {description.name}({argument}): "
        try:
            if _same_at(cls, {name: value}, resolved, fail, run=small):
                (ran if small else built).append(argument)
                if not small:
                    big.add(name)
        except TorchgenError:
            raise
        except Exception as exc:  # noqa: BLE001 - the class refuses what the description takes
            raise TorchgenError(
                f"{fail}torch raised {type(exc).__name__}: {first_line(exc)}; nothing was written"
            ) from None
    parts = []
    if ran:
        parts.append(f"the same at {', '.join(ran)}")
    if built:
        parts.append(
            f"the same tensors and output shapes at {', '.join(built)} (on the meta device: "
            "too big to run here)"
        )
    return "; " + "; ".join(parts) if parts else ""


def _same_at(
    cls: type, arguments: dict[str, Any], resolved: ResolvedModel, fail: str, *, run: bool
) -> bool:
    """Whether ``cls(**arguments)`` could be compared with ``resolved`` (False where the
    description fails in torch at these arguments); raises where they differ. Without ``run``,
    both are built on the meta device: tensors without data, output shapes without values."""
    import torch

    from torchscaffold import interpret

    torch.manual_seed(0)
    with torch.device("cpu" if run else "meta"):
        try:
            reference = interpret.build(resolved).eval()
        except Exception:  # noqa: BLE001 - torch refuses the description itself here
            return False
        model = cls(**arguments).eval()
    _same_tensors(model, reference, fail)
    try:
        if run:
            _compare(model, reference, resolved, fail, "the description predicts")
        else:
            _same_output_shapes(model, reference, resolved, fail)
    except _DescriptionFails:
        return False
    return True


def _same_output_shapes(
    model: nn.Module, reference: nn.Module, resolved: ResolvedModel, fail: str
) -> None:
    """On the meta device: where the description's evaluation runs (torch has a meta kernel for
    each of its layers), the model runs too and gives outputs of the predicted shapes."""
    import torch

    from torchscaffold import interpret

    inputs = [x.to("meta") for x in interpret.random_inputs(resolved)]
    try:
        with torch.no_grad():
            reference(*inputs)
    except Exception as exc:
        raise _DescriptionFails from exc
    with torch.no_grad():
        got = [tuple(o.shape[1:]) for o in _tuple(model(*inputs))]
    if got != list(resolved.output_shapes):
        raise TorchgenError(
            f"{fail}output {got}, predicted {list(resolved.output_shapes)}; nothing was written"
        )


def _same_tensors(model: nn.Module, reference: nn.Module, fail: str) -> None:
    for kind in ("parameters", "buffers"):
        got = [tuple(t.shape) for t in getattr(model, kind)()]
        expected = [tuple(t.shape) for t in getattr(reference, kind)()]
        if got == expected:
            continue
        if len(got) != len(expected):
            detail = f"{len(got)} {kind}, the description {len(expected)}"
        else:
            i, (a, b) = next((i, ab) for i, ab in enumerate(zip(got, expected)) if ab[0] != ab[1])
            detail = f"its {kind[:-1]} #{i} is {a}, the description's {b}"
        raise TorchgenError(f"{fail}{detail}; nothing was written")


class _DescriptionFails(Exception):
    """The independent evaluation of the description raised: at changed arguments, the
    description does not hold there (nothing to compare with); at the defaults, a failure."""


def _compare(
    model: nn.Module, reference: nn.Module, resolved: ResolvedModel, fail: str, predicted: str
) -> tuple[Any, ...]:
    """Compare ``model`` with ``resolved`` (its count and output shapes) and with
    ``reference``, its independent evaluation, on the same inputs; the model's outputs."""
    import torch

    from torchscaffold import interpret

    count = sum(p.numel() for p in model.parameters())
    if count != resolved.total_params:
        raise TorchgenError(
            f"{fail}{count:,} parameters, {predicted} {resolved.total_params:,}; "
            "nothing was written"
        )
    interpret.copy_parameters(model, reference)
    inputs = interpret.random_inputs(resolved)
    originals = [x.clone() for x in inputs]
    try:
        with torch.no_grad():
            expected = _tuple(reference(*[x.clone() for x in inputs]))
    except Exception as exc:
        raise _DescriptionFails from exc
    with torch.no_grad():
        outputs = _tuple(model(*inputs))
    got = [tuple(o.shape[1:]) for o in outputs]
    if got != list(resolved.output_shapes):
        raise TorchgenError(
            f"{fail}output {got}, predicted {list(resolved.output_shapes)}; nothing was written"
        )
    if any(not torch.equal(a, b) for a, b in zip(inputs, originals)):
        raise TorchgenError(f"{fail}the model wrote into its input; nothing was written")
    for a, b in zip(outputs, expected):
        if not torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5):
            worst = (a.float() - b.float()).abs().max().item()
            raise TorchgenError(
                f"{fail}the generated code and an independent evaluation of the description "
                f"differ (by up to {worst:.3g}); nothing was written"
            )
    return outputs


def _tuple(y: Any) -> tuple[Any, ...]:
    return y if isinstance(y, tuple) else (y,)
