"""What a catalog entry is: a layer (an ``nn.Module`` class) or an op (a tensor function), and
the dimensions shape inference passes between them.

Entries describe torch in pure Python: arguments in torch's order, the shape rule, the parameter
count, the code pattern of a call, and *roles* (``conv``, ``norm``, ``inplace`` ...) that the rest
of torchgen asks about instead of matching type names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from torchscaffold.errors import TorchgenError
from torchscaffold.spec.expr import Expr, Lit, Name, simplify

REQUIRED = object()
Shape = tuple[int, ...]
Args = Mapping[str, Any]


class ShapeError(TorchgenError):
    """An impossible shape or argument; the caller prefixes the step it happened in."""


# ------------------------------------------------------------------------------------ dims
# Names that stand for sizes no constructor may depend on: the batch, a variable sequence
# length, and a size derived from one of those by arithmetic torchgen does not track.
BATCH = "@N"
VARYING = "@?"


def length_symbol(name: str) -> str:
    """The symbol of a variable model-input dimension called ``name`` (``input = ["seq"]``)."""
    return f"@L:{name}"


def input_symbol(value: str, axis: int) -> str:
    """Inside a block class, the size of axis ``axis`` of its input ``value`` until it is known
    which of them become constructor parameters (``in_channels``...)."""
    return f"@in:{value}:{axis}"


@dataclass(frozen=True)
class Dim:
    """One dimension of a value: its number in this instance, and the expression that produces
    it in the generated code of the class being resolved."""

    value: int
    expr: Expr

    @staticmethod
    def literal(value: int) -> Dim:
        return Dim(value, Lit(value))

    @property
    def is_batch(self) -> bool:
        return self.expr == Name(BATCH)

    @property
    def varying(self) -> bool:
        """Known only at run time (the batch, a sequence length, or derived from them)."""
        return any(n == BATCH or n == VARYING or n.startswith("@L:") for n in self.expr.names())

    def __str__(self) -> str:
        return str(self.value)


Dims = tuple[Dim, ...]


def combine(op: str, a: Dim, b: Dim, value: int) -> Dim:
    """The dim ``a op b`` with the value already computed (kept symbolic where both sides are)."""
    return Dim(value, combined(op, a.expr, b.expr, a.value, b.value, value))


def combined(op: str, left: Expr, right: Expr, lv: int, rv: int, value: int) -> Expr:
    """The expression of ``left op right``. Where a side is known only at run time it is kept
    only as a product or an exact quotient of what the description follows (swin's
    ``x.size(0) // num_windows``: the batch, out of the batch times the windows); any other
    arithmetic on such a size is VARYING."""
    from torchscaffold.spec.expr import BinOp

    expr = simplify(BinOp(op, left, right))
    if not (Dim(lv, left).varying or Dim(rv, right).varying):
        return expr
    exact = op == "*" or op == "//" and value * rv == lv
    return expr if exact and _no_varying(left, right) and tracked(expr) else Name(VARYING)


def _no_varying(*exprs: Expr) -> bool:
    return all(VARYING not in e.names() for e in exprs)


def powers(expr: Expr) -> list[tuple[Expr, int]]:
    """A size as a product of powers: ``B * (h * 4)`` is B, h and 4, each to the power 1; the
    exact quotient a reshape's -1 leaves (``B // m``, B known only at run time) is B, and m to
    the power -1. Any other arithmetic is one factor."""
    from torchscaffold.spec.expr import BinOp

    if isinstance(expr, BinOp) and expr.op == "*":
        return powers(expr.left) + powers(expr.right)
    if isinstance(expr, BinOp) and expr.op == "//" and Dim(0, expr.left).varying:
        return powers(expr.left) + [(f, -p) for f, p in powers(expr.right)]
    return [(expr, 1)]


def multiply(items: list[Expr], number: int = 1) -> Expr:
    """``items[0] * items[1] ... * number``, the neutral 1 left out."""
    from torchscaffold.spec.expr import BinOp

    out: Expr = Lit(1)
    for item in [*items, Lit(number)]:
        out = BinOp("*", out, item)
    return simplify(out)


def tracked(expr: Expr) -> bool:
    """Whether a size known only at run time is one the description can follow: a product (or
    exact quotient) of the batch, variable lengths and sizes fixed per instance (swin's batch
    times its windows, ``B * (H // 7) * (W // 7)``), not a size derived by other arithmetic
    (VARYING)."""
    return all(
        isinstance(f, Name) and f.name != VARYING or not Dim(0, f).varying for f, _ in powers(expr)
    )


def collected(found: list[tuple[Expr, int]]) -> tuple[dict[Expr, int], Fraction]:
    """Factors and their powers (``powers``) with each factor's powers summed, so that a factor
    over itself cancels (to power 0), and the numbers multiplied into one."""
    count: dict[Expr, int] = {}
    number = Fraction(1)
    for f, p in found:
        if isinstance(f, Lit):
            number *= Fraction(int(f.value)) ** p
        else:
            count[f] = count.get(f, 0) + p
    return count, number


def whole_product(expr: Expr) -> bool:
    """Whether ``expr`` is a product the shapes can follow once its factors cancel: every factor
    to a power of at least 0 and its number whole (``B * w // w`` is B; ``B // 2`` rounds)."""
    if not tracked(expr):
        return False
    count, number = collected(powers(expr))
    return number.denominator == 1 and all(p >= 0 for p in count.values())


def values(dims: Dims) -> Shape:
    return tuple(d.value for d in dims)


def fmt(shape: Shape | Dims) -> str:
    """``(3, 224, 224)``: how every message shows a shape."""
    return "(" + ", ".join(str(s) for s in shape) + ")"


# ---------------------------------------------------------------------------- arguments
@dataclass(frozen=True)
class Arg:
    name: str
    # int | size | padding | pad | float | pos_float | prob | bool | choice | shape | sizes |
    # dim | dims | opt_size | opt_float | opt_bool | opt_index | opt_shape | opt_scale |
    # opt_int | opt_number | opt_dims | number | new_shape | equation | value (values.check_value says what each
    # accepts)
    kind: str
    default: Any = REQUIRED
    minimum: int = 1  # for int-like kinds
    choices: tuple[str, ...] = ()
    always: bool = False  # render even when equal to the default (the functional default differs)
    keyword: bool = False  # render a required argument as keyword=value
    # A probability that applies only while training (an attention dropout): forward writes
    # ``p if self.training else 0.0``.
    while_training: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# The kinds whose values an op's rule sees as ``Dim``s (they may be sizes read at run time).
DIM_KINDS = frozenset({"int", "ints", "shape", "new_shape"})


def _no_params(args: Args) -> int:
    return 0


def _first_axis(args: Args) -> int:
    return 0


# ------------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class LayerType:
    """A ``torch.nn`` layer class.

    Shapes are per sample: the rule never sees the batch dimension, which sits at
    ``batch_axis(args)`` of every input and, for a multi-output layer, of each output at the
    axis ``outputs`` gives.
    """

    name: str
    args: tuple[Arg, ...]
    base_name: str  # attribute names: conv1, conv2, bn1, fc, ...
    help: str
    out_shape: Callable[[Shape, Args], Shape]
    params: Callable[[Args], int] = _no_params
    inferred: str | None = None  # argument taken from the input shape
    in_dim: int = 0  # which input dimension it is taken from (0: channels, -1: features)
    out_arg: str | None = None  # argument that sets the produced feature dimension
    out_dim: int = 0
    ranks: tuple[int, ...] = (1, 2, 3, 4)  # accepted per-sample input ranks
    functional: str | None = None  # e.g. "F.relu": the explicit style's parameter-free call
    needs_training: bool = False  # functional dropout takes training=self.training
    integer_input: bool = False  # Embedding: its input is integer ids
    call_defaults: tuple[tuple[str, str], ...] = ()  # the functional form needs them spelled out
    roles: frozenset[str] = frozenset()
    # Inputs of forward(), by name: MultiheadAttention reads (query, key, value); inputs after
    # the first default to the first (self-attention).
    inputs: tuple[str, ...] = ("input",)
    # Keyword arguments of forward(): masks are values of the graph, flags literals.
    call_args: tuple[Arg, ...] = ()
    # For several inputs or outputs, instead of out_shape: the per-sample input shapes to each
    # output's per-sample shape and the axis its batch dimension sits at; ``unpack`` is how a
    # call's result unpacks into names (LSTM: "{0}, ({1}, {2})").
    outputs: Callable[[tuple[Shape, ...], Args], tuple[tuple[Shape, int], ...]] | None = None
    output_names: tuple[str, ...] = ("output",)
    unpack: str | None = None
    batch_axis: Callable[[Args], int] = _first_axis
    unbatched: bool = False  # also takes a value without a batch dimension (an index tensor)
    # Output dims with their expressions, where the positional rule of thumb (a dimension that
    # keeps its size keeps its expression) is not enough: Flatten multiplies them, Unflatten
    # splits one. It sees the per-sample dims, the plain argument values, and the given
    # arguments with their expressions (as Dims).
    symbolic: Callable[[Dims, Args, Args], Dims] | None = None
    # The shape of its ``weight`` parameter, where one weight can be tied to another's.
    weight: Callable[[Args], Shape] | None = None

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def inplace(self) -> bool:
        """Whether it can overwrite its input (``inplace=True``)."""
        return any(a.name == "inplace" for a in self.args)


# ----------------------------------------------------------------------------------- ops
@dataclass(frozen=True)
class OpType:
    """A function of tensors with no parameters: ``x + y``, ``torch.cat``, ``x.transpose``.

    ``rule`` maps the input dims (with the batch dimension, as torch counts them) and the
    evaluated arguments to the output dims, one tuple per output. ``code`` is the call's
    pattern: ``{0}``, ``{1}``... are the inputs, ``{inputs}`` all of them, ``{name}`` an argument
    (rendered only when given or ``always``), ``{args}`` the given arguments as keywords.
    """

    name: str
    help: str
    args: tuple[Arg, ...]
    rule: Callable[[list[Dims], dict[str, Any]], tuple[Dims, ...]]
    code: str
    inputs: tuple[int, int | None] = (1, 1)  # at least, at most (None: any number)
    roles: frozenset[str] = frozenset()
    needs_training: bool = False  # dropout: training=self.training
    integer_output: bool = False  # argmax, arange: an index tensor
    dtype: str | None = None  # the output's dtype where it is not the input's (float, a mask)
    # A row of the op table (catalog.table): the torch call it is (``F.layer_norm``, or
    # ``.softmax`` for a method), the names of its tensor inputs after the first and of all its
    # parameters after the first, in torch's order, and the names eject knows it by: functions
    # of torch, F or torch._C._nn, and tensor methods.
    call: str | None = None
    tensors: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()  # parameters the call passes as None
    params: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def has(self, role: str) -> bool:
        return role in self.roles

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)


Entry = LayerType | OpType
