"""A function or method call of a traced forward as a catalog op: which op, which of its
arguments are values of the graph (the op's inputs) and which are literals or sizes.

``Lifted.inputs`` are fx nodes; the caller names them. An argument that is a size the forward
read at run time (``x.size(0)``) arrives as a node too, and ``size_of`` turns it into an
expression. A call without a catalog op raises ``Unsupported`` with what it was.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torchscaffold import catalog
from torchscaffold.spec.expr import BinOp, Lit

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
    "pow": ("pow", "ipow", "__pow__", "pow_"),
    "floordiv": ("floordiv", "ifloordiv", "__floordiv__", "floor_divide"),
    "mod": ("mod", "imod", "__mod__", "remainder"),
    **{n: (n, f"__{n}__") for n in ("gt", "lt", "ge", "le", "eq", "ne")},
    "matmul": ("matmul", "__matmul__"),
}
COMMUTATIVE = ("add", "mul")
# Methods (and torch functions) whose first argument is the value and the rest one argument.
SHAPE_ARGS = {"view": "shape", "reshape": "shape", "permute": "dims", "expand": "sizes"}
SIMPLE = {
    "flatten": ("start_dim", "end_dim"),
    "split": ("split_size", "dim"),
    "chunk": ("chunks", "dim"),
    "unbind": ("dim",),
    "unflatten": ("dim", "sizes"),
}
# Tensor methods that are a parameter-free layer's functional (``x.sigmoid()``,
# ``attn.softmax(dim=-1)``): that op, its arguments in the method's order.
METHOD_FUNCTIONALS = {
    "softmax": ("dim",),
    "sigmoid": (),
    "tanh": (),
    "relu": (),
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
    args, kwargs = list(node.args), _without_private_defaults(node)
    for op, names in BINARY.items():
        if name in names:
            return _binary(op, args, size_of, is_tensor)
    if name in ("cat", "concat", "stack") and node.op == "call_function":
        tensors = args[0] if args else kwargs.pop("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        op = "stack" if name == "stack" else "concat"
        return Lifted(op, tuple(tensors), {"dim": size_of(dim)})
    if name == "einsum" and node.op == "call_function" and args and isinstance(args[0], str):
        tensors = args[1] if len(args) == 2 and isinstance(args[1], (tuple, list)) else args[1:]
        return Lifted("einsum", tuple(tensors), {"equation": args[0]})
    if name in SHAPE_ARGS:
        rest = args[1:]
        if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
            rest = list(rest[0])
        rest = rest or list(kwargs.values())
        sizes = tuple(size_of(r) for r in rest)
        if len(sizes) == 1 and isinstance(sizes[0], tuple):  # x.reshape(y.shape): y's sizes
            sizes = sizes[0]
        return Lifted(name, (args[0],), {SHAPE_ARGS[name]: sizes})
    if name in SIMPLE:
        bound = dict(DEFAULTS.get(name, {}))
        bound.update(zip(SIMPLE[name], args[1:]))
        bound.update(
            {("split_size" if k == "split_size_or_sections" else k): v for k, v in kwargs.items()}
        )
        return Lifted(name, (args[0],), {k: size_of(v) for k, v in bound.items()})
    if node.op == "call_function" and node.target is operator.getitem:
        return _index(args[0], args[1], size_of, is_tensor)
    if node.op == "call_method" and name in METHOD_FUNCTIONALS:
        return _method_functional(name, args, kwargs, size_of)
    refused: list[Unsupported] = []
    for row in _rows_of(node):  # the first that takes the call (F.batch_norm: two rows)
        try:
            return _bind_row(row, args, kwargs, size_of, is_tensor)
        except Unsupported as exc:
            refused.append(exc)
    if refused:
        raise refused[0]
    if node.op == "call_function" and node.target is F.scaled_dot_product_attention:
        return _attention(args, kwargs, size_of)
    if node.op == "call_function" and node.target is torch.arange:
        return _arange(args, kwargs, size_of)
    functional = _functional(node)
    if functional is not None:
        return functional(size_of)
    raise Unsupported(f"{_describe(node)} has no op in torchgen's catalog")


def _without_private_defaults(node: fx.Node) -> dict:
    """The call's keywords less the private ones at their function's default: tracing
    ``F.softmax(x, dim=-1)`` records ``_stacklevel=3``, which no reader wrote and which only
    picks the frame a warning names."""
    kwargs = dict(node.kwargs)
    private = [k for k in kwargs if k.startswith("_")]
    if not private or node.op != "call_function":
        return kwargs
    try:
        params = inspect.signature(node.target).parameters
    except (TypeError, ValueError):
        return kwargs
    for key in private:
        if key in params and _same(kwargs[key], params[key].default):
            del kwargs[key]
    return kwargs


def _rows_of(node: fx.Node) -> list[catalog.OpType]:
    """The op table's rows for a torch function or tensor method, in the table's order."""
    import torch
    import torch.nn.functional as F

    if node.op == "call_method":
        return [o for o in _rows() if node.target in o.methods]
    if node.op != "call_function":
        return []
    if node.target is operator.neg:
        return [catalog.op("neg")]
    return [
        o
        for o in _rows()
        if any(
            node.target is getattr(m, name, None)
            for name in o.functions
            for m in (torch, F, torch._C._nn)
        )
    ]


def _rows() -> list[catalog.OpType]:
    return [o for o in catalog.ALL_OPS.values() if o.call]


def _bind_row(
    op: catalog.OpType, args: list, kwargs: dict, size_of: Callable, is_tensor: Callable
) -> Lifted:
    """A call bound to its row's parameters: the tensors its inputs (the optional ones as
    far as given), the rest its arguments."""
    first, *params = ("input", *op.params)
    bound = dict(zip((first, *params), args))
    for key, v in kwargs.items():
        bound[first if key not in params and key in ("input", "self", "condition") else key] = v
    inputs = [bound.pop(first)]
    gap = None
    for name in op.tensors:
        v = bound.pop(name, None)
        if v is None:
            gap = gap or name
        elif gap is not None or not is_tensor(v):
            why = f"{gap}=None before {name}" if gap else f"{name}={v!r}, not a tensor"
            raise Unsupported(f"{op.call} with {why}")
        else:
            inputs.append(v)
    defaults = {a.name: a.default for a in op.args if not a.required and not a.always}
    out = {}
    for key, v in bound.items():
        if key not in {a.name for a in op.args}:
            if v in (None, False):
                continue
            raise Unsupported(f"{op.call} with {key}={v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            raise Unsupported(f"{op.call} with {key}={v}: a description holds finite numbers")
        value = size_of(v)
        # Arguments at torch's default are left out, as a reader leaves them out.
        if value is not None and not (key in defaults and _same(value, defaults[key])):
            out[key] = value
    return Lifted(op.name, tuple(inputs), out)


def _same(value: Any, default: Any) -> bool:
    plain = (int, float, str, bool)
    if isinstance(value, tuple) and len(set(value)) == 1 and not isinstance(default, tuple):
        value = value[0]  # stride=(1, 1) is stride=1
    return isinstance(value, plain) and type(value) is type(default) and value == default


def _method_functional(name: str, args: list, kwargs: dict, size_of: Callable) -> Lifted:
    bound = dict(zip(METHOD_FUNCTIONALS[name], args[1:])) | kwargs
    extra = {k: v for k, v in bound.items() if k not in METHOD_FUNCTIONALS[name]}
    if any(v is not None for v in extra.values()):
        raise Unsupported(f"the method .{name}() with {', '.join(extra)}")
    return Lifted(name, (args[0],), {k: size_of(v) for k, v in bound.items() if k not in extra})


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


def _index(value: fx.Node, index: Any, size_of: Callable, is_tensor: Callable) -> Lifted:
    """Basic indexing as ops, one per indexed dimension, in order: ``x[:, 0]`` -> select,
    ``x[:, 1:3]`` and ``x[:, :H]`` -> narrow, ``x[:, None]`` -> unsqueeze, ``x[:, [i]]`` ->
    select and unsqueeze; after an ``...``, dims count from the end. An integer tensor
    (``x[:, idx]``) -> index, the other dims whole."""
    items = index if isinstance(index, tuple) else (index,)
    refused = Unsupported(f"indexing with {index!r} has no op in torchgen's catalog")
    tensors = [k for k, item in enumerate(items) if is_tensor(item)]
    if tensors:
        rest = [item for k, item in enumerate(items) if k != tensors[0]]
        if len(tensors) > 1 or any(item != slice(None) for item in rest):
            raise refused
        return Lifted("index", (value, items[tensors[0]]), {"dim": tensors[0]})
    cut = next((k for k, item in enumerate(items) if item is Ellipsis), len(items))
    if Ellipsis in items[cut + 1 :]:
        raise refused
    steps: list[tuple[str, dict[str, Any]]] = []
    d = 0
    for item in items[:cut]:
        d += _index_item(item, d, 1, steps, size_of, refused)
    d = -1
    for item in reversed(items[cut + 1 :]):
        d -= _index_item(item, d, -1, steps, size_of, refused)
    if not steps:
        raise refused
    (op, args), *then = steps
    return Lifted(op, (value,), args, then=tuple(then))


def _index_item(
    item: Any,
    d: int,
    way: int,
    steps: list[tuple[str, dict[str, Any]]],
    size_of: Callable,
    refused: Unsupported,
) -> int:
    """The ops one index item at dim ``d`` adds; how far the next item's dim moves (``way``:
    1 left to right, -1 right to left from the end)."""
    if item == slice(None):
        return 1
    if isinstance(item, int):
        steps.append(("select", {"dim": d, "index": item}))
        return 0  # the dim is gone: the next item reads the same position
    if item is None:
        steps.append(("unsqueeze", {"dim": d}))
        return 1
    if isinstance(item, list) and len(item) == 1 and isinstance(item[0], int):
        # nanoGPT's x[:, [-1], :]: the one position, its dimension kept.
        steps += [("select", {"dim": d, "index": item[0]}), ("unsqueeze", {"dim": d})]
        return 1
    if isinstance(item, slice) and (item.step is None or isinstance(item.step, int)):
        start = size_of(item.start or 0)  # a number, or a size read at run time
        every = {"step": item.step} if item.step not in (None, 1) else {}
        if isinstance(start, int) and start < 0 or item.step is not None and item.step < 1:
            raise refused
        if item.stop is None:
            steps.append(("narrow", {"dim": d, "start": start, **every}))
            return 1
        end = size_of(item.stop)
        if isinstance(end, int) and end < 0:
            steps.append(("narrow", {"dim": d, "start": start, "stop": end, **every}))
            return 1
        if isinstance(end, int) and isinstance(start, int):
            if end <= start:
                raise refused
            length = end - start
        else:
            length = end if start == 0 else BinOp("-", _expr(end), _expr(start))
        steps.append(("narrow", {"dim": d, "start": start, "length": length, **every}))
        return 1
    raise refused


def _expr(value: Any) -> Any:
    return Lit(value) if isinstance(value, int) else value


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
    kwargs = _without_private_defaults(node)
    try:
        bound = inspect.signature(node.target).bind(*node.args, **kwargs).arguments
    except (TypeError, ValueError):  # a builtin without one (F.avg_pool2d): bound as below
        bound = {"args": tuple(node.args)}
    # A boolean dispatch, F.max_pool2d(*args, **kw), or a builtin: by the layer's order.
    if isinstance(bound.get("args"), tuple):
        positional = dict(zip(("input", *(a.name for a in entry.args)), node.args))
        bound = positional | kwargs
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
