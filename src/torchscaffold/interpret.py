"""A second, independent evaluation of a resolved description: torch layers built straight from
the IR and its steps executed in order, with none of the generated code involved.

``--check`` and the tests copy a generated model's parameters into it (by position) and compare
outputs: a template that wires a value wrongly, drops a layer, or writes in place over a value
read later gives different numbers here. Every layer runs out of place, on copies of the inputs.
Imports torch; only ``--check`` and the tests use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from torchscaffold.catalog.types import LayerType, OpType
from torchscaffold.shapes.resolved import REQUIRED_PARAM, RClass, ResolvedModel, RInstance, RStep
from torchscaffold.spec.expr import Expr, evaluate

Env = dict[str, Any]


def build(resolved: ResolvedModel) -> nn.Module:
    """The model as the description says it computes, with the default arguments."""
    classes = {c.name: c for c in resolved.classes}
    env = {name: default for name, default in resolved.main.signature}
    return _Class(resolved.main, env, classes)


class _Class(nn.Module):
    def __init__(self, cls: RClass, env: Env, classes: dict[str, RClass]) -> None:
        super().__init__()
        self._description = cls
        self.env = dict(env)
        for name, expr in cls.lets:
            self.env[name] = evaluate(expr, self.env)
        for t in cls.tensors:
            shape = [int(evaluate(s, self.env)) for s in t.shape]
            value = _tensor(t.init, shape, t.std)
            if t.buffer:
                self.register_buffer(t.name, value, persistent=t.persistent)
            else:
                setattr(self, t.name, nn.Parameter(value))
        # A plain module as the container: a ModuleDict's own methods (keys, items) would
        # clash with steps of those names.
        self.parts = nn.Module()
        for step in cls.steps:
            if step.kind == "op":
                continue
            if step.when is not None and not evaluate(step.when, self.env):
                continue  # absent where its condition is false (an Identity in the code)
            self.parts.add_module(_key(step.name), self._module(step, classes))
        for dst, src in cls.ties:
            (d_layer, d_attr), (s_layer, s_attr) = dst.rsplit(".", 1), src.rsplit(".", 1)
            setattr(self._part(d_layer), d_attr, getattr(self._part(s_layer), s_attr))

    def _part(self, name: str) -> nn.Module:
        return self.parts._modules[_key(name)]  # type: ignore[return-value]

    def _module(self, step: RStep, classes: dict[str, RClass]) -> nn.Module:
        if step.kind == "layer":
            return _layer(step, self.env)
        if step.kind in ("sequence", "group"):
            present = [m for m in step.members if m.when is None or evaluate(m.when, self.env)]
            return nn.Sequential(*(self._module(m, classes) for m in present))
        return _Chain(self._instance(i, classes) for i in step.instances)

    def _instance(self, i: RInstance, classes: dict[str, RClass]) -> nn.Module:
        cls = classes[i.block]
        env: Env = {}
        auto = [n for n, d in cls.signature if d is REQUIRED_PARAM]
        for name, expr in zip(auto, i.positional):
            env[name] = evaluate(expr, self.env)
        given = {k: _value(v, self.env) for k, v in i.keywords}
        for name, default in cls.signature:
            if name not in env:
                env[name] = given.get(name, default)
        return _Class(cls, env, classes)

    def forward(self, *inputs: torch.Tensor) -> Any:
        values: dict[str, Any] = {n: x.clone() for n, x in zip(self._description.inputs, inputs)}
        for t in self._description.tensors:
            values[t.name] = getattr(self, t.name)
        for step in self._description.steps:
            args = [values[v] for v in step.inputs]
            present = step.when is None or evaluate(step.when, self.env)
            if not present:
                result: Any = [values[step.otherwise or step.inputs[0]]] * len(step.outputs)
            elif step.kind == "op":
                result = _op(step, args, self.env, values, self.training)
            else:
                module = self._part(step.name)
                if step.kind == "layer":
                    keywords = {k: values[v] if k in step.call_values else v for k, v in step.call}
                    result = _flatten(module(*args, **keywords))
                else:
                    out = module(*args)
                    result = list(out) if isinstance(out, tuple) else [out]
            for name, value in zip(step.outputs, result):
                values[name] = value
        outs = tuple(values[o] for o in self._description.outputs)
        return outs[0] if len(outs) == 1 else outs


class _Chain(nn.ModuleList):
    """A block step's instances: each one's outputs are the next one's first inputs, the rest
    of its inputs (a decoder's memory) passed to every instance as they are."""

    def forward(self, *values: torch.Tensor) -> Any:
        out: Any = values
        for block in self:
            out = block(*values)
            out = out if isinstance(out, tuple) else (out,)
            values = (*out, *values[len(out) :])
        return out[0] if len(out) == 1 else out


def _key(name: str) -> str:
    return name.replace(".", "_")  # a dotted (namespaced) step name, as one module name


def _layer(step: RStep, env: Env) -> nn.Module:
    entry = step.entry
    assert isinstance(entry, LayerType)
    kwargs = {k: _value(v, env) for k, v in step.args}
    kwargs.pop("inplace", None)  # never in place: the generated code must match this
    return getattr(nn, entry.name)(**kwargs)


def _value(v: Any, env: Env, sizes: Callable[[int, str | None], int] | None = None) -> Any:
    if isinstance(v, Expr):
        return evaluate(v, env, sizes)
    if isinstance(v, tuple):
        return tuple(_value(x, env, sizes) for x in v)
    return v


def _tensor(init: str | float, shape: list[int], std: float) -> torch.Tensor:
    if isinstance(init, float):
        return torch.full(shape, init)
    if init == "tril":
        return torch.tril(torch.ones(*shape, dtype=torch.bool))
    if init == "normal":
        return torch.empty(*shape).normal_(std=std)
    return getattr(torch, init)(*shape)


def _flatten(result: Any) -> list[Any]:
    if isinstance(result, tuple):
        return [x for item in result for x in _flatten(item)]
    return [result]


# ---------------------------------------------------------------------------------- ops
def _op(
    step: RStep, args: list[torch.Tensor], env: Env, values: dict[str, Any], training: bool
) -> list[Any]:
    entry = step.entry
    if isinstance(entry, LayerType):  # a functional layer: the module does the same
        return [_layer(step, env).train(training)(*args)]
    assert isinstance(entry, OpType)

    def size(i: int, value: str | None) -> int:
        return int((values[value] if value else args[0]).size(i))

    given = {k: _value(v, env, size) for k, v in step.args}
    a = {arg.name: given.get(arg.name, arg.default) for arg in entry.args}
    for arg in entry.args:
        if arg.while_training and not training:
            a[arg.name] = 0.0
    out = _table_call(entry, args, a) if entry.call else OPS[entry.name](args, a)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _table_call(entry: OpType, xs: list[Any], a: dict[str, Any]) -> Any:
    """A row of the op table as torch's own call: the tensors after the first and the other
    arguments by keyword."""
    keywords = {**dict.fromkeys(entry.unset), **dict(zip(entry.tensors, xs[1:])), **a}
    if entry.call.startswith("."):
        return getattr(xs[0], entry.call[1:])(**keywords)
    module, name = entry.call.split(".")
    return getattr({"torch": torch, "F": F}[module], name)(xs[0], **keywords)


def _narrow(x: torch.Tensor, a: dict[str, Any]) -> torch.Tensor:
    span = a["length"] or x.size(a["dim"]) + (a["stop"] or 0) - a["start"]
    out = torch.narrow(x, a["dim"], a["start"], span)
    return (
        out
        if a["step"] == 1
        else out[(slice(None),) * (a["dim"] % x.dim()) + (slice(None, None, a["step"]),)]
    )


def _binary(fn: Callable[[Any, Any], Any]) -> Callable[[list, dict], Any]:
    return lambda xs, a: fn(xs[0], xs[1] if len(xs) > 1 else a["other"])


OPS: dict[str, Callable[[list, dict], Any]] = {
    "add": _binary(torch.add),
    "sub": _binary(torch.sub),
    "mul": _binary(torch.mul),
    "div": _binary(torch.div),
    "pow": _binary(torch.pow),
    "floordiv": _binary(torch.floor_divide),
    "mod": _binary(torch.remainder),
    **{n: _binary(getattr(torch, n)) for n in ("gt", "lt", "ge", "le", "eq", "ne")},
    "stack": lambda xs, a: torch.stack(xs, dim=a["dim"]),
    "einsum": lambda xs, a: torch.einsum(a["equation"], *xs),
    "matmul": lambda xs, a: torch.matmul(xs[0], xs[1]),
    "concat": lambda xs, a: torch.cat(xs, dim=a["dim"]),
    "split": lambda xs, a: torch.split(xs[0], a["split_size"], dim=a["dim"]),
    "chunk": lambda xs, a: torch.chunk(xs[0], a["chunks"], dim=a["dim"]),
    "reshape": lambda xs, a: torch.reshape(xs[0], a["shape"]),
    "view": lambda xs, a: xs[0].reshape(a["shape"]),
    "flatten": lambda xs, a: torch.flatten(xs[0], a["start_dim"], a["end_dim"]),
    "unflatten": lambda xs, a: torch.unflatten(xs[0], a["dim"], a["sizes"]),
    "permute": lambda xs, a: torch.permute(xs[0], a["dims"]),
    "expand": lambda xs, a: xs[0].expand(*a["sizes"]),
    "select": lambda xs, a: torch.select(xs[0], a["dim"], a["index"]),
    "index": lambda xs, a: xs[0][(slice(None),) * (a["dim"] % xs[0].dim()) + (xs[1],)],
    "narrow": lambda xs, a: _narrow(xs[0], a),
    "scaled_dot_product_attention": lambda xs, a: F.scaled_dot_product_attention(
        *xs, is_causal=a["is_causal"], dropout_p=a["dropout_p"]
    ),
    "arange": lambda xs, a: torch.arange(a["end"], device=xs[0].device),
    "masked_mean": lambda xs, a: (
        torch.sum(xs[0] * xs[1].unsqueeze(-1), dim=a["dim"])
        / torch.sum(xs[1], dim=a["dim"], keepdim=True)
    ),
}


# ---------------------------------------------------------------------------- comparing
def copy_parameters(source: nn.Module, target: nn.Module) -> None:
    """Copy ``source``'s parameters and buffers into ``target`` by position (their names
    differ from style to style); the shapes must agree one for one."""
    with torch.no_grad():
        for kind in ("parameters", "buffers"):
            a, b = list(getattr(source, kind)()), list(getattr(target, kind)())
            if [x.shape for x in a] != [y.shape for y in b]:
                raise AssertionError(
                    f"the {kind} differ: {[tuple(x.shape) for x in a][:8]}... against "
                    f"{[tuple(y.shape) for y in b][:8]}..."
                )
            for x, y in zip(a, b):
                y.copy_(x)


def random_inputs(resolved: ResolvedModel, batch: int = 2, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    out = []
    for i in resolved.inputs:
        shape = (batch, *i.shape)
        if i.dtype == "int64":
            out.append(torch.randint(0, i.vocab or 2, shape, generator=generator))
        elif i.dtype == "bool":
            out.append(torch.ones(shape, dtype=torch.bool))
        else:
            out.append(torch.randn(shape, generator=generator))
    return out
