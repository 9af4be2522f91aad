"""A class's learned tensors and buffers, and its tied weights."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from torchscaffold import catalog
from torchscaffold.catalog import rules
from torchscaffold.catalog.types import (
    Dim,
)
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.shapes.resolved import RTensor
from torchscaffold.shapes.values import Val
from torchscaffold.spec.expr import Expr, Lit

if TYPE_CHECKING:
    from torchscaffold.shapes.resolver import _ClassScope

MAX_TENSOR_ELEMENTS = catalog.MAX_LAYER_PARAMS


class TensorSteps:
    """Mixed into the resolver's class scope (shapes.resolver._ClassScope)."""

    def _tensor(self: _ClassScope, t: Any) -> RTensor:
        where = f"tensor {t.name!r}"
        dims = []
        for size in t.shape:
            expr = size if isinstance(size, Expr) else Lit(size)
            value = self._eval(expr, where)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TorchgenError(f"{self.where}, {where}: sizes must be positive integers")
            dims.append(Dim(value, expr))
        numel = math.prod(d.value for d in dims)
        if numel > MAX_TENSOR_ELEMENTS:
            raise TorchgenError(f"{self.where}, {where}: {numel:,} elements is too large to build")
        if t.init == "tril" and (len(dims) < 2 or dims[-1].value != dims[-2].value):
            raise TorchgenError(f"{self.where}, {where}: a tril mask needs a square shape")
        self.ctor_exprs += [d.expr for d in dims]
        self.values[t.name] = Val(tuple(dims), "bool" if t.init == "tril" else t.dtype, True)
        if not t.buffer:
            self.params += numel
        return RTensor(
            t.name,
            tuple(d.expr for d in dims),
            t.init,
            t.std,
            t.buffer,
            t.persistent,
            numel,
            t.dtype,
        )

    def _tied(self) -> int:
        """Tied weights count once: subtract each tie's replaced weight."""
        total = 0
        layers = {}  # a layer whose tensors are another's alike (eject: a layer called twice)
        for dst, src in self.b.ties:
            (mine, _, attr), other = dst.rpartition("."), src.rpartition(".")[0]
            built, theirs = self.layers_built.get(mine), self.layers_built.get(other)
            # The same type and count (its arguments may be written otherwise: in_features).
            if attr != "weight" and built and theirs and built[::2] == theirs[::2]:
                layers[mine] = built[2]
        total += sum(layers.values())
        for dst, src in self.b.ties:
            if dst.rpartition(".")[0] in layers:
                continue
            shapes = []
            for path in (dst, src):
                layer, _, attr = path.rpartition(".")
                if layer not in self.weights or attr != "weight":
                    raise TorchgenError(
                        f"{self.where}: tie {dst} = {src}: {path!r} is not the weight of a "
                        f"Linear or Embedding step{did_you_mean(layer, list(self.weights))}"
                    )
                shapes.append(self.weights[layer])
            if shapes[0] != shapes[1]:
                raise TorchgenError(
                    f"{self.where}: tie {dst} = {src}: the weights' shapes "
                    f"{rules.fmt(shapes[0])} and {rules.fmt(shapes[1])} differ"
                )
            total += math.prod(shapes[0])
        return total
