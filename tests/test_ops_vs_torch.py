"""Every row of the op table (catalog.table) agrees with torch: its shape rule, the call its
code pattern writes, and the call ``--check`` makes.

Hypothesis draws input shapes (the tensors an op takes drawn to fit the first, mostly) and
arguments, valid or not; the rendered call runs on the meta device. Where the rule predicts a
shape, the rendered call and the interpreter's call must both produce it; where the rule
refuses, torch must fail too (on the CPU where the meta kernels check less).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from torchscaffold.catalog import Dim, OpType, ShapeError, table
from torchscaffold.catalog.types import DIM_KINDS, values
from torchscaffold.render import code
from torchscaffold.shapes.resolved import RStep

ROWS = {op.name: op for op in table.ROWS}
SIZE = st.integers(1, 5)
# Ops on integer tensors: which inputs hold indices (into what).
INTEGER = {("gather", 1), ("embedding", 0)}
MASKS = {("where", 0), ("masked_fill", 1)}


def _shape(data, label: str, lo: int = 1, hi: int = 4) -> tuple[int, ...]:
    return tuple(data.draw(st.lists(SIZE, min_size=lo, max_size=hi), label=label))


def _near(data, shape: tuple[int, ...], label: str) -> tuple[int, ...]:
    """A shape that mostly fits ``shape``: it, a suffix of it, some dims set to 1; or any."""
    if not data.draw(st.integers(0, 4), label=f"{label} fits"):
        return _shape(data, label, 0)
    cut = data.draw(st.integers(0, len(shape)), label=f"{label} suffix")
    return tuple(1 if data.draw(st.booleans(), label=f"{label} ones") else s for s in shape[cut:])


def _fits(data, shape: tuple[int, ...], label: str) -> tuple[int, ...]:
    """``shape`` now and then off by one somewhere."""
    if data.draw(st.integers(0, 5), label=f"{label} fits") or not shape:
        return shape
    i = data.draw(st.integers(0, len(shape) - 1), label=f"{label} off at")
    return (*shape[:i], shape[i] + 1, *shape[i + 1 :])


def _draw_arg(data, op: OpType, arg, x: tuple[int, ...]) -> Any:
    rank = max(len(x), 1)
    dim = st.integers(-rank - 1, rank)
    kinds = {
        "dim": dim,
        "dims_or_dim": dim | st.lists(dim, min_size=1, max_size=2),
        "dims": st.lists(dim, min_size=1, max_size=3),
        "opt_dims": st.none() | dim | st.lists(dim, min_size=1, max_size=2),
        "bool": st.booleans(),
        "float": st.floats(0.1, 3.0),
        "number": st.floats(-2.0, 2.0),
        "opt_number": st.none() | st.floats(-2.0, 2.0),
        "choice": st.sampled_from(arg.choices),
        "size": st.integers(1, 3),
        "padding": st.integers(0, 2) | st.sampled_from(["same", "valid"]),
        "int": st.integers(1, 4),
        "ints": st.lists(st.integers(-2, 3), min_size=1, max_size=6),
    }
    if arg.name == "normalized_shape":
        k = data.draw(st.integers(1, len(x)), label="normalised dims")
        return _fits(data, x[len(x) - k :], "normalized_shape")
    if arg.name == "shifts":
        return data.draw(st.integers(-3, 3) | st.lists(st.integers(-3, 3), max_size=2), label="s")
    return data.draw(kinds[arg.kind], label=arg.name)


def _draw_tensor(data, op: OpType, name: str, x: tuple[int, ...], args: dict) -> tuple:
    """The shape of the op's tensor ``name`` beside a first input of shape ``x``."""
    if op.name in ("layer_norm",):
        return _fits(data, tuple(args["normalized_shape"]), name)
    if op.name in ("group_norm", "batch_norm", "batch_stats_norm"):
        return _fits(data, x[1:2], name)
    if op.name == "linear" and name == "weight":
        out = data.draw(SIZE, label="out_features")
        return _fits(data, (out, x[-1]) if data.draw(st.integers(0, 5)) else (x[-1],), name)
    if op.name == "linear":  # the bias
        return _fits(data, (args["_out"],), name)
    if op.name.startswith("conv") and name == "weight":
        n = int(op.name[4])
        out = data.draw(SIZE, label="out_channels") * args.get("groups", 1)
        k = tuple(data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n), label="k"))
        per_group = x[1] // args.get("groups", 1) if len(x) > 1 else 1
        return _fits(data, (out, max(per_group, 1), *k), name)
    if op.name.startswith("conv"):
        return _fits(data, (args["_out"],), name)
    if op.name == "embedding":
        return (data.draw(SIZE, label="num"), data.draw(SIZE, label="dim"))
    if op.name == "gather":
        return tuple(min(s, data.draw(SIZE, label="index size")) for s in _fits(data, x, name))
    if op.name in ("view_as", "reshape_as"):
        return (
            data.draw(st.permutations(x), label=name)
            if data.draw(st.booleans())
            else _shape(data, name)
        )
    if op.name == "expand_as":
        return (*_shape(data, "lead", 0, 2), *x) if data.draw(st.booleans()) else _shape(data, name)
    return _near(data, x, name)


def _draw_case(data, op: OpType) -> tuple[list[tuple], dict[str, Any]]:
    lo = 3 if op.name.startswith("conv") else 1
    x = _shape(data, "x", lo, lo + 2)
    if op.name.startswith("conv"):
        n = int(op.name[4])
        x = _shape(data, "x", n + 2, n + 2) if data.draw(st.integers(0, 5)) else x
    args: dict[str, Any] = {}
    for arg in op.args:
        if arg.required or data.draw(st.booleans(), label=f"give {arg.name}"):
            args[arg.name] = _draw_arg(data, op, arg, x)
    shapes = [x]
    lo_count = op.inputs[0] - 1
    count = data.draw(st.integers(lo_count, len(op.tensors)), label="tensors given")
    for name in op.tensors[:count]:
        shapes.append(_draw_tensor(data, op, name, x, args))
        if name == "weight" and (op.name == "linear" or op.name.startswith("conv")):
            args["_out"] = shapes[-1][0] if len(shapes[-1]) > 1 else 1
    args.pop("_out", None)
    return shapes, args


def _tensors(torch, op: OpType, shapes: list[tuple], device: str) -> list:
    out = []
    for i, shape in enumerate(shapes):
        if (op.name, i) in INTEGER:
            out.append(torch.zeros(shape, dtype=torch.long, device=device))
        elif (op.name, i) in MASKS:
            out.append(torch.zeros(shape, dtype=torch.bool, device=device))
        else:
            out.append(torch.rand(shape, device=device) + 0.5)
    return out


def _call(op: OpType, args: dict[str, Any], count: int) -> str:
    """The call the generated forward writes for this op."""
    step = RStep(
        kind="op",
        name="y",
        entry=op,
        args=tuple((a.name, args[a.name]) for a in op.args if a.name in args),
        inputs=tuple(f"x{i}" for i in range(count)),
        outputs=("y",),
    )
    return code.op(step, list(step.inputs), code.INIT)


def _predict(op: OpType, shapes: list[tuple], args: dict[str, Any]) -> tuple | None:
    given = {a.name: args.get(a.name, None if a.required else a.default) for a in op.args}
    for a in op.args:
        if a.kind in DIM_KINDS and given[a.name] is not None:
            v = given[a.name]
            given[a.name] = (
                tuple(map(Dim.literal, v)) if isinstance(v, tuple | list) else (Dim.literal(v))
            )
    try:
        (out,) = op.rule([tuple(map(Dim.literal, s)) for s in shapes], given)
    except ShapeError:
        return None
    return values(out)


def _refused_on_purpose(name: str, args: dict) -> bool:
    """What a rule refuses though some kernel runs it, as the rule's docstring says: reflect,
    replicate or circular padding that crops (torch's kernels differ on it by mode)."""
    return name == "pad" and args.get("mode", "constant") != "constant" and min(args["pad"]) < 0


@pytest.mark.parametrize("name", sorted(ROWS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_row_matches_torch(torch, name, data):
    from torchscaffold import interpret

    op = ROWS[name]
    shapes, args = _draw_case(data, op)
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    predicted = _predict(op, shapes, args)
    event("refused" if predicted is None else "predicted")
    call = _call(op, args, len(shapes))
    scope = {"torch": torch, "F": torch.nn.functional}
    try:
        tensors = _tensors(torch, op, shapes, "meta")
        y = eval(call, scope | {f"x{i}": t for i, t in enumerate(tensors)})
    except Exception as exc:  # noqa: BLE001 - any refusal by torch counts
        assert predicted is None, f"{call} on {shapes}: torch refused ({exc}), rule {predicted}"
        return
    if predicted is None and 0 in y.shape:
        return  # torch returns an empty tensor; the rule refuses a value of no elements
    if predicted is None and _refused_on_purpose(name, args):
        return
    if predicted is None:
        with pytest.raises(Exception):  # noqa: B017 - the CPU kernel checks what meta skips
            tensors = _tensors(torch, op, shapes, "cpu")
            eval(call, scope | {f"x{i}": t for i, t in enumerate(tensors)})
        return
    assert tuple(y.shape) == predicted, call
    a = {arg.name: args.get(arg.name, arg.default) for arg in op.args}
    again = interpret._table_call(op, _tensors(torch, op, shapes, "meta"), a)
    assert tuple(again.shape) == predicted, f"interpret: {op.call} {a}"


def test_every_row_is_reachable_by_its_names(torch):
    """Each row's functions exist under torch or F, and its methods on tensors."""
    import torch.nn.functional as F

    for op in table.ROWS:
        assert any(hasattr(m, n) for m in (torch, F) for n in op.functions) or op.methods, op.name
        for m in op.methods:
            assert hasattr(torch.Tensor, m), f"{op.name}: no method {m}"


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_index_by_a_tensor_matches_torch(torch, data):
    """``x[:, idx]``: the index op's rule and its written form against torch."""
    from torchscaffold.catalog import op

    entry = op("index")
    x, idx = _shape(data, "x"), _shape(data, "idx", 1, 2)
    dim = data.draw(st.integers(-len(x) - 1, len(x)), label="dim")
    predicted = _predict(entry, [x, idx], {"dim": dim})
    call = _call(entry, {"dim": dim}, 2)
    scope = {"x0": torch.rand(x, device="meta"), "x1": torch.zeros(idx, dtype=torch.long)}
    try:
        y = eval(call, scope | {"x1": scope["x1"].to("meta")})
    except Exception:  # noqa: BLE001 - any refusal by torch counts
        assert predicted is None, call
        return
    assert tuple(y.shape) == predicted, call


BINARY = ["add", "sub", "mul", "div", "pow", "floordiv", "mod", "gt", "lt", "ge", "le", "eq", "ne"]


@pytest.mark.parametrize("name", [*BINARY, "stack"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_operators_and_stack_match_torch(torch, name, data):
    """The written operators (``x > y``, ``x // 2``) and ``torch.stack`` against torch."""
    from torchscaffold.catalog import op

    entry = op(name)
    x = _shape(data, "x")
    count = data.draw(st.integers(1, 3), label="inputs") if name == "stack" else 2
    shapes = [x] + [_near(data, x, f"y{i}") for i in range(count - 1)]
    args = {"dim": data.draw(st.integers(-len(x) - 2, len(x) + 1), label="dim")}
    if name != "stack":
        args = {}
        if data.draw(st.booleans(), label="a number"):
            shapes, args = [x], {"other": data.draw(st.floats(0.5, 2.0), label="other")}
    predicted = _predict(entry, shapes, args)
    call = _call(entry, args, len(shapes))
    _agrees_with_torch(torch, call, shapes, predicted)


def _agrees_with_torch(torch, call: str, shapes: list, predicted: tuple | None) -> None:
    """torch computes ``call`` on meta tensors of ``shapes`` with the predicted shape, or
    refuses it where the rule refuses."""
    tensors = {f"x{i}": torch.rand(s, device="meta") for i, s in enumerate(shapes)}
    try:
        y = eval(call, {"torch": torch, **tensors})
    except Exception:  # noqa: BLE001 - any refusal by torch counts
        assert predicted is None, call
        return
    assert tuple(y.shape) == predicted, call


EQUATIONS = [
    "bhid,bhjd->bhij",
    "B G H I J, B G H J D -> B G H I D",
    "ij,jk",
    "nm,hnm->h",
    "bij->bji",
    "byhwc,hkc->byhwk",
]


@pytest.mark.parametrize("equation", EQUATIONS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_einsum_matches_torch(torch, equation, data):
    """The einsum rule against torch: a size per letter, now and then one that does not fit."""
    from torchscaffold.catalog import op

    entry = op("einsum")
    sizes = {c: data.draw(SIZE, label=c) for c in sorted(set(equation) - set(" ,->"))}
    terms = equation.replace(" ", "").split("->")[0].split(",")
    shapes = [[sizes[c] for c in term] for term in terms]
    if not data.draw(st.integers(0, 3), label="fits"):
        shapes[-1][-1] += 1
    shapes = [tuple(s) for s in shapes]
    predicted = _predict(entry, shapes, {"equation": equation})
    call = _call(entry, {"equation": equation}, len(shapes))
    _agrees_with_torch(torch, call, shapes, predicted)
