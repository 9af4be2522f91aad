"""The shape rules the op table (``catalog.table``) shares: most of torch's functions keep their
input's shape, broadcast their inputs, reduce over a dim, or normalise over trailing dims, so a
rule here serves many rows.

Each rule takes the inputs' dims (the batch included, as torch counts) and the evaluated
arguments (``int``, ``ints`` and ``shape`` kinds as ``Dim``s) and returns one tuple of dims per
output, or raises ``ShapeError``. tests/test_ops_vs_torch.py checks every row against torch on the
meta device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torchscaffold.catalog import rules
from torchscaffold.catalog.types import Dim, Dims, ShapeError, combine, values

Inputs = list[Dims]
Out = tuple[Dims, ...]


def _rank_at_least(x: Dims, n: int, what: str = "input") -> None:
    if len(x) < n:
        raise ShapeError(f"{what} {rules.fmt_dims(x)} needs at least {n} dimensions")


def _shaped(t: Dims, want: Dims, what: str) -> None:
    if len(t) != len(want) or not all(rules.same_dim(a, b) for a, b in zip(t, want)):
        raise ShapeError(f"{what} {rules.fmt_dims(t)} must be of shape {rules.fmt_dims(want)}")


def keep(inputs: Inputs, a: dict[str, Any]) -> Out:
    """An elementwise function of one value: its shape."""
    return (inputs[0],)


def hardtanh(inputs: Inputs, a: dict[str, Any]) -> Out:
    if a["min_val"] > a["max_val"]:
        raise ShapeError(f"min_val={a['min_val']} is greater than max_val={a['max_val']}")
    return (inputs[0],)


def clamp(inputs: Inputs, a: dict[str, Any]) -> Out:
    """``torch.clamp(x, min, max)``: one bound at least."""
    if a["min"] is None and a["max"] is None:
        raise ShapeError("clamp needs min, max or both")
    return (inputs[0],)


def keep_along(inputs: Inputs, a: dict[str, Any]) -> Out:
    """Elementwise along ``dim`` (softmax, cumsum, normalize): ``dim`` must exist."""
    x = inputs[0]
    rules.axis(a["dim"], max(len(x), 1))
    return (x,)


def broadcast(inputs: Inputs, a: dict[str, Any]) -> Out:
    """Elementwise over several values: their broadcast shape."""
    return (rules.broadcast(inputs),)


def like(inputs: Inputs, a: dict[str, Any]) -> Out:
    """``x.view_as(y)``, ``x.reshape_as(y)``: y's shape, the same number of elements."""
    x, y = inputs
    if rules.product(x).value != rules.product(y).value:
        raise ShapeError(f"cannot reshape {rules.fmt_dims(x)} as {rules.fmt_dims(y)}")
    return (y,)


def expand_like(inputs: Inputs, a: dict[str, Any]) -> Out:
    """``x.expand_as(y)``: x broadcast to y's shape."""
    x, y = inputs
    if len(x) > len(y) or rules.broadcast([x, y]) != y:
        raise ShapeError(f"cannot expand {rules.fmt_dims(x)} to {rules.fmt_dims(y)}")
    return (y,)


def reduce(inputs: Inputs, a: dict[str, Any]) -> Out:
    """``mean``/``sum``/``amax``/``argmax``... over ``dim`` (an int or a list), kept as 1 with
    ``keepdim``."""
    x = inputs[0]
    dims = a["dim"] if isinstance(a["dim"], (list, tuple)) else [a["dim"]]
    targets = [rules.axis(d, max(len(x), 1)) for d in dims]
    if len(set(targets)) != len(targets):
        raise ShapeError(f"dim {list(dims)} names a dimension twice")
    return (rules.reduce(x, a["dim"], a.get("keepdim", False)),)


def roll(inputs: Inputs, a: dict[str, Any]) -> Out:
    x = inputs[0]
    shifts, dims = a["shifts"], a["dims"]
    many = isinstance(shifts, (list, tuple)), isinstance(dims, (list, tuple))
    count = [len(v) if m else 1 for v, m in zip((shifts, dims), many)]
    if dims is None:
        if many[0] and count[0] != 1:
            raise ShapeError("roll without dims takes one shift")
        return (x,)
    if count[0] != count[1]:
        raise ShapeError(f"roll takes as many shifts as dims, got {count[0]} and {count[1]}")
    for d in dims if many[1] else [dims]:
        rules.axis(d, max(len(x), 1))
    return (x,)


def flip(inputs: Inputs, a: dict[str, Any]) -> Out:
    x = inputs[0]
    dims = [rules.axis(d, max(len(x), 1)) for d in a["dims"]]
    if len(set(dims)) != len(dims):
        raise ShapeError(f"dims {list(a['dims'])} names a dimension twice")
    return (x,)


def layer_norm(inputs: Inputs, a: dict[str, Any]) -> Out:
    """Normalised over the trailing dims ``normalized_shape``; weight and bias of that shape."""
    x, *tensors = inputs
    shape = tuple(a["normalized_shape"])
    if len(shape) > len(x) or not all(
        rules.same_dim(d, s) for d, s in zip(x[len(x) - len(shape) :], shape)
    ):
        raise ShapeError(
            f"normalized_shape={list(values(shape))} does not match the last dimensions of "
            f"{rules.fmt_dims(x)}"
        )
    for name, t in zip(("weight", "bias"), tensors):
        _shaped(t, shape, name)
    return (x,)


def group_norm(inputs: Inputs, a: dict[str, Any]) -> Out:
    """Over groups of channels (dim 1): weight and bias one per channel."""
    x, *tensors = inputs
    _rank_at_least(x, 2)
    groups = a["num_groups"].value
    if groups < 1 or x[1].value % groups:
        raise ShapeError(f"{x[1].value} channels are not divisible by num_groups={groups}")
    per_group = x[1].value // groups * rules.product(x[2:]).value
    if not x[0].varying and x[0].value * per_group == 1:
        raise ShapeError(f"group norm needs more than one value per group, got {rules.fmt_dims(x)}")
    for name, t in zip(("weight", "bias"), tensors):
        _shaped(t, (x[1],), name)
    return (x,)


def batch_norm(inputs: Inputs, a: dict[str, Any]) -> Out:
    """Per channel (dim 1): running statistics, weight and bias one per channel; training
    needs more than one value per channel."""
    x, *tensors = inputs
    _rank_at_least(x, 2)
    for name, t in zip(("running_mean", "running_var", "weight", "bias"), tensors):
        _shaped(t, (x[1],), name)
    if a["training"]:
        _more_than_one_per_channel(x, "batch norm while training")
    return (x,)


def batch_stats_norm(inputs: Inputs, a: dict[str, Any]) -> Out:
    """Per channel (dim 1) by the batch's statistics, which only training computes (without
    running statistics, eval has none to read): weight and bias one per channel."""
    x, *tensors = inputs
    _rank_at_least(x, 2)
    for name, t in zip(("weight", "bias"), tensors):
        _shaped(t, (x[1],), name)
    if not a["training"]:
        raise ShapeError("batch norm without running statistics needs training=True")
    _more_than_one_per_channel(x, "batch norm while training")
    return (x,)


def _more_than_one_per_channel(x: Dims, what: str) -> None:
    if not x[0].varying and rules.product((x[0], *x[2:])).value == 1:
        raise ShapeError(f"{what} needs more than one value per channel, got {rules.fmt_dims(x)}")


def linear(inputs: Inputs, a: dict[str, Any]) -> Out:
    """(..., in) by a weight (out, in) (or (in,)) and a bias (out,) to (..., out)."""
    x, weight, *bias = inputs
    _rank_at_least(x, 1)
    if len(weight) not in (1, 2) or not rules.same_dim(weight[-1], x[-1]):
        raise ShapeError(
            f"weight {rules.fmt_dims(weight)} does not take inputs {rules.fmt_dims(x)}"
        )
    if len(weight) == 1 and bias:
        raise ShapeError(f"a weight {rules.fmt_dims(weight)} of one dimension takes no bias")
    out = (*x[:-1], weight[0]) if len(weight) == 2 else x[:-1]
    if bias and rules.broadcast([out, bias[0]]) != out:
        raise ShapeError(f"bias {rules.fmt_dims(bias[0])} does not fit {rules.fmt_dims(out)}")
    return (out,)


def conv(n: int) -> Callable[[Inputs, dict[str, Any]], Out]:
    """``F.conv{n}d``: the layer rule, with the channels and kernel read off the weight."""

    def rule(inputs: Inputs, a: dict[str, Any]) -> Out:
        x, weight, *bias = inputs
        if len(x) == n + 1:  # one sample, unbatched
            (out,) = rule([(Dim.literal(1), *x), weight, *bias], a)
            return (out[1:],)
        if len(x) != n + 2 or len(weight) != n + 2:
            raise ShapeError(
                f"expects input (N, C, {rules.spatial_names(n)}) and a weight of {n + 2} "
                f"dimensions, got {rules.fmt_dims(x)} and {rules.fmt_dims(weight)}"
            )
        groups = _plain(a["groups"])  # a Lit where given, the default int where not
        if groups < 1 or x[1].value != weight[1].value * groups:
            raise ShapeError(
                f"weight {rules.fmt_dims(weight)} with groups={groups} does not take "
                f"{x[1].value} channels"
            )
        if bias:
            _shaped(bias[0], (weight[0],), "bias")
        layer_args = {
            "in_channels": x[1].value,
            "out_channels": weight[0].value,
            "kernel_size": values(weight[2:]),
            "groups": groups,
            "padding_mode": "zeros",
            **{k: _plain(a[k]) for k in ("stride", "padding", "dilation")},
        }
        out = rules.conv_dims(values(x[1:]), layer_args, n)
        spatial = tuple(
            d if d.value == o and a["padding"] == "same" else Dim.literal(o)
            for d, o in zip(x[2:], out[1:])
        )
        return ((x[0], weight[0], *spatial),)

    return rule


def _plain(v: Any) -> Any:
    if isinstance(v, Dim):
        return v.value
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    return v


def embedding(inputs: Inputs, a: dict[str, Any]) -> Out:
    """Integer ids (...) into a weight (num, dim): (..., dim)."""
    ids, weight = inputs
    if len(weight) != 2:
        raise ShapeError(f"weight {rules.fmt_dims(weight)} must have 2 dimensions")
    return ((*ids, weight[1]),)


def pad(inputs: Inputs, a: dict[str, Any]) -> Out:
    """``F.pad(x, pad, mode)``: (left, right) for the last dim, then the one before...;
    negative amounts crop (constant mode only); the other modes pad the spatial dims of an
    (N, C, ...) or (C, ...) value, less than (reflect) or at most (circular) their size."""
    x = inputs[0]
    amounts = list(a["pad"])
    if not amounts or len(amounts) % 2 or len(amounts) // 2 > len(x):
        raise ShapeError(
            f"pad {[p.value for p in amounts]} must be pairs, at most one per dimension of "
            f"{rules.fmt_dims(x)}"
        )
    n = len(amounts) // 2
    mode = a["mode"]
    if mode != "constant":
        if not (len(x) in (n + 1, n + 2) and 1 <= n <= 3):
            raise ShapeError(
                f"{mode} padding of {n} dims takes a value of {n + 1} or {n + 2} dims, got "
                f"{rules.fmt_dims(x)}"
            )
        if len(x) == n + 2 and rules.product(x[:2]).value == 0:
            raise ShapeError("nothing to pad")
        if a["value"] not in (None, 0, 0.0):
            raise ShapeError(f"value applies only to constant padding, not {mode!r}")
    out = list(x)
    for i in range(n):
        before, after = amounts[2 * i], amounts[2 * i + 1]
        d = out[-1 - i]
        if mode != "constant":
            if before.value < 0 or after.value < 0:
                raise ShapeError(f"{mode} padding cannot crop, got {[before.value, after.value]}")
            limit = d.value if mode == "circular" else d.value - 1
            if mode != "replicate" and max(before.value, after.value) > limit:
                raise ShapeError(
                    f"{mode} padding {[before.value, after.value]} does not fit a dim of size "
                    f"{d.value}"
                )
        size = d.value + before.value + after.value
        # torch crops before it pads: the crops alone must leave a size of at least zero,
        # even where the padding on the other side would grow it back
        kept = d.value + min(before.value, 0) + min(after.value, 0)
        if kept < 0 or (size < 1 and mode != "constant"):
            raise ShapeError(
                f"padding {[before.value, after.value]} crops more than a dim of size {d.value}"
            )
        grown = combine("+", d, before, d.value + before.value)
        out[-1 - i] = combine("+", grown, after, size)
    return (tuple(out),)


def gather(inputs: Inputs, a: dict[str, Any]) -> Out:
    """``torch.gather(x, dim, index)``: index's shape; as many dims as x, none larger except
    along dim."""
    x, index = inputs
    d = rules.axis(a["dim"], max(len(x), 1))
    if len(index) != len(x):
        raise ShapeError(
            f"index {rules.fmt_dims(index)} must have as many dims as {rules.fmt_dims(x)}"
        )
    for i, (have, want) in enumerate(zip(x, index)):
        if i != d and not have.varying and want.value > have.value:
            raise ShapeError(
                f"index {rules.fmt_dims(index)} is larger than {rules.fmt_dims(x)} in dim {i}"
            )
    return (index,)


def take(inputs: Inputs, a: dict[str, Any]) -> Out:
    """``x[..., index, ...]`` with an integer tensor at ``dim``: that dim becomes index's."""
    x, index = inputs
    d = rules.axis(a["dim"], len(x))
    return ((*x[:d], *index, *x[d + 1 :]),)
