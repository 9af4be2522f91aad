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

from torchscaffold.errors import TorchgenError
from torchscaffold.shapes import ResolvedModel


def check_model(source: str, resolved: ResolvedModel, destination: Path | None = None) -> str:
    """Run the model in ``source`` on a random batch of 2; return a one-line report.
    ``destination``: where the file goes (its package's imports resolve as they will there).

    Whatever torch raises becomes a one-line error: the check exists to catch a prediction
    that torch disagrees with, and the user should read that, not a traceback."""
    try:
        with generated_class(source, resolved.name, destination) as cls:
            return _check(cls, resolved)
    except TorchgenError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's refusal, whatever its type
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TorchgenError(
            f"check failed: torch raised {type(exc).__name__}: {first}; nothing was written"
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
    inputs = interpret.random_inputs(resolved)
    originals = [x.clone() for x in inputs]
    with torch.no_grad():
        y = model(*inputs)
    outputs = y if isinstance(y, tuple) else (y,)
    fail = "check failed: "
    count = sum(p.numel() for p in model.parameters())
    if count != resolved.total_params:
        raise TorchgenError(
            f"{fail}{count:,} parameters, the summary predicted {resolved.total_params:,}; "
            "nothing was written"
        )
    got = [tuple(o.shape[1:]) for o in outputs]
    if got != list(resolved.output_shapes):
        raise TorchgenError(
            f"{fail}output {got}, predicted {list(resolved.output_shapes)}; nothing was written"
        )
    if any(not torch.equal(a, b) for a, b in zip(inputs, originals)):
        raise TorchgenError(f"{fail}the model wrote into its input; nothing was written")
    reference = interpret.build(resolved).eval()
    interpret.copy_parameters(model, reference)
    with torch.no_grad():
        expected = reference(*originals)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for a, b in zip(outputs, expected):
        if not torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5):
            worst = (a.float() - b.float()).abs().max().item()
            raise TorchgenError(
                f"{fail}the generated code and an independent evaluation of the description "
                f"differ (by up to {worst:.3g}); nothing was written"
            )
    shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
    return (
        f"check: ok, output {shapes}, {count:,} parameters as predicted, the same outputs as "
        "an independent evaluation"
    )
