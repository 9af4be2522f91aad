"""The torch functions and tensor methods ordinary model code calls: one row each, an op made
from it.

A row names the call the generated code writes (``F.layer_norm``, ``torch.roll``, or
``.softmax`` for a method), its parameters in torch's order (``T(...)``: a tensor, an input of
the op; ``Arg``: anything else), and a shared shape rule (``op_rules``). From that one row come
the op's code pattern (the tensors and the required arguments by position, the rest by keyword,
as a reader writes the call), which calls eject maps to it (the function under ``torch``,
``F`` or ``torch._C._nn``, and the method of that name, unless the row says otherwise), and how
``--check`` evaluates it. A new op is one row; tests/test_ops_vs_torch.py checks each against
torch on the meta device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torchscaffold.catalog import op_rules as r
from torchscaffold.catalog.types import Arg, OpType

Rule = Callable[[list, dict[str, Any]], tuple]


@dataclass(frozen=True)
class T:
    """A tensor parameter: one of the op's inputs."""

    name: str
    optional: bool = False


@dataclass(frozen=True)
class Unset:
    """A tensor parameter the row's call passes as None (``F.batch_norm`` without running
    statistics): written ``None`` in its place; a call that gives it is another row's."""

    name: str


def row(
    name: str,
    call: str,
    params: tuple[T | Arg | Unset, ...],
    rule: Rule,
    help: str,
    *,
    also: tuple[str, ...] = (),
    methods: bool = True,
    dtype: str | None = None,
    integer_output: bool = False,
    roles: tuple[str, ...] = (),
) -> OpType:
    """The op of one row. ``params`` leave out the first tensor (``input``, or ``self`` of a
    method); ``also``: more names eject knows the call by; ``methods``: whether the tensor
    method of the name is the same call."""
    tensors = tuple(p for p in params if isinstance(p, T))
    args = tuple(p for p in params if isinstance(p, Arg))
    positional = ["{0}"]
    k = 1
    for p in params:
        if isinstance(p, T) and not p.optional:
            positional.append(f"{{{k}}}")
            k += 1
        elif isinstance(p, T):
            positional.append(f"{{{k}:}}")  # this one and every tensor after it, as given
            break
        elif isinstance(p, Unset):
            positional.append("None")
        elif not p.keyword and p.required:
            positional.append(f"{{{p.name}}}")
    positional.append("{args}")
    if call.startswith("."):
        code = f"{{0}}{call}({', '.join(positional[1:])})"
    else:
        code = f"{call}({', '.join(positional)})"
    names = (name, *also)
    return OpType(
        name=name,
        help=help,
        args=args,
        rule=rule,
        code=code,
        inputs=(1 + sum(not t.optional for t in tensors), 1 + len(tensors)),
        roles=frozenset(roles),
        dtype=dtype,
        integer_output=integer_output,
        call=call,
        tensors=tuple(t.name for t in tensors),
        unset=tuple(p.name for p in params if isinstance(p, Unset)),
        params=tuple(p.name for p in params),
        functions=names,
        methods=names if methods else tuple(n for n in names if n == call.lstrip(".")),
    )


def _unary(name: str, what: str) -> OpType:
    return row(name, f"torch.{name}", (), r.keep, f"torch.{name}(x): {what}, elementwise")


DIM = Arg("dim", "dim")
KEEPDIM = Arg("keepdim", "bool", False)
EPS = Arg("eps", "float", 1e-5)
# F.batch_norm's parameters after the running statistics.
BATCH_NORM = (
    T("weight", True),
    T("bias", True),
    Arg("training", "bool", False),
    Arg("momentum", "float", 0.1),
    EPS,
)
PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _reduce(name: str, what: str, *, integer: bool = False) -> OpType:
    """``integer``: the index of an extreme (argmax), over one dim only."""
    return row(
        name,
        f".{name}",
        (Arg("dim", "dim" if integer else "dims_or_dim", keyword=True), KEEPDIM),
        r.reduce,
        f"x.{name}(dim, keepdim): {what} over dim (an int or a list)",
        integer_output=integer,
    )


ROWS: tuple[OpType, ...] = (
    # -- elementwise, one value ------------------------------------------------------------
    *(
        _unary(n, w)
        for n, w in (
            ("abs", "|x|"),
            ("neg", "-x"),
            ("exp", "e**x"),
            ("log", "the natural log"),
            ("sqrt", "the square root"),
            ("rsqrt", "1 / sqrt(x)"),
            ("sin", "the sine"),
            ("cos", "the cosine"),
            ("erf", "the error function"),
            ("reciprocal", "1 / x"),
            ("sign", "the sign"),
            ("floor", "rounded down"),
            ("square", "x * x"),
        )
    ),
    row(
        "contiguous",
        ".contiguous",
        (),
        r.keep,
        "x.contiguous(): the same values, laid out in order",
        roles=("view",),
    ),
    row("float", ".float", (), r.keep, "x.float(): a mask or ids as float32", dtype="float32"),
    row(
        "logical_not",
        ".logical_not",
        (),
        r.keep,
        "x.logical_not(): a mask inverted (a key padding mask from an attention mask)",
        dtype="bool",
    ),
    row(
        "clamp",
        "torch.clamp",
        (Arg("min", "opt_number", None), Arg("max", "opt_number", None)),
        r.clamp,
        "torch.clamp(x, min, max): limited to [min, max] (either may be left out)",
        also=("clip",),
    ),
    row(
        "hardtanh",
        "F.hardtanh",
        (Arg("min_val", "number", -1.0), Arg("max_val", "number", 1.0)),
        r.hardtanh,
        "F.hardtanh(x, min_val, max_val): x clamped to [min_val, max_val]",
        methods=False,
    ),
    *(
        row(n, f"F.{n}", (), r.keep, f"F.{n}(x): {w}", methods=False)
        for n, w in (
            ("selu", "the scaled ELU"),
            ("softsign", "x / (1 + |x|)"),
            ("logsigmoid", "log(sigmoid(x))"),
            ("tanhshrink", "x - tanh(x)"),
        )
    ),
    # -- elementwise along a dim ------------------------------------------------------------
    row(
        "log_softmax",
        "F.log_softmax",
        (Arg("dim", "dim", keyword=True),),
        r.keep_along,
        "F.log_softmax(x, dim): log of the softmax over dim",
    ),
    *(
        row(n, f".{n}", (Arg("dim", "dim"),), r.keep_along, f"x.{n}(dim): {w} along dim")
        for n, w in (("cumsum", "the running sum"), ("cumprod", "the running product"))
    ),
    row(
        "normalize",
        "F.normalize",
        (Arg("p", "float", 2.0), Arg("dim", "dim", 1), Arg("eps", "float", 1e-12)),
        r.keep_along,
        "F.normalize(x, p, dim): x divided by its p-norm over dim",
        methods=False,
    ),
    # -- elementwise, several values --------------------------------------------------------
    row(
        "where",
        "torch.where",
        (T("input"), T("other")),
        r.broadcast,
        "torch.where(condition, x, y): x where the condition holds, else y (broadcast)",
        methods=False,
    ),
    row(
        "addcmul",
        "torch.addcmul",
        (T("tensor1"), T("tensor2"), Arg("value", "number", 1)),
        r.broadcast,
        "torch.addcmul(x, a, b, value): x + value * a * b (broadcast)",
    ),
    *(
        row(n, f"torch.{n}", (T("other"),), r.broadcast, f"torch.{n}(x, y): {w} (broadcast)")
        for n, w in (("maximum", "the larger"), ("minimum", "the smaller"))
    ),
    row(
        "masked_fill",
        ".masked_fill",
        (T("mask"), Arg("value", "number")),
        r.broadcast,
        "x.masked_fill(mask, value): value where the mask is true (broadcast)",
    ),
    # Views, but of strides shapes.layout does not follow: aliases of their input.
    *(
        row(n, f".{n}", (T("other"),), rule, f"x.{n}(y): {w}", roles=("alias",))
        for n, rule, w in (
            ("view_as", r.like, "x in y's shape"),
            ("reshape_as", r.like, "x in y's shape"),
            ("expand_as", r.expand_like, "x broadcast to y's shape"),
        )
    ),
    # -- shapes -----------------------------------------------------------------------------
    row(
        "transpose",
        ".transpose",
        (Arg("dim0", "dim"), Arg("dim1", "dim")),
        lambda ins, a: (r.rules.transpose(ins[0], a["dim0"], a["dim1"]),),
        "x.transpose(dim0, dim1)",
        also=("swapaxes", "swapdims"),  # the same view under numpy's names
        roles=("view",),
    ),
    row(
        "unsqueeze",
        ".unsqueeze",
        (Arg("dim", "dim"),),
        lambda ins, a: (r.rules.unsqueeze(ins[0], a["dim"]),),
        "x.unsqueeze(dim): a new dimension of size 1",
        roles=("view",),
    ),
    row(
        "squeeze",
        ".squeeze",
        (Arg("dim", "dim"),),
        lambda ins, a: (r.rules.squeeze(ins[0], a["dim"]),),
        "x.squeeze(dim): drop dim if it is 1",
        roles=("view",),
    ),
    row(
        "roll",
        "torch.roll",
        (Arg("shifts", "dims_or_dim"), Arg("dims", "opt_dims", None)),
        r.roll,
        "torch.roll(x, shifts, dims): rotated along dims (a window shift)",
    ),
    row(
        "flip",
        "torch.flip",
        (Arg("dims", "dims"),),
        r.flip,
        "torch.flip(x, dims): reversed along dims",
    ),
    row(
        "gather",
        "torch.gather",
        (DIM, T("index")),
        r.gather,
        "torch.gather(x, dim, index): the values at index along dim",
    ),
    # -- reductions -------------------------------------------------------------------------
    *(
        _reduce(n, w)
        for n, w in (
            ("mean", "the mean"),
            ("sum", "the sum"),
            ("amax", "the maximum"),
            ("amin", "the minimum"),
            ("logsumexp", "log(sum(exp(x)))"),
        )
    ),
    *(
        _reduce(n, w, integer=True)
        for n, w in (("argmax", "where the maximum is"), ("argmin", "where the minimum is"))
    ),
    # -- layers as functions, on tensors of the model's own ------------------------------------
    row(
        "layer_norm",
        "F.layer_norm",
        (Arg("normalized_shape", "shape"), T("weight", True), T("bias", True), EPS),
        r.layer_norm,
        "F.layer_norm(x, normalized_shape, weight, bias, eps): normalised over the trailing dims",
        methods=False,
    ),
    row(
        "group_norm",
        "F.group_norm",
        (Arg("num_groups", "int"), T("weight", True), T("bias", True), EPS),
        r.group_norm,
        "F.group_norm(x, num_groups, weight, bias, eps): normalised over groups of channels",
        methods=False,
    ),
    row(
        "batch_norm",
        "F.batch_norm",
        (T("running_mean"), T("running_var"), *BATCH_NORM),
        r.batch_norm,
        "F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)",
        methods=False,
    ),
    row(
        "batch_stats_norm",
        "F.batch_norm",
        (Unset("running_mean"), Unset("running_var"), *BATCH_NORM),
        r.batch_stats_norm,
        "F.batch_norm(x, None, None, weight, bias, training=True, ...): normalised per channel "
        "by the batch's own statistics (timm's weight standardisation)",
        also=("batch_norm",),
        methods=False,
    ),
    row(
        "linear",
        "F.linear",
        (T("weight"), T("bias", True)),
        r.linear,
        "F.linear(x, weight, bias): x @ weight.T + bias",
        methods=False,
    ),
    *(
        row(
            f"conv{n}d",
            f"F.conv{n}d",
            (
                T("weight"),
                T("bias", True),
                Arg("stride", "size", 1),
                Arg("padding", "padding", 0, minimum=0),
                Arg("dilation", "size", 1),
                Arg("groups", "int", 1),
            ),
            r.conv(n),
            f"F.conv{n}d(x, weight, bias, stride, padding, dilation, groups)",
            methods=False,
        )
        for n in (1, 2, 3)
    ),
    row(
        "embedding",
        "F.embedding",
        (T("weight"),),
        r.embedding,
        "F.embedding(ids, weight): the weight's rows at the ids",
        methods=False,
    ),
    row(
        "pad",
        "F.pad",
        (
            Arg("pad", "ints", minimum=-(2**62)),
            Arg("mode", "choice", "constant", choices=PAD_MODES),
            Arg("value", "opt_number", None),
        ),
        r.pad,
        "F.pad(x, pad, mode, value): (left, right) for the last dim, then the one before...",
        methods=False,
    ),
)
