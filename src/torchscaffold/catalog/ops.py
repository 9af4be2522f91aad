"""Tensor ops: what a forward computes besides calling layers. One entry each.

Rules see whole values, the batch dimension included, and count dimensions as torch does, so a
spec says ``dim = 1`` where the code says ``dim=1``. Arguments of the kinds ``DIM_KINDS`` arrive
as ``Dim``s (they may be expressions, ``size(i)`` included); the others as
plain values. The parameter-free layers (``relu``, ``max_pool2d``, ``softmax``...) are ops too,
under their functional names: see ``functional_ops``.
"""

from __future__ import annotations

from typing import Any

from torchscaffold.catalog import op_rules, rules, table
from torchscaffold.catalog.types import Arg, Dim, Dims, LayerType, OpType, ShapeError

Inputs = list[Dims]


def _binary(name: str, symbol: str, help: str, dtype: str | None = None) -> OpType:
    def rule(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
        if len(inputs) == 1 and a.get("other") is None:
            raise ShapeError(f"{name} needs two inputs, or one and other = a number")
        if len(inputs) == 2 and a.get("other") is not None:
            raise ShapeError(f"{name} takes two inputs or other = a number, not both")
        return (rules.broadcast(inputs),)

    return OpType(
        name=name,
        help=help,
        args=(Arg("other", "number", None),),
        rule=rule,
        code=f"{{0}} {symbol} {{1|other}}",
        inputs=(1, 2),
        roles=frozenset({"elementwise"}),
        dtype=dtype,
    )


def _concat(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (rules.concat(inputs, a["dim"]),)


def _stack(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    first = inputs[0]
    if any(len(x) != len(first) or not all(map(rules.same_dim, x, first)) for x in inputs):
        raise ShapeError(
            "cannot stack values of different shapes: " + ", ".join(map(rules.fmt_dims, inputs))
        )
    d = rules.axis(a["dim"], len(first) + 1)
    return ((*first[:d], Dim.literal(len(inputs)), *first[d:]),)


def _einsum(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    """``torch.einsum(equation, *xs)``: one letter per dim of each input (spaces allowed, no
    ``...``); the output's letters after ``->``, else those used once, in order."""
    equation = a["equation"].replace(" ", "")
    given, _, wanted = equation.partition("->")
    terms = given.split(",")
    if (
        "." in equation
        or len(terms) != len(inputs)
        or not equation.replace(",", "").replace("->", "").isalpha()
    ):
        raise ShapeError(f"einsum {a['equation']!r} does not name each dim of {len(inputs)} inputs")
    sizes: dict[str, Dim] = {}
    for term, x in zip(terms, inputs):
        if len(term) != len(x) or len(set(term)) != len(term):
            raise ShapeError(f"einsum term {term!r} does not fit {rules.fmt_dims(x)}")
        for letter, d in zip(term, x):
            if letter in sizes and not rules.same_dim(sizes[letter], d):
                if sizes[letter].value == 1 and not sizes[letter].varying:
                    sizes[letter] = d
                elif not (d.value == 1 and not d.varying):
                    raise ShapeError(f"einsum dim {letter!r} is {sizes[letter]} and {d}")
            sizes.setdefault(letter, d)
    if "->" not in equation:
        counts = given.replace(",", "")
        wanted = "".join(sorted(c for c in sizes if counts.count(c) == 1))
    if len(set(wanted)) != len(wanted) or any(c not in sizes for c in wanted):
        raise ShapeError(f"einsum output {wanted!r} names a dim twice or one no input has")
    return (tuple(sizes[c] for c in wanted),)


def _split(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return rules.split(inputs[0], a["split_size"], a["dim"])


def _chunk(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return rules.chunk(inputs[0], a["chunks"].value, a["dim"])


def _unbind(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    dims = inputs[0]
    d = rules.axis(a["dim"], len(dims))
    if dims[d].varying:
        raise ShapeError(f"cannot unbind dim {a['dim']}: its size varies at run time")
    return tuple((*dims[:d], *dims[d + 1 :]) for _ in range(dims[d].value))


def _reshape(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (rules.reshape(inputs[0], list(a["shape"])),)


def _flatten(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (rules.flatten_full(inputs[0], a["start_dim"], a["end_dim"]),)


def _unflatten(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (rules.unflatten(inputs[0], a["dim"], list(a["sizes"])),)


def _permute(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (rules.permute(inputs[0], a["dims"]),)


def _select(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (rules.select(inputs[0], a["dim"], a["index"]),)


def _narrow(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    start, step = (v if isinstance(v, Dim) else Dim.literal(v) for v in (a["start"], a["step"]))
    out = rules.narrow(inputs[0], a["dim"], start, a["length"], a["stop"])
    return (rules.every(out, a["dim"], step),)


def _matmul(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (rules.matmul(inputs[0], inputs[1]),)


def _expand(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    dims, sizes = inputs[0], list(a["sizes"])
    if len(sizes) < len(dims):
        raise ShapeError(f"expand to {len(sizes)} dimensions from {len(dims)}")
    padded = (Dim.literal(1),) * (len(sizes) - len(dims)) + dims
    out = []
    for have, want in zip(padded, sizes):
        if want.value == -1 and not want.varying:
            out.append(have)
        elif have.value == 1 and not have.varying:
            out.append(want)
        elif rules.same_dim(have, want):
            out.append(have)
        else:
            raise ShapeError(f"cannot expand a dimension of size {have.value} to {want.value}")
    return (tuple(out),)


def _same(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    return (inputs[0],)


def _sdpa(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    """scaled_dot_product_attention: (..., L, E) queries over (..., S, E) keys and (..., S, Ev)
    values give (..., L, Ev)."""
    q, k, v = inputs[:3]
    for name, x in zip("qkv", (q, k, v)):
        if len(x) < 2:
            raise ShapeError(f"{name} must have at least 2 dimensions, got {rules.fmt_dims(x)}")
    if not rules.same_dim(q[-1], k[-1]):
        raise ShapeError(
            f"query {rules.fmt_dims(q)} and key {rules.fmt_dims(k)} differ in their last dim"
        )
    if not rules.same_dim(k[-2], v[-2]):
        raise ShapeError(f"key {rules.fmt_dims(k)} and value {rules.fmt_dims(v)} differ in length")
    batch = rules.broadcast([q[:-2], k[:-2], v[:-2]])
    if len(inputs) == 4:
        if a["is_causal"]:
            raise ShapeError("give is_causal or a mask, not both")
        rules.broadcast([inputs[3], (*batch, q[-2], k[-2])])
    return ((*batch, q[-2], v[-1]),)


def _arange(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    end = a["end"]
    if end.value < 1:
        raise ShapeError(f"arange needs end >= 1, got {end.value}")
    return ((end,),)


def _masked_mean(inputs: Inputs, a: dict[str, Any]) -> tuple[Dims, ...]:
    """The mean of x (N, L, E) over the positions where mask (N, L) is true."""
    x, mask = inputs
    d = rules.axis(a["dim"], len(x))
    if len(mask) != d + 1 or any(not rules.same_dim(m, y) for m, y in zip(mask, x)):
        raise ShapeError(
            f"mask {rules.fmt_dims(mask)} must be x {rules.fmt_dims(x)} up to dim {a['dim']}"
        )
    return ((*x[:d], *x[d + 1 :]),)


OPS: dict[str, OpType] = {
    op.name: op
    for op in [
        _binary("add", "+", "x + y (broadcasting), or x + other"),
        _binary("sub", "-", "x - y (broadcasting), or x - other"),
        _binary("mul", "*", "x * y (broadcasting), or x * other"),
        _binary("div", "/", "x / y (broadcasting), or x / other"),
        _binary("pow", "**", "x ** y (broadcasting), or x ** other"),
        _binary("floordiv", "//", "x // y (broadcasting), or x // other: index arithmetic"),
        _binary("mod", "%", "x % y (broadcasting), or x % other: index arithmetic"),
        *(
            _binary(
                name, symbol, f"x {symbol} y (broadcasting), or x {symbol} other: a mask", "bool"
            )
            for name, symbol in (
                ("gt", ">"),
                ("lt", "<"),
                ("ge", ">="),
                ("le", "<="),
                ("eq", "=="),
                ("ne", "!="),
            )
        ),
        OpType(
            name="matmul",
            help="x @ y: matrix product, batched over leading dims",
            args=(),
            rule=_matmul,
            code="{0} @ {1}",
            inputs=(2, 2),
            # mm/bmm write a new tensor in order, whatever their inputs' strides
            roles=frozenset({"fresh"}),
        ),
        OpType(
            name="concat",
            help="torch.cat of the inputs along dim (all other dims equal)",
            args=(Arg("dim", "dim", 1, always=True),),
            rule=_concat,
            code="torch.cat([{inputs}], {args})",
            inputs=(2, None),
        ),
        OpType(
            name="einsum",
            help='torch.einsum(equation, x, y...): "bhid,bhjd->bhij", one letter per dim',
            args=(Arg("equation", "equation"),),
            rule=_einsum,
            code="torch.einsum({equation}, {inputs})",
            inputs=(1, None),
        ),
        OpType(
            name="stack",
            help="torch.stack of the inputs along a new dim (all of one shape)",
            args=(Arg("dim", "dim", 0),),
            rule=_stack,
            code="torch.stack([{inputs}], {args})",
            inputs=(1, None),
        ),
        OpType(
            name="split",
            help="x.split(split_size, dim): pieces of split_size (or the sizes listed); name "
            "each piece in out",
            args=(Arg("split_size", "ints"), Arg("dim", "dim", 0)),
            rule=_split,
            code="{0}.split({split_size}, {args})",
            roles=frozenset({"view", "several"}),
        ),
        OpType(
            name="chunk",
            help="x.chunk(chunks, dim): that many pieces; name each in out",
            args=(Arg("chunks", "int"), Arg("dim", "dim", 0)),
            rule=_chunk,
            code="{0}.chunk({chunks}, {args})",
            roles=frozenset({"view", "several"}),
        ),
        OpType(
            name="unbind",
            help="x.unbind(dim): one value per position of dim (q, k, v = qkv.unbind(0))",
            args=(Arg("dim", "dim", 0),),
            rule=_unbind,
            code="{0}.unbind({args})",
            roles=frozenset({"view", "several"}),
        ),
        OpType(
            name="reshape",
            help="x.reshape(shape): shape counts the batch; -1 once, size(i) for a run-time size",
            args=(Arg("shape", "new_shape"),),
            rule=_reshape,
            code="{0}.reshape({shape*})",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="view",
            help="x.view(shape): as reshape, on a contiguous value",
            args=(Arg("shape", "new_shape"),),
            rule=_reshape,
            code="{0}.view({shape*})",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="flatten",
            help="x.flatten(start_dim, end_dim)",
            args=(Arg("start_dim", "dim", 1, always=True), Arg("end_dim", "dim", -1)),
            rule=_flatten,
            code="{0}.flatten({args})",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="unflatten",
            help="x.unflatten(dim, sizes): one dim into several (-1 once)",
            args=(Arg("dim", "dim"), Arg("sizes", "new_shape")),
            rule=_unflatten,
            code="{0}.unflatten({dim}, {sizes})",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="permute",
            help="x.permute(dims)",
            args=(Arg("dims", "dims"),),
            rule=_permute,
            code="{0}.permute({dims*})",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="expand",
            help="x.expand(sizes): repeat dimensions of size 1 without copying (-1 keeps one); "
            'sizes ["x.size(0)", -1, -1] expand a class token to x\'s batch',
            args=(Arg("sizes", "new_shape"),),
            rule=_expand,
            code="{0}.expand({sizes*})",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="select",
            help="x.select(dim, index), written x[:, index]: drops dim",
            args=(Arg("dim", "dim"), Arg("index", "dim")),
            rule=_select,
            code="{0}[{index@dim}]",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="index",
            help="x[:, idx]: the positions an integer tensor idx holds along dim (idx's shape "
            "takes that dim's place)",
            args=(Arg("dim", "dim", 0),),
            rule=op_rules.take,
            code="{0}[{1@dim}]",
            inputs=(2, 2),
        ),
        OpType(
            name="narrow",
            help="x.narrow(dim, start, length), written x[:, start:start + length]; without "
            "length x[:, start:], or x[:, start:stop] to a stop counted from the end (< 0); "
            "every step-th of them with step (x[:, ::2])",
            args=(
                Arg("dim", "dim"),
                Arg("start", "int", 0, minimum=0),
                Arg("length", "int", None),
                Arg("stop", "dim", None),
                Arg("step", "int", 1),
            ),
            rule=_narrow,
            code="{0}[{slice@dim}]",
            roles=frozenset({"view"}),
        ),
        OpType(
            name="scaled_dot_product_attention",
            help="F.scaled_dot_product_attention(q, k, v[, mask], is_causal=...)",
            args=(
                Arg("is_causal", "bool", False),
                Arg("dropout_p", "prob", 0.0, while_training=True),
            ),
            rule=_sdpa,
            code="F.scaled_dot_product_attention({inputs}, {args})",
            inputs=(3, 4),
        ),
        OpType(
            name="arange",
            help="torch.arange(end) on the input's device: positions 0..end-1 (no batch)",
            args=(Arg("end", "int"),),
            rule=_arange,
            code="torch.arange({end}, device={0}.device)",
            integer_output=True,
        ),
        OpType(
            name="masked_mean",
            help="the mean of x over dim where mask (x's shape up to dim) is true: a padded "
            "batch's mean over its valid positions",
            args=(Arg("dim", "dim", 1, always=True),),
            rule=_masked_mean,
            code="({0} * {1}.unsqueeze(-1)).sum({dim}) / {1}.sum({dim}, keepdim=True)",
            inputs=(2, 2),
            dtype="float32",
        ),
        *table.ROWS,
    ]
}


def functional_ops(layers: dict[str, LayerType]) -> dict[str, OpType]:
    """Each parameter-free layer's functional form as an op: ``relu`` for ``F.relu``,
    ``max_pool2d`` for ``F.max_pool2d``. The op takes the layer's arguments; the resolver
    applies the layer's own shape rule to it."""
    out = {}
    for layer in layers.values():
        if layer.functional is None:
            continue
        name = layer.functional.rsplit(".", 1)[1]
        out[name] = OpType(
            name=name,
            help=f"{layer.functional}(x, ...): the functional form of nn.{layer.name}",
            args=layer.args,
            rule=_same,  # replaced by the layer's rule in shape inference
            code="",
            roles=frozenset({"functional"}),
            needs_training=layer.needs_training,
        )
    return out
