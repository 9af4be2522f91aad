"""``convert --check``: the converted weights load with ``strict=True``, and the target computes
what the source class computes with the original weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torchscaffold.errors import TorchgenError, first_line
from torchscaffold.weights import inputs
from torchscaffold.weights.target import Factory, build

if TYPE_CHECKING:
    import torch
    from torch import nn

# Outputs agree when every element is within these of the source's (the same function computed
# by other code may round differently; the generated styles usually agree exactly).
RTOL, ATOL = 1e-4, 1e-5


@dataclass(frozen=True)
class Built:
    """A class to build for real, with its arguments and the weights it gets."""

    factory: Factory
    kwargs: Mapping[str, Any]
    args_option: str  # --args / --from-args: named in a build error's hint
    state: Mapping[str, torch.Tensor]

    def load(self, what: str) -> nn.Module:
        model = build(self.factory, dict(self.kwargs), "cpu", self.args_option).eval()
        try:
            model.load_state_dict(self.state, strict=True)
        except RuntimeError as exc:
            reasons = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
            raise TorchgenError(
                f"check failed: {what} do not load into {self.factory.label} with strict=True "
                f"({(reasons or [first_line(exc)])[0].rstrip('.')})"
            ) from None
        return model


def check(target: Built, source: Built | None, examples: Sequence[inputs.Example] | None) -> str:
    """Load, run and compare; return a one-line report or raise a one-line error."""
    import torch

    model = target.load("the converted weights")
    name = target.factory.label
    loaded = f"check: ok, the converted weights load into {name} with strict=True"
    if source is None:
        return loaded
    if examples is None:
        raise TorchgenError(
            f"check failed: cannot tell what input {target.factory.label} takes, to compare "
            "it with the source class"
        )
    reference = source.load("the checkpoint's weights")
    batch = inputs.make(examples)
    with torch.no_grad():
        try:
            got = _tensors(model(*[x.clone() for x in batch]))
            expected = _tensors(reference(*[x.clone() for x in batch]))
        except BaseException as exc:  # noqa: BLE001 - torch or the user's forward, any error
            raise TorchgenError(
                f"check failed: torch raised {type(exc).__name__}: {first_line(exc)}"
            ) from None
    shapes = [tuple(t.shape) for t in got], [tuple(t.shape) for t in expected]
    if shapes[0] != shapes[1]:
        raise TorchgenError(
            f"check failed: {target.factory.label} outputs {_shapes(shapes[0])}, "
            f"{source.factory.label} {_shapes(shapes[1])}"
        )
    worst = max((_difference(a, b) for a, b in zip(got, expected)), default=0.0)
    if not all(
        torch.allclose(a.double(), b.double(), rtol=RTOL, atol=ATOL) for a, b in zip(got, expected)
    ):
        raise TorchgenError(
            f"check failed: {target.factory.label} and {source.factory.label} compute different "
            f"outputs (by up to {worst:.3g}) on the same random input"
        )
    on = ", ".join(e.describe() for e in examples)
    return (
        f"{loaded} and compute what {source.factory.label} computes with the checkpoint "
        f"(random input {on}, largest difference {worst:.3g})"
    )


def _tensors(output: Any) -> list[torch.Tensor]:
    """The tensors of an output: a tensor, or tuples, lists and dicts of them."""
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


def _difference(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.numel() == 0:
        return 0.0
    return (a.double() - b.double()).abs().max().item()


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join(map(str, shapes)) or "no tensor"
