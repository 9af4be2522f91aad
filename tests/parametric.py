"""Helpers of the parametric tests (test_parametric, test_parametric_presets): a description
generated in a style through the generator's own pipeline, and the comparison that says two
modules are one network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from network import VARIANTS
from torchscaffold.check import generated_class
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.model import ModelRequest, render_model
from torchscaffold.shapes import ResolvedModel, resolve
from torchscaffold.spec.ir import Model
from torchscaffold.spec.loader import parse_spec
from torchscaffold.spec.options import finalize, with_default

ISSUE_15 = "issue 15: an inferred size is written as the default's number, not an expression"


def variant(style: str, numbered: bool) -> str:
    return f"{style}{'_numbered' if numbered else ''}"


def cases(subjects: Any, known: set[tuple[str, str]]) -> list[Any]:
    """``(subject, style, numbered)`` for every subject in every style, those in ``known``
    (``(subject, variant)``, ``"*"`` for every one) expected to fail until issue 15 lands."""
    xfail = pytest.mark.xfail(reason=ISSUE_15, strict=False)
    return [
        pytest.param(
            subject,
            style,
            numbered,
            id=f"{subject}-{variant(style, numbered)}",
            marks=[xfail] if {(subject, "*"), (subject, variant(style, numbered))} & known else [],
        )
        for subject in subjects
        for style, numbered in VARIANTS
    ]


def described(spec: dict[str, Any], name: str = "Net") -> Model:
    return finalize(parse_spec(spec, name))


def generated(model: Model, style: str, numbered: bool = False) -> tuple[str, ResolvedModel]:
    """The source of ``model`` in a style (through the generator's own pipeline)."""
    resolved = resolve(model)
    req = ModelRequest(model.name, style=style, numbered=numbered)
    return render_model(resolved, req, path=Path("net.py")), resolved


def tensor_shapes(module: Any) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in (*module.parameters(), *module.buffers())]


def assert_same_network(got: Any, expected: Any, resolved: ResolvedModel, label: str) -> None:
    """``got`` and ``expected`` hold tensors of the same shapes in the same order and, with
    ``got``'s copied into ``expected``, compute the same outputs, of the shapes ``resolved``
    predicts."""
    import torch

    from torchscaffold import interpret

    assert tensor_shapes(got) == tensor_shapes(expected), label
    interpret.copy_parameters(got, expected)
    inputs = interpret.random_inputs(resolved)
    with torch.no_grad():
        a = got.eval()(*[x.clone() for x in inputs])
        b = expected.eval()(*[x.clone() for x in inputs])
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    assert [tuple(x.shape[1:]) for x in a] == list(resolved.output_shapes), label
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=1e-4, atol=1e-5), label


def assert_builds_at(
    cls: type, model: Model, style: str, numbered: bool, name: str, value: Any
) -> None:
    """``cls(name=value)`` (``cls`` generated from ``model``) is the network of the description
    whose default is ``value``, as generated in the same style and as evaluated independently;
    nothing to compare where the description itself refuses ``value``."""
    import torch

    from torchscaffold import interpret

    try:
        source, resolved = generated(with_default(model, name, value), style, numbered)
    except TorchgenError:
        return
    label = f"{model.name}({name}={value!r}) in {variant(style, numbered)}"
    torch.manual_seed(0)
    got = cls(**{name: value})
    with generated_class(source, model.name) as at_value:
        assert_same_network(got, at_value(), resolved, label)
    assert_same_network(got, interpret.build(resolved), resolved, label)
