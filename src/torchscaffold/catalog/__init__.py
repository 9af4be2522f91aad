"""What torchgen knows of torch: layers (``nn.Module`` classes) and ops (tensor functions), each
one entry with its arguments, shape rule, parameter count and roles. See ``types`` for what an
entry holds, ``rules`` for the shape maths, ``values`` for the value checks."""

from __future__ import annotations

from torchscaffold.catalog.layers import LAYERS
from torchscaffold.catalog.ops import OPS, functional_ops
from torchscaffold.catalog.types import Arg, Dim, Dims, LayerType, OpType, ShapeError
from torchscaffold.catalog.values import (
    EXPR_KINDS,
    INT64_MAX,
    MAX_LAYER_PARAMS,
    MAX_SAMPLE_ELEMENTS,
    check_limits,
    check_value,
)
from torchscaffold.errors import unknown

# The functional forms of parameter-free layers are ops too (``relu``, ``max_pool2d``); an op
# defined in ops.py wins over a functional of the same name.
ALL_OPS: dict[str, OpType] = {**functional_ops(LAYERS), **OPS}


def layer(name: str) -> LayerType:
    try:
        return LAYERS[name]
    except KeyError:
        raise unknown("layer type", name, LAYERS) from None


def op(name: str) -> OpType:
    try:
        return ALL_OPS[name]
    except KeyError:
        raise unknown("op", name, ALL_OPS) from None


def functional_layer(op_name: str) -> LayerType | None:
    """The layer whose functional form ``op_name`` is (``relu`` -> ReLU), if any."""
    for entry in LAYERS.values():
        if entry.functional and entry.functional.rsplit(".", 1)[1] == op_name:
            return entry
    return None


__all__ = [
    "ALL_OPS",
    "EXPR_KINDS",
    "INT64_MAX",
    "LAYERS",
    "MAX_LAYER_PARAMS",
    "MAX_SAMPLE_ELEMENTS",
    "OPS",
    "Arg",
    "Dim",
    "Dims",
    "LayerType",
    "OpType",
    "ShapeError",
    "check_limits",
    "check_value",
    "functional_layer",
    "layer",
    "op",
]
