"""A random input for ``--check`` to compare two models on.

A file made by ``torchgen model`` says what its model takes: its ``__main__`` block builds that
input (``x = torch.randn(2, 3, 32, 32)``, ``torch.randint(0, 100, (2, 16))``), read here from
the source text without running it. Any other class gets a guess from its first layer (token ids
for an Embedding, images for a Conv2d, features for a Linear), tried on the meta device first.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Example:
    """One random input: its shape (batch first) and what it holds."""

    shape: tuple[int, ...]
    kind: str = "float"  # float (standard normal) | int (in [low, high)) | bool (all True)
    low: int = 0
    high: int = 2

    def describe(self) -> str:
        dims = "x".join(map(str, self.shape))
        return dims if self.kind == "float" else f"{dims} {self.kind}"


def from_main_block(source: str, class_name: str) -> list[Example] | None:
    """The inputs a generated file's ``if __name__ == "__main__":`` block passes to
    ``class_name()``, or None where the block is not one torchgen writes."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    body = next((n.body for n in tree.body if _is_main_guard(n)), None)
    if body is None:
        return None
    examples: dict[str, Example] = {}
    model = None
    for stmt in body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
            continue
        target, value = stmt.targets[0], stmt.value
        if not isinstance(target, ast.Name):
            continue
        if _constructs(value, class_name):
            model = target.id
        elif (example := _example(value)) is not None:
            examples[target.id] = example
        elif model is not None and isinstance(value, ast.Call) and _is_name(value.func, model):
            names = [a.id for a in value.args if isinstance(a, ast.Name)]
            if len(names) != len(value.args) or not all(n in examples for n in names):
                return None
            return [examples[n] for n in names]
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and _is_name(node.test.left, "__name__")
        and len(node.test.comparators) == 1
        and isinstance(node.test.comparators[0], ast.Constant)
        and node.test.comparators[0].value == "__main__"
    )


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _constructs(node: ast.expr, class_name: str) -> bool:
    """``Net()`` or ``Net().eval()``."""
    is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    if is_call and node.func.attr == "eval" and not node.args:
        node = node.func.value
    return isinstance(node, ast.Call) and _is_name(node.func, class_name)


def _example(node: ast.expr) -> Example | None:
    """``torch.randn(2, 3)``, ``torch.randint(0, 100, (2, 16))``, ``torch.ones(2, 4,
    dtype=torch.bool)``: literal arguments only."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and _is_name(node.func.value, "torch")
    ):
        return None
    try:
        args = [ast.literal_eval(a) for a in node.args]
    except ValueError:
        return None
    keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
    dims = tuple(args)
    if node.func.attr == "randn" and not keywords and _all_ints(dims):
        return Example(dims)
    if node.func.attr == "ones" and keywords == {"dtype": "torch.bool"} and _all_ints(dims):
        return Example(dims, "bool")
    if node.func.attr == "randint" and not keywords and len(args) == 3:
        low, high, shape = args
        ints = isinstance(low, int) and isinstance(high, int) and low < high
        if ints and isinstance(shape, tuple) and _all_ints(shape):
            return Example(shape, "int", low, high)
    return None


def _all_ints(values: Sequence[object]) -> bool:
    return bool(values) and all(isinstance(v, int) and v > 0 for v in values)


def guesses(model: nn.Module) -> list[list[Example]]:
    """Inputs a model's first layer takes, most likely first (the size of an image is unknown:
    several are offered). The first layer is the first Embedding, Conv or Linear registered."""
    from torch import nn

    layers = (nn.Embedding, nn.modules.conv._ConvNd, nn.Linear)

    first = next((m for m in model.modules() if isinstance(m, layers)), None)
    if isinstance(first, nn.Embedding):
        return [[Example((2, n), "int", 0, first.num_embeddings)] for n in (16, 8, 1)]
    if isinstance(first, nn.modules.conv._ConvNd):
        dims = len(first.kernel_size)
        return [[Example((2, first.in_channels, *[s] * dims))] for s in (32, 28, 64, 224)]
    if isinstance(first, nn.Linear):
        return [[Example((2, first.in_features))]]
    return []


def runs(model: nn.Module, examples: Sequence[Example]) -> bool:
    """Whether ``model`` (on the meta device: no compute) takes these inputs."""
    import torch

    try:
        with torch.no_grad():
            model(*make(examples, device="meta"))
    except Exception:  # noqa: BLE001 - any refusal means "not this input"
        return False
    return True


def make(examples: Sequence[Example], seed: int = 0, device: str = "cpu") -> list[torch.Tensor]:
    import torch

    if device == "meta":
        dtypes = {"float": torch.float32, "int": torch.long, "bool": torch.bool}
        return [torch.empty(e.shape, dtype=dtypes[e.kind], device="meta") for e in examples]
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for e in examples:
        if e.kind == "int":
            tensors.append(torch.randint(e.low, e.high, e.shape, generator=generator))
        elif e.kind == "bool":
            tensors.append(torch.ones(e.shape, dtype=torch.bool))
        else:
            tensors.append(torch.randn(e.shape, generator=generator))
    return tensors
