"""Apply the command line's size options to a description, and settle what it leaves open:
each input's dtype, and the constructor parameter for the input's features."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from torchscaffold import catalog
from torchscaffold.errors import TorchgenError
from torchscaffold.spec.ir import Block, Input, Model

# The parameter of a model whose sizes follow from its (square) image size: ViT's.
IMAGE_SIZE = "image_size"


def finalize(
    model: Model,
    *,
    in_channels: int | None = None,
    input_size: tuple[int, ...] | None = None,
    num_classes: int | None = None,
) -> Model:
    """Return ``model`` with the overrides applied, dtypes set and ``input_param`` set.

    The first input's feature dimension (channels for (C, ...) input, features for (F,) input)
    becomes a constructor keyword (``in_channels`` / ``in_features``) unless the input is
    integer ids.
    """
    inputs = [_with_dtype(i, model.main) for i in model.inputs]
    first = inputs[0]
    shape = first.shape
    params = dict(model.main.params)
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
                f"--input-size needs 1 or {spatial} values for input {list(shape)}, "
                f"got {len(input_size)}"
            )
        shape = (shape[0], *input_size)
        if IMAGE_SIZE in params:
            # A model whose sizes follow from its image size (ViT's position embedding) takes
            # the new size as that parameter, or it would be built for the old one.
            if len(set(input_size)) != 1:
                raise TorchgenError(
                    f"--input-size: this model takes square images (image_size), got "
                    f"{'x'.join(map(str, input_size))}"
                )
            params[IMAGE_SIZE] = input_size[0]
    if num_classes is not None:
        if "num_classes" not in params:
            raise TorchgenError("--num-classes: this model has no num_classes parameter")
        params["num_classes"] = num_classes
    for key, value in params.items():
        if isinstance(value, int) and value > catalog.INT64_MAX:
            raise TorchgenError(f"parameter {key}={value} does not fit in a 64-bit integer")
    lengths = dict(model.lengths)
    for i in inputs:
        sizes = [
            lengths[s] if isinstance(s, str) else s for s in (shape if i is first else i.shape)
        ]
        if math.prod(sizes) > catalog.MAX_SAMPLE_ELEMENTS:
            raise TorchgenError(
                f"the input {list(shape)} has more values per sample than any machine can "
                f"hold ({catalog.MAX_SAMPLE_ELEMENTS:,})"
            )
    input_param = None
    if first.dtype == "float32" and isinstance(shape[0], int):
        input_param = "in_features" if len(shape) == 1 else "in_channels"
        declared = params.get(input_param)
        if declared is not None and declared != shape[0]:
            raise TorchgenError(
                f"parameter {input_param}={declared} does not match the input shape {list(shape)}"
            )
        params = {input_param: shape[0], **params}
    inputs[0] = replace(first, shape=shape)
    main = replace(model.main, params=tuple(params.items()))
    return replace(model, inputs=tuple(inputs), main=main, input_param=input_param)


def _with_dtype(i: Input, main: Block) -> Input:
    """An input without a dtype holds floats, unless an Embedding reads it first (token ids)."""
    if i.dtype:
        return i
    readers = []
    for k, s in enumerate(main.steps):
        if (s.inputs is not None and i.name in s.inputs) or (
            s.inputs is None and k == 0 and i.name == main.inputs[0]
        ):
            readers.append(s)
    while readers and readers[-1].kind == "group" and readers[-1].body:
        readers.append(readers[-1].body[0])
    embedding = any(s.kind == "layer" and catalog.layer(s.target).integer_input for s in readers)
    return replace(i, dtype="int64" if embedding else "float32")


def with_default(model: Model, name: str, value: Any) -> Model:
    """The description of what ``Model(name=value)`` builds: ``model`` (finalized) whose
    constructor parameter ``name`` defaults to ``value``, its first input resized where that
    parameter sizes it (``input_param`` its features, ``image_size`` its spatial dimensions).
    Whatever the new value makes invalid is refused here or by shape inference, as for a spec
    that says it."""
    params = dict(model.main.params)
    if name not in params:
        raise KeyError(name)
    params[name] = value
    first = model.inputs[0]
    shape = first.shape
    if name == model.input_param:
        shape = (value, *shape[1:])
    elif name == IMAGE_SIZE and len(shape) > 1:
        shape = (shape[0], *(value for _ in shape[1:]))
    main = replace(model.main, params=tuple(params.items()))
    inputs = (replace(first, shape=shape), *model.inputs[1:])
    return finalize(replace(model, inputs=inputs, main=main))
