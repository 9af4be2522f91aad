"""Building blocks for presets: the steps of a description, written as Python.

``L("Conv2d", "conv1", out_channels=64, kernel_size=7)`` is the TOML step
``{ type = "Conv2d", name = "conv1", out_channels = 64, kernel_size = 7 }``; a string where a
size goes is an expression of the class's parameters, as in TOML. ``T("class_token", (1, 1,
"hidden_dim"))`` is a learned tensor, ``[model] tensors`` / ``[blocks.X] tensors`` in TOML.
"""

from __future__ import annotations

from typing import Any

from torchscaffold import catalog
from torchscaffold.spec import expr
from torchscaffold.spec.ir import Block, Input, Model, Step, Tensor


def _wiring(inputs: Any, outputs: Any, when: str | None, otherwise: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if inputs is not None:
        out["inputs"] = (inputs,) if isinstance(inputs, str) else tuple(inputs)
    if outputs is not None:
        out["outputs"] = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    if when is not None:
        out["when"] = when
        out["otherwise"] = otherwise
    return out


def L(
    type: str,
    name: str | None = None,
    *,
    inputs: Any = None,
    outputs: Any = None,
    when: str | None = None,
    otherwise: str | None = None,
    call: dict | None = None,
    **args: object,
) -> Step:
    """A layer step; a string where a size goes is an expression of the parameters."""
    entry = catalog.layer(type)
    return Step(
        "layer",
        type,
        args=_args(entry, args),
        name=name,
        call=tuple((call or {}).items()),
        **_wiring(inputs, outputs, when, otherwise),
    )


def O(
    op: str,
    name: str | None = None,
    *,
    inputs: Any = None,
    outputs: Any = None,
    when: str | None = None,
    otherwise: str | None = None,
    **args: object,
) -> Step:
    """An op step: ``O("add", inputs=["x", "h"])``."""
    entry = catalog.op(op)
    return Step(
        "op", op, args=_args(entry, args), name=name, **_wiring(inputs, outputs, when, otherwise)
    )


def B(
    block: str,
    name: str | None = None,
    repeat: int | str = 1,
    first: dict | None = None,
    *,
    inputs: Any = None,
    outputs: Any = None,
    instance_names: str | None = None,
    **args: object,
) -> Step:
    """A block step (``repeat`` instances in a chain; ``first`` overrides the first's arguments)."""
    return Step(
        "block",
        block,
        args=_block_args(args),
        first=_block_args(first or {}),
        repeat=expr.parse(repeat, f"{block} repeat") if isinstance(repeat, str) else repeat,
        instance_names=instance_names,
        name=name,
        **_wiring(inputs, outputs, None, None),
    )


def G(name: str, *steps: Step, when: str | None = None) -> Step:
    """A named chain: an nn.Sequential in the sequential and nested styles; ``when``: only where
    that condition holds (its input passes through elsewhere)."""
    return Step("group", name, name=name, body=steps, when=when)


def _args(entry: catalog.LayerType | catalog.OpType, args: dict) -> tuple:
    out = []
    for key, value in args.items():
        kind = entry.arg(key).kind
        if isinstance(value, str) and kind in catalog.EXPR_KINDS and value not in ("same", "valid"):
            value = expr.parse(value, key)
        elif isinstance(value, (list, tuple)):
            value = tuple(expr.parse(v, key) if isinstance(v, str) else v for v in value)
        out.append((key, value))
    return tuple(out)


def T(name: str, shape: tuple, init: str = "zeros", **options: Any) -> Tensor:
    """A learned tensor (or, ``buffer=True``, a buffer); a string in ``shape`` is an expression
    of the parameters."""
    sizes = tuple(expr.parse(s, f"tensor {name}") if isinstance(s, str) else s for s in shape)
    return Tensor(name, sizes, init, **options)


def _block_args(args: dict) -> tuple:
    return tuple((k, expr.parse(v, k) if isinstance(v, str) else v) for k, v in args.items())


def model(
    name: str,
    input: tuple,
    steps: tuple[Step, ...],
    *,
    blocks: tuple[Block, ...] = (),
    params: tuple = (),
    tensors: tuple[Tensor, ...] = (),
    doc: str = "",
    dtype: str = "",
) -> Model:
    """A one-input model (the common case) from its forward's steps."""
    main = Block(name=name, steps=steps, params=params, tensors=tensors, doc=doc)
    return Model(name=name, inputs=(Input("x", input, dtype),), main=main, blocks=blocks, doc=doc)
