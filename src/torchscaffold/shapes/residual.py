"""The residual block, short to write: ``residual = true`` makes forward
``after(steps(x) + shortcut(x))``, where the shortcut is the identity, or a projection (torchvision's
``downsample``: a strided 1x1 convolution and the body's batch norm, or a linear layer) in the
instances where the steps change the shape.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from torchscaffold import catalog
from torchscaffold.catalog.types import LayerType
from torchscaffold.errors import TorchgenError
from torchscaffold.shapes import scope
from torchscaffold.shapes.resolved import RStep
from torchscaffold.shapes.values import Val
from torchscaffold.spec.expr import BinOp, Expr, Lit, simplify

if TYPE_CHECKING:
    from torchscaffold.shapes.resolver import _ClassScope

IDENTITY, SUM = "identity", "residual"


def attach(s: _ClassScope, after_names: list[str], body_out: str) -> str:
    """Add the shortcut, the sum and the ``after`` steps to ``s``; return the last value."""
    x = s.b.inputs[0]
    s.steps[:] = [replace(st, label="body") for st in s.steps]
    position = len(s.steps)
    x_val, out_val = s._read(x, position), s.values[body_out]
    layers = [st for st in s.steps if st.kind == "layer" and isinstance(st.entry, LayerType)]
    norms = [st.name for st in layers if st.entry.has("norm")]
    s.residual_norm = norms[-1] if norms else None
    shortcut = _projection(s, layers, x_val, out_val)
    identity = x
    if shortcut is not None:
        step, needed, params = shortcut
        s.steps.append(replace(step, named=True))
        s.params += params if needed else 0
        s.values[IDENTITY] = Val(out_val.dims, out_val.dtype) if needed else x_val
        if not needed:
            s.aliases[IDENTITY] = x
        identity = IDENTITY
    add = catalog.op("add")
    position = len(s.steps)
    s._read(body_out, position)
    if identity != x:
        s._read(identity, position)
    else:
        s._read(x, position)
    s.steps.append(
        RStep(
            "op",
            "add",
            add,
            inputs=(body_out, identity),
            outputs=(SUM,),
            out_shapes=(out_val.sample,),
        )
    )
    s.values[SUM] = out_val
    previous = SUM
    for step, name in zip(s.b.after, after_names):
        wired = scope.Wired(0, step, name, (previous,), (name,))
        s._step(wired)
        s.steps[-1] = replace(s.steps[-1], label="after")
        previous = name
    return previous


def _projection(
    s: _ClassScope, layers: list[RStep], x: Val, out: Val
) -> tuple[RStep, bool, int] | None:
    """The shortcut step, whether this instance needs it, and its parameters; None where the
    shortcut is always the identity."""
    where = s.where
    same = x.sample == out.sample
    if len(x.dims) != len(out.dims):
        raise TorchgenError(
            f"{where}: the residual body maps {x} to {out}; a shortcut needs both of the same rank"
        )
    convs = [st for st in layers if st.entry.has("conv")]
    linears = [st for st in layers if st.entry.has("linear")]
    if not s.b.projection or not (convs or linears):
        if not same:
            raise TorchgenError(
                f"{where}: the residual body maps {x} to {out}, and the shortcut cannot project "
                "(projection = false, or no conv or linear layer)"
            )
        return None
    if convs:
        feature = 1
        strides = {_arg(st, "stride", Lit(1)) for st in convs} - {Lit(1)}
        if len(strides) > 1:
            raise TorchgenError(f"{where}: a residual body may downsample in one layer only")
        stride = strides.pop() if strides else Lit(1)
    else:
        feature = len(x.dims) - 1
        stride = Lit(1)
    in_expr = s._ctor(x.dims[feature], "the shortcut's input size")
    out_expr = s._ctor(out.dims[feature], "the shortcut's output size")
    conditions: list[Expr] = []
    if stride != Lit(1):
        conditions.append(BinOp("!=", stride, Lit(1)))
    if in_expr != out_expr:
        conditions.append(BinOp("!=", in_expr, out_expr))
    if not conditions:
        if not same:
            raise TorchgenError(
                f"{where}: the residual body maps {x} to {out}, which no projection fixes"
            )
        return None
    condition = conditions[0]
    for c in conditions[1:]:
        condition = BinOp("or", condition, c)
    condition = simplify(condition)
    x_out, y_out = x.dims[feature].value, out.dims[feature].value
    if convs:
        n = len(x.dims) - 2
        conv = catalog.layer(f"Conv{n}d")
        conv_args = [("in_channels", in_expr), ("out_channels", out_expr), ("kernel_size", Lit(1))]
        if stride != Lit(1):
            conv_args.append(("stride", stride))
        conv_args.append(("bias", False))
        members = [RStep("layer", "0", conv, args=tuple(conv_args))]
        norm = next((st.entry for st in layers if st.entry.has("batchnorm")), None)
        if norm is not None:
            members.append(RStep("layer", "1", norm, args=(("num_features", out_expr),)))
        s_value = max(_value(stride, s), 1)
        expected = (y_out, *(-(-d // s_value) for d in x.sample[1:]))
        needed = s_value != 1 or x_out != y_out
        params = x_out * y_out + (2 * y_out if norm is not None else 0)
    else:
        linear = catalog.layer("Linear")
        members = [
            RStep("layer", "0", linear, args=(("in_features", in_expr), ("out_features", out_expr)))
        ]
        expected = (*x.sample[:-1], y_out)
        needed = x_out != y_out
        params = (x_out + 1) * y_out
    if out.sample != (expected if needed else x.sample):
        raise TorchgenError(
            f"{where}: the residual body maps {x} to {out}, which a strided 1x1 projection "
            "cannot match (check padding)"
        )
    step = RStep(
        "sequence",
        s.b.shortcut,
        inputs=(s.b.inputs[0],),
        outputs=(IDENTITY,),
        members=tuple(members),
        when=condition,
        otherwise=s.b.inputs[0],
        out_shapes=(out.sample,),
        params=params if needed else 0,
    )
    for expr in (in_expr, out_expr, stride):
        s.ctor_exprs.append(expr)
    return step, needed, params


def _arg(step: RStep, name: str, default: Expr) -> Expr:
    value = dict(step.args).get(name, default)
    if isinstance(value, tuple):  # (2, 2): the same stride on every axis reads as one
        return value[0] if len(set(value)) == 1 else Lit(max(_lit(v) for v in value))
    return value if isinstance(value, Expr) else Lit(value)


def _lit(value: object) -> int:
    return value.value if isinstance(value, Lit) else int(value)  # type: ignore[arg-type]


def _value(expr: Expr, s: _ClassScope) -> int:
    return int(s._eval(expr, "the shortcut's stride"))
