"""A function or method call of a traced forward as a catalog op: which op, which of its
arguments are values of the graph (the op's inputs) and which are literals or sizes.

``Lifted.inputs`` are fx nodes; the caller names them. An argument that is a size the forward
read at run time (``x.size(0)``) arrives as a node too, and ``size_of`` turns it into an
expression. A call without a catalog op raises ``Unsupported`` with what it was.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torchscaffold import catalog

if TYPE_CHECKING:
    from torch import fx


class Unsupported(Exception):
    """A call the catalog has no op for."""


@dataclass(frozen=True)
class Lifted:
    op: str
    inputs: tuple[fx.Node, ...]
    args: dict[str, Any] = field(default_factory=dict)
    # Ops applied to the result after it, in order (x[:, [-1]]: select, then unsqueeze).
    then: tuple[tuple[str, dict[str, Any]], ...] = ()


BINARY = {
    "add": ("add", "iadd", "__add__", "__iadd__", "add_"),
    "sub": ("sub", "isub", "__sub__", "__isub__", "sub_"),
    "mul": ("mul", "imul", "__mul__", "__imul__", "mul_"),
    "div": ("truediv", "itruediv", "div", "__truediv__", "div_"),
    "matmul": ("matmul", "__matmul__"),
}
COMMUTATIVE = ("add", "mul")
# Methods (and torch functions) whose first argument is the value and the rest one argument.
SHAPE_ARGS = {"view": "shape", "reshape": "shape", "permute": "dims", "expand": "sizes"}
SIMPLE = {
    "transpose": ("dim0", "dim1"),
    "flatten": ("start_dim", "end_dim"),
    "unsqueeze": ("dim",),
    "squeeze": ("dim",),
    "contiguous": (),
    "float": (),
    "mean": ("dim", "keepdim"),
    "sum": ("dim", "keepdim"),
    "amax": ("dim", "keepdim"),
    "split": ("split_size", "dim"),
    "chunk": ("chunks", "dim"),
    "unbind": ("dim",),
    "unflatten": ("dim", "sizes"),
    "logical_not": (),
}
DEFAULTS = {
    "flatten": {"start_dim": 0},
    "split": {"dim": 0},
    "chunk": {"dim": 0},
    "unbind": {"dim": 0},
}


def lift(node: fx.Node, size_of: Callable[[Any], Any], is_tensor: Callable[[Any], bool]) -> Lifted:
    """The op ``node`` calls. ``size_of`` maps an argument (a size node, a number, a tuple of
    them) to literals and expressions; ``is_tensor`` tells a tensor-valued node."""
    import torch
    import torch.nn.functional as F

    name = _name(node)
    args, kwargs = list(node.args), dict(node.kwargs)
    for op, names in BINARY.items():
        if name in names:
            return _binary(op, args, size_of, is_tensor)
    if name in ("cat", "concat"):
        tensors = args[0] if args else kwargs.pop("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        return Lifted("concat", tuple(tensors), {"dim": size_of(dim)})
    if name in SHAPE_ARGS:
        rest = args[1:]
        if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
            rest = list(rest[0])
        rest = rest or list(kwargs.values())
        return Lifted(name, (args[0],), {SHAPE_ARGS[name]: tuple(size_of(r) for r in rest)})
    if name in SIMPLE:
        bound = dict(DEFAULTS.get(name, {}))
        bound.update(zip(SIMPLE[name], args[1:]))
        bound.update(
            {("split_size" if k == "split_size_or_sections" else k): v for k, v in kwargs.items()}
        )
        return Lifted(name, (args[0],), {k: size_of(v) for k, v in bound.items()})
    if node.op == "call_function" and node.target is operator.getitem:
        return _index(args[0], args[1], size_of)
    if node.op == "call_function" and node.target is F.scaled_dot_product_attention:
        return _attention(args, kwargs, size_of)
    if node.op == "call_function" and node.target is torch.arange:
        return _arange(args, kwargs, size_of)
    functional = _functional(node)
    if functional is not None:
        return functional(size_of)
    raise Unsupported(f"{_describe(node)} has no op in torchgen's catalog")


def _name(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _describe(node: fx.Node) -> str:
    if node.op == "call_method":
        return f"the method .{node.target}()"
    module = getattr(node.target, "__module__", None) or ""
    return f"the function {module + '.' if module else ''}{_name(node)}"


def _binary(op: str, args: list, size_of: Callable, is_tensor: Callable) -> Lifted:
    a, b = args[0], args[1]
    if not is_tensor(a) and is_tensor(b):
        if op not in COMMUTATIVE:
            raise Unsupported(f"a number {op} a tensor has no op in torchgen's catalog")
        a, b = b, a
    if is_tensor(b):
        return Lifted(op, (a, b))
    return Lifted(op, (a,), {"other": size_of(b)})


def _index(value: fx.Node, index: Any, size_of: Callable) -> Lifted:
    """``x[:, 0]`` -> select; ``x[:, 1:3]`` -> narrow: one dimension indexed, the others whole."""
    items = index if isinstance(index, tuple) else (index,)
    whole = [isinstance(i, slice) and i == slice(None) for i in items]
    if whole.count(False) != 1:
        raise Unsupported(f"indexing with {index!r} has no op in torchgen's catalog")
    dim = whole.index(False)
    item = items[dim]
    if isinstance(item, int):
        return Lifted("select", (value,), {"dim": dim, "index": item})
    if isinstance(item, list) and len(item) == 1 and isinstance(item[0], int):
        # nanoGPT's x[:, [-1], :]: the one position, its dimension kept.
        return Lifted(
            "select", (value,), {"dim": dim, "index": item[0]}, then=(("unsqueeze", {"dim": dim}),)
        )
    if isinstance(item, slice) and item.step in (None, 1):
        start, stop = item.start or 0, item.stop
        if isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop:
            return Lifted("narrow", (value,), {"dim": dim, "start": start, "length": stop - start})
    raise Unsupported(f"indexing with {index!r} has no op in torchgen's catalog")


def _attention(args: list, kwargs: dict, size_of: Callable) -> Lifted:
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal")
    bound = dict(zip(names, args)) | kwargs
    if bound.get("scale") is not None or bound.get("enable_gqa"):
        raise Unsupported("scaled_dot_product_attention with scale or enable_gqa")
    inputs = (bound["query"], bound["key"], bound["value"])
    if bound.get("attn_mask") is not None:
        inputs += (bound["attn_mask"],)
    out = {}
    if bound.get("is_causal"):
        out["is_causal"] = True
    if bound.get("dropout_p"):
        out["dropout_p"] = size_of(bound["dropout_p"])
    return Lifted("scaled_dot_product_attention", inputs, out)


def _arange(args: list, kwargs: dict, size_of: Callable) -> Lifted:
    """``torch.arange([0,] t, device=x.device)``: positions on the device of ``x``."""
    ends = [a for a in args]
    if len(ends) == 2 and ends[0] == 0:
        ends = ends[1:]
    device = kwargs.get("device")
    owner = device.args[0] if device is not None and getattr(device, "op", "") else None
    if len(ends) != 1 or owner is None or kwargs.get("dtype") not in (None, _long()):
        raise Unsupported("torch.arange other than arange([0,] end, device=x.device)")
    return Lifted("arange", (owner,), {"end": size_of(ends[0])})


def _long() -> Any:
    import torch

    return torch.long


def _functional(node: fx.Node) -> Callable[[Callable], Lifted] | None:
    """``F.relu(x, inplace=True)``, ``torch.sigmoid(x)``, ``F.adaptive_avg_pool2d(x, 1)``: the
    functional form of a catalog layer, its arguments bound by name."""
    import torch
    import torch.nn.functional as F

    name = _name(node)
    if name not in catalog.ALL_OPS or node.op != "call_function":
        return None
    if node.target not in (getattr(F, name, None), getattr(torch, name, None)):
        return None
    entry = catalog.op(name)
    try:
        bound = inspect.signature(node.target).bind(*node.args, **node.kwargs).arguments
    except (TypeError, ValueError):  # a builtin without one (F.avg_pool2d): bound as below
        bound = {"args": tuple(node.args)}
    # A boolean dispatch, F.max_pool2d(*args, **kw), or a builtin: by the layer's order.
    if isinstance(bound.get("args"), tuple):
        positional = dict(zip(("input", *(a.name for a in entry.args)), node.args))
        bound = positional | dict(node.kwargs)
    value, *_ = bound.values()
    known = {a.name for a in entry.args}

    def make(size_of: Callable) -> Lifted:
        out = {}
        for key, v in list(bound.items())[1:]:
            if key == "training" and entry.needs_training or v is None:
                continue  # None: the op's default (F.max_pool2d's stride is its kernel)
            if key not in known:
                if v in (None, False):
                    continue
                raise Unsupported(f"F.{name} with {key}={v!r}")
            out[key] = size_of(v)
        return Lifted(name, (value,), out)

    return make
