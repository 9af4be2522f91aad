"""Integer and boolean expressions over a class's constructor parameters.

A description may size a layer with ``"in_channels * expand_ratio"``, fix a condition at
construction with ``"stride == 1 and in_channels == out_channels"``, or, in a tensor op, use a
size the input has at run time: ``"size(2) // n_head"``. Such text is parsed once, with Python's
own parser restricted to a small grammar, into the frozen tree below; shape inference evaluates
it, the renderer prints it. Nothing here ever calls ``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torchscaffold.errors import TorchgenError

Number = int | bool | float


class Expr:
    """A node of an expression tree; subclasses are frozen dataclasses."""

    def names(self) -> frozenset[str]:
        """The parameter names it reads."""
        return frozenset()

    def sizes(self) -> frozenset[int]:
        """The run-time input dimensions it reads (``size(i)``)."""
        return frozenset()

    def values(self) -> frozenset[str]:
        """The values whose run-time sizes it reads (``x.size(i)``)."""
        return frozenset()

    def runtime(self) -> bool:
        """Whether it reads a size known only in forward."""
        return bool(self.sizes() or self.values())


@dataclass(frozen=True)
class Lit(Expr):
    value: Number


@dataclass(frozen=True)
class Name(Expr):
    name: str

    def names(self) -> frozenset[str]:
        return frozenset({self.name})


@dataclass(frozen=True)
class Index(Expr):
    """``layers[2]``: an item of a parameter that is a list of integers (torchvision's
    ``layers=[3, 4, 6, 3]``, a stage's depth)."""

    name: str
    index: int

    def names(self) -> frozenset[str]:
        return frozenset({self.name})


@dataclass(frozen=True)
class Size(Expr):
    """``size(i)``: dimension ``i`` of the op's (first) input, or ``x.size(i)`` of the value
    ``x``; known only at run time."""

    dim: int
    value: str | None = None

    def sizes(self) -> frozenset[int]:
        return frozenset({self.dim}) if self.value is None else frozenset()

    def values(self) -> frozenset[str]:
        return frozenset({self.value}) if self.value is not None else frozenset()


@dataclass(frozen=True)
class BinOp(Expr):
    op: str  # one of BINARY
    left: Expr
    right: Expr

    def names(self) -> frozenset[str]:
        return self.left.names() | self.right.names()

    def sizes(self) -> frozenset[int]:
        return self.left.sizes() | self.right.sizes()

    def values(self) -> frozenset[str]:
        return self.left.values() | self.right.values()


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr

    def names(self) -> frozenset[str]:
        return self.operand.names()

    def sizes(self) -> frozenset[int]:
        return self.operand.sizes()

    def values(self) -> frozenset[str]:
        return self.operand.values()


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr

    def names(self) -> frozenset[str]:
        return self.operand.names()

    def sizes(self) -> frozenset[int]:
        return self.operand.sizes()

    def values(self) -> frozenset[str]:
        return self.operand.values()


def _floordiv(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError
    return a // b


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError
    return a % b


# operator -> (function, precedence for printing, Python's AST node)
BINARY: dict[str, tuple[Callable[[Any, Any], Any], int, type]] = {
    "or": (lambda a, b: bool(a or b), 1, ast.Or),
    "and": (lambda a, b: bool(a and b), 2, ast.And),
    "==": (operator.eq, 4, ast.Eq),
    "!=": (operator.ne, 4, ast.NotEq),
    "<": (operator.lt, 4, ast.Lt),
    "<=": (operator.le, 4, ast.LtE),
    ">": (operator.gt, 4, ast.Gt),
    ">=": (operator.ge, 4, ast.GtE),
    "+": (operator.add, 5, ast.Add),
    "-": (operator.sub, 5, ast.Sub),
    "*": (operator.mul, 6, ast.Mult),
    "//": (_floordiv, 6, ast.FloorDiv),
    "%": (_mod, 6, ast.Mod),
}
_BY_NODE = {node: op for op, (_, _, node) in BINARY.items()}
MAX_LENGTH = 200  # characters of one expression: a description, not a program


# --------------------------------------------------------------------------------- parsing
def parse(text: str, where: str) -> Expr:
    """``text`` as an expression tree, or a one-line error that says what is allowed."""
    if len(text) > MAX_LENGTH:
        raise TorchgenError(f"{where}: the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise TorchgenError(f"{where}: {text!r} is not an expression") from None
    try:
        return simplify(_convert(tree.body, where))
    except RecursionError:
        raise TorchgenError(f"{where}: {text!r} is nested too deeply") from None


def _convert(node: ast.AST, where: str) -> Expr:
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int)):
        return Lit(node.value)
    if isinstance(node, ast.Name):
        return Name(node.id)
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and isinstance(node.slice, ast.Constant)
        and type(node.slice.value) is int
    ):
        return Index(node.value.id, node.slice.value)
    owner = None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.attr == "size"
    ):
        owner = node.func.value.id  # x.size(0)
    if (
        isinstance(node, ast.Call)
        and ((isinstance(node.func, ast.Name) and node.func.id == "size") or owner is not None)
        and len(node.args) == 1
        and not node.keywords
    ):
        arg = node.args[0]
        if isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.USub):
            arg = arg.operand
            sign = -1
        else:
            sign = 1
        if isinstance(arg, ast.Constant) and type(arg.value) is int:
            return Size(sign * arg.value, owner)
    if isinstance(node, ast.BinOp) and type(node.op) in _BY_NODE:
        return BinOp(
            _BY_NODE[type(node.op)], _convert(node.left, where), _convert(node.right, where)
        )
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        out = _convert(node.values[0], where)
        for value in node.values[1:]:
            out = BinOp(op, out, _convert(value, where))
        return out
    if isinstance(node, ast.Compare):
        parts = []
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            if type(op) not in _BY_NODE:
                break
            parts.append(BinOp(_BY_NODE[type(op)], _convert(left, where), _convert(right, where)))
            left = right
        else:
            out = parts[0]
            for part in parts[1:]:
                out = BinOp("and", out, part)
            return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Not(_convert(node.operand, where))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return Neg(_convert(node.operand, where))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
        return _convert(node.operand, where)
    raise TorchgenError(
        f"{where}: {ast.unparse(node)!r} is not allowed; expressions take integers, true/false, "
        "parameter names, list[i], size(i), x.size(i), + - * // %, comparisons, and, or, not"
    )


# ------------------------------------------------------------------------------ evaluation
def evaluate(
    expr: Expr, names: Mapping[str, Any], sizes: Callable[[int, str | None], Any] | None = None
) -> Any:
    """The value of ``expr``: ``names`` gives each parameter, ``sizes(i, value)`` each
    ``size(i)`` (value None: the op's first input) and ``value.size(i)``.

    Values may be ints and bools, or anything with the arithmetic (shape inference passes its
    ``Dim``s through here to keep track of where a number came from)."""
    if isinstance(expr, Lit):
        return expr.value
    if isinstance(expr, Name):
        return names[expr.name]
    if isinstance(expr, Index):
        items = names[expr.name]
        if not isinstance(items, tuple) or not -len(items) <= expr.index < len(items):
            raise KeyError(f"{expr.name}[{expr.index}]")
        return items[expr.index]
    if isinstance(expr, Size):
        if sizes is None:
            raise KeyError("size")
        return sizes(expr.dim, expr.value)
    if isinstance(expr, Not):
        return not evaluate(expr.operand, names, sizes)
    if isinstance(expr, Neg):
        return -evaluate(expr.operand, names, sizes)
    assert isinstance(expr, BinOp)
    function = BINARY[expr.op][0]
    return function(evaluate(expr.left, names, sizes), evaluate(expr.right, names, sizes))


def substitute(expr: Expr, replace: Callable[[Expr], Expr | None]) -> Expr:
    """``expr`` with every leaf for which ``replace`` returns a tree replaced by it."""
    if isinstance(expr, (Lit, Name, Index, Size)):
        return replace(expr) or expr
    if isinstance(expr, Not):
        return simplify(Not(substitute(expr.operand, replace)))
    if isinstance(expr, Neg):
        return simplify(Neg(substitute(expr.operand, replace)))
    assert isinstance(expr, BinOp)
    return simplify(BinOp(expr.op, substitute(expr.left, replace), substitute(expr.right, replace)))


def simplify(expr: Expr) -> Expr:
    """Fold literals and drop neutral elements (``x * 1``, ``0 + x``), so that a size written
    through several blocks reads as a person would write it."""
    if isinstance(expr, Not):
        inner = simplify(expr.operand)
        if isinstance(inner, Not):
            return inner.operand
        return Lit(not inner.value) if isinstance(inner, Lit) else Not(inner)
    if isinstance(expr, Neg):
        inner = simplify(expr.operand)
        return Lit(-inner.value) if isinstance(inner, Lit) else Neg(inner)
    if not isinstance(expr, BinOp):
        return expr
    left, right = simplify(expr.left), simplify(expr.right)
    if isinstance(left, Lit) and isinstance(right, Lit):
        try:
            return Lit(BINARY[expr.op][0](left.value, right.value))
        except ZeroDivisionError:
            pass
    lv = left.value if isinstance(left, Lit) else None
    rv = right.value if isinstance(right, Lit) else None
    if expr.op == "*" and (lv == 1 and lv is not True):
        return right
    if expr.op in ("*", "//") and (rv == 1 and rv is not True):
        return left
    if expr.op == "+" and lv == 0 and lv is not False:
        return right
    if expr.op in ("+", "-") and rv == 0 and rv is not False:
        return left
    if expr.op in ("==", "!=") and left == right:
        return Lit(expr.op == "==")
    if expr.op in ("+", "-") and _integer(rv) and isinstance(left, BinOp):
        # a width grown step by step (a DenseNet stage: c + 32 + 32 ...) as one sum: c + 64
        inner = left.right.value if isinstance(left.right, Lit) else None
        if left.op in ("+", "-") and _integer(inner):
            total = (inner if left.op == "+" else -inner) + (rv if expr.op == "+" else -rv)
            return simplify(BinOp("+" if total >= 0 else "-", left.left, Lit(abs(total))))
    return BinOp(expr.op, left, right)


def _integer(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# -------------------------------------------------------------------------------- printing
def to_source(
    expr: Expr,
    name: Callable[[str], str] = str,
    size: Callable[[int, str | None], str] | None = None,
) -> str:
    """Python source for ``expr``: ``name`` spells each parameter (``self.n_head`` in forward),
    ``size`` each ``size(i)`` and ``x.size(i)`` as the code has it (``h.size(2)``)."""
    return _source(expr, name, size, 0)


def _source(
    expr: Expr,
    name: Callable[[str], str],
    size: Callable[[int, str | None], str] | None,
    outer: int,
) -> str:
    if isinstance(expr, Lit):
        return repr(expr.value)
    if isinstance(expr, Name):
        return name(expr.name)
    if isinstance(expr, Index):
        return f"{name(expr.name)}[{expr.index}]"
    if isinstance(expr, Size):
        if size is not None:
            return size(expr.dim, expr.value)
        return f"{expr.value}.size({expr.dim})" if expr.value else f"size({expr.dim})"
    if isinstance(expr, Not):
        text = f"not {_source(expr.operand, name, size, 3)}"
        return f"({text})" if outer > 3 else text
    if isinstance(expr, Neg):
        return f"-{_source(expr.operand, name, size, 7)}"
    assert isinstance(expr, BinOp)
    precedence = BINARY[expr.op][1]
    # Left-associative: the right operand needs parentheses at equal precedence (a - (b - c));
    # comparisons chain in Python (a == b == c), so both of theirs do.
    left = precedence + 1 if precedence == 4 else precedence
    text = (
        f"{_source(expr.left, name, size, left)} {expr.op} "
        f"{_source(expr.right, name, size, precedence + 1)}"
    )
    return f"({text})" if precedence < outer else text
