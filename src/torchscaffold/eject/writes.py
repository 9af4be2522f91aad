"""Writes into a tensor during a trace, made values the description can hold.

fx cannot trace ``t[i] = v`` or ``t[i].zero_()``: a proxy has no item assignment, and an
in-place method is a node nothing reads. Two kinds of write are common in model code and are
lifted here, both at the trace (each a proxy's node rebound to what the write made):

- into a tensor built from sizes only (Swin's shifted-window mask: ``mask = x.new_zeros((H,
  W))``, then ``mask[h0:h1, w0:w1] = count``): the write is made on the value the trace
  computed, and the tensor becomes that constant, a buffer of the lifted class;
- of a number into a copy of a tensor (SwinV2's ``bias = bias.clone()``, then
  ``bias[n:2 * n].zero_()``): ``bias.masked_fill(where, 0.0)``, ``where`` a constant of the
  positions written.

Either constant follows from the sizes the trace saw, as a branch on sizes does; the batch is
not in it. Any other write is refused in one line.
"""

from __future__ import annotations

import ast
import functools
import operator
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torchscaffold.eject.trace import UNKNOWN, Refused, contains, is_ours, shape_only, user_frame

if TYPE_CHECKING:
    from torch import fx

COPIES = ("clone",)


@dataclass
class Writes:
    """What one trace's writes made, kept on its tracer."""

    fixed: list[str] = field(default_factory=list)  # each constant and where: for the note
    made: set[str] = field(default_factory=set)  # the constants' names: a next write updates
    copies: set[fx.Node] = field(default_factory=set)  # the masked_fills: a next write chains
    proxies: dict[fx.Node, fx.Proxy] = field(default_factory=dict)  # a view's base, by node


@functools.cache
def proxy_type() -> type:
    """fx's Proxy with item assignment and the in-place fills of an item."""
    from torch import fx

    class Writable(fx.Proxy):
        def __setitem__(self, key: Any, value: Any) -> None:
            write(self, key, value)

        def zero_(self) -> fx.Proxy:
            return self.fill_(0)

        def fill_(self, value: Any) -> fx.Proxy:
            node = self.node
            is_item = node.op == "call_function" and node.target is operator.getitem
            base = self.tracer.writes.proxies.get(node.args[0]) if is_item else None
            if base is None:
                raise Refused(
                    f"an in-place fill of {node.name!r} ({user_frame()}): torchgen lifts it "
                    "only on an item of a copy or of a tensor built from sizes"
                )
            write(base, node.args[1], value)
            return self

    return Writable


def write(proxy: fx.Proxy, key: Any, value: Any) -> None:
    """``proxy[key] = value``, lifted as the module docstring says, or refused."""
    from torch import fx

    tracer = proxy.tracer
    old = proxy.node
    given = fx.node.map_aggregate((key, value), _node_of)
    operands: list[fx.Node] = []
    fx.node.map_arg(given, operands.append)
    concrete = fx.node.map_arg(given, lambda n: tracer.values.get(n, UNKNOWN))
    target = tracer.values.get(old, UNKNOWN)
    if target is UNKNOWN or contains(concrete, UNKNOWN):
        raise _refused(old)
    sized = all(shape_only(n, tracer.values, made=True) for n in operands)
    if sized and shape_only(old, tracer.values, made=True):
        _fold(proxy, target, concrete)
    elif sized and _is_copy(old, tracer) and isinstance(concrete[1], (int, float, bool)):
        _masked(proxy, target, concrete)
    else:
        raise _refused(old)
    tracer.writes.proxies[proxy.node] = proxy  # the user's name: a write through a view finds it


def _refused(node: fx.Node) -> Refused:
    return Refused(
        f"item assignment into {node.name!r} ({user_frame()}): torchgen lifts it into a "
        "tensor built from sizes, or of a number into a copy (x.clone())"
    )


def _fold(proxy: fx.Proxy, target: Any, concrete: tuple) -> None:
    tracer, old = proxy.tracer, proxy.node
    written = target.clone()
    written[concrete[0]] = concrete[1]
    if old.op == "get_attr" and old.target in tracer.writes.made:  # its next write
        setattr(tracer.root, old.target, written)
        tracer.values[old] = written
        return
    proxy.node = _constant(tracer, _assigned_name() or "constant", written)


def _masked(proxy: fx.Proxy, target: Any, concrete: tuple) -> None:
    import torch

    tracer, old = proxy.tracer, proxy.node
    where = torch.zeros_like(target, dtype=torch.bool)
    where[concrete[0]] = True
    # masked_fill makes a copy itself: of the tensor copied, or of the last write's result
    source = old if old in tracer.writes.copies else old.args[0]
    mask = _constant(tracer, f"{source.name}_written", where)
    args = (tracer.proxy(source), tracer.proxy(mask), concrete[1])
    proxy.node = tracer.create_proxy("call_method", "masked_fill", args, {}).node
    tracer.writes.copies.add(proxy.node)


def _constant(tracer: Any, name: str, value: Any) -> fx.Node:
    """A constant of the traced module, read by a new node: a plain attribute, as fx keeps
    one (the lifter makes it a buffer, which ``--weights`` fills)."""
    while hasattr(tracer.root, name):
        name += "_"
    setattr(tracer.root, name, value)
    tracer.writes.made.add(name)
    tracer.writes.fixed.append(f"{name} ({user_frame()})")
    return tracer.create_node("get_attr", name, (), {})


def _is_copy(node: fx.Node, tracer: Any) -> bool:
    """A tensor of its own: ``x.clone()``, or what an earlier write into one made."""
    import torch

    return (
        node in tracer.writes.copies
        or (node.op == "call_method" and node.target in COPIES)
        or (node.op == "call_function" and node.target is torch.clone)
    )


def _node_of(a: Any) -> Any:
    """A proxy's node; anything else as it is."""
    from torch import fx

    return a.node if isinstance(a, fx.Proxy) else a


def _assigned_name() -> str | None:
    """The name the user's line assigns an item of (``attn_mask[h0:h1] = count``: attn_mask)."""
    for frame in reversed(traceback.extract_stack()):
        if is_ours(frame.filename):
            continue
        try:
            tree = ast.parse((frame.line or "").strip())
        except SyntaxError:
            return None
        targets = [t for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets]
        for t in targets:
            if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                return t.value.id.lstrip("_") or None
        return None
    return None
