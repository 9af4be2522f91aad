"""Apply the command line's size options to a description and fix its input parameter."""

from __future__ import annotations

import math
from dataclasses import replace

from torchscaffold.errors import TorchgenError
from torchscaffold.layers import CATALOG, INT64_MAX, MAX_SAMPLE_ELEMENTS
from torchscaffold.spec.ir import Model


def finalize(
    model: Model,
    *,
    in_channels: int | None = None,
    input_size: tuple[int, ...] | None = None,
    num_classes: int | None = None,
) -> Model:
    """Return ``model`` with the overrides applied and ``input_param`` set.

    The input's feature dimension (channels for (C, ...) input, features for (F,) input) becomes
    a constructor keyword (``in_channels`` / ``in_features``) unless the input is integer ids.
    """
    shape = model.input_shape
    params = dict(model.params)
    if in_channels is not None:
        shape = (in_channels, *shape[1:])
    if input_size is not None:
        spatial = len(shape) - 1
        if spatial == 0:
            raise TorchgenError("--input-size needs an input with spatial dimensions (C, H, W)")
        if len(input_size) == 1:
            input_size = input_size * spatial
        if len(input_size) != spatial:
            raise TorchgenError(
                f"--input-size needs 1 or {spatial} values for input {shape}, got {len(input_size)}"
            )
        shape = (shape[0], *input_size)
    if num_classes is not None:
        if "num_classes" not in params:
            raise TorchgenError("--num-classes: this model has no num_classes parameter")
        params["num_classes"] = num_classes
    for key, value in params.items():
        if value > INT64_MAX:
            raise TorchgenError(f"parameter {key}={value} does not fit in a 64-bit integer")
    if math.prod(shape) > MAX_SAMPLE_ELEMENTS:
        raise TorchgenError(
            f"the input {list(shape)} has more values per sample than any machine can hold "
            f"({MAX_SAMPLE_ELEMENTS:,})"
        )
    integer_input = (
        bool(model.body) and CATALOG[model.leading_layer(model.body[0]).type].integer_input
    )
    input_param = None
    if not integer_input:
        input_param = "in_features" if len(shape) == 1 else "in_channels"
        declared = params.get(input_param)
        if declared is not None and declared != shape[0]:
            raise TorchgenError(
                f"parameter {input_param}={declared} does not match the input shape {list(shape)}"
            )
        params = {input_param: shape[0], **params}
    return replace(model, input_shape=shape, params=tuple(params.items()), input_param=input_param)
