"""The guarantees every description keeps, checked by running what torchgen generates from it.

For one description in every style: each file imports and runs; all of them are one network
(the same parameter shapes in the same order, the same outputs once the parameters are copied
across by position); each agrees with an independent evaluation of the description
(``torchscaffold.interpret``), including on not writing into its input; and ``torch.export``
traces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import import_file
from torchscaffold.generate.model import STYLES, ModelRequest, plan_model
from torchscaffold.shapes import ResolvedModel

VARIANTS = [(s, False) for s in STYLES] + [("sequential", True)]


def generate_all(out: Path, **request: Any) -> dict[str, tuple[Path, ResolvedModel]]:
    """The description of ``request`` (ModelRequest fields) in every style, written to ``out``."""
    generated = {}
    for style, numbered in VARIANTS:
        label = f"{style}{'_numbered' if numbered else ''}"
        req = ModelRequest(style=style, numbered=numbered, **request)
        plan, resolved = plan_model(req, out / f"{label}.py")
        plan.apply()
        generated[label] = (plan.files[0].path, resolved)
    return generated


def build(path: Path, resolved: ResolvedModel, *, empty: bool = False) -> Any:
    """The generated class built with its init, or ``empty``: allocated but not initialised
    (initialising a VGG's 132M parameters seven times was most of a test's time), for a model
    whose parameters and buffers are all copied in before use."""
    import torch

    torch.manual_seed(0)
    cls = getattr(import_file(path), resolved.name)
    if not empty:
        return cls()
    with torch.device("meta"):
        model = cls()
    shared = len(list(model.parameters()))
    model.to_empty(device="cpu")
    # to_empty gives each module its own tensor: a tied weight (GPT-2's head) comes apart.
    return model if len(list(model.parameters())) == shared else cls()


def assert_one_network(
    generated: dict[str, tuple[Path, ResolvedModel]], *, export: bool = True
) -> None:
    """Every style computes the description's function and trains (see the module docstring)."""
    import torch

    from torchscaffold import interpret

    labels = list(generated)
    _, resolved = generated[labels[0]]
    first = build(generated[labels[0]][0], resolved).eval()
    models = {labels[0]: first}
    for label in labels[1:]:
        models[label] = build(generated[label][0], resolved, empty=True).eval()
        interpret.copy_parameters(first, models[label])  # raises if the shapes differ in order
    reference = interpret.build(resolved).eval()
    interpret.copy_parameters(first, reference)
    inputs = interpret.random_inputs(resolved)
    with torch.no_grad():
        expected = _tuple(reference(*[x.clone() for x in inputs]))
    assert sum(p.numel() for p in first.parameters()) == resolved.total_params
    assert [tuple(e.shape[1:]) for e in expected] == list(resolved.output_shapes)
    for label, model in models.items():
        given = [x.clone() for x in inputs]
        with torch.no_grad():
            got = _tuple(model(*given))
        for a, b in zip(got, expected):
            assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), label
        assert all(torch.equal(a, b) for a, b in zip(given, inputs)), f"{label} wrote its input"
    if export:
        exported = torch.export.export(first, tuple(inputs))
        with torch.no_grad():
            again = _tuple(exported.module()(*[x.clone() for x in inputs]))
        for a, b in zip(again, expected):
            assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5)
    # Every style trains: forward and backward give every parameter a gradient.
    for label, model in models.items():
        out = _tuple(model.train()(*inputs))
        sum(o.float().sum() for o in out).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, f"{label}: no gradient for {missing[:5]}"


def _tuple(y: Any) -> tuple:
    return y if isinstance(y, tuple) else (y,)
