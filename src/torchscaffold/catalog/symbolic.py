"""Integers that remember where they came from, so the layers' shape rules carry expressions.

A layer's rule is written over plain ints (``(size + 2 * p - span) // s + 1``,
``directions * hidden_size``). Handed ``Sym``s instead, the same code computes each output size
*and* its expression of the constructor's parameters: a bidirectional LSTM of ``hidden`` units
gives ``2 * hidden`` features, not the default's 256, and whatever reads them is written with
that expression. Nothing in a rule has to know.

Where a rule *selects* on a parameter (``proj_size or hidden_size``, ``2 if bidirectional else
1``), the generated code only holds for the side the defaults took: each such decision is
recorded as a guard (the condition and its outcome), and the generated class refuses, in one
line, arguments that would take the other side. Selections are truth tests; comparisons
(``padding >= size``) and divisibility (``channels % groups``) are the rules' validity checks,
which torch makes itself, so they are not guards.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from torchscaffold.catalog.types import VARYING, Dim, combined
from torchscaffold.spec.expr import BinOp, Expr, Lit, Name, Not, simplify

Guard = tuple[Expr, bool]  # a condition on constructor parameters, and the value it must have


class Sym:
    """An int (``value``) with its expression; arithmetic keeps both, comparisons answer with
    the value and record what they decided in ``guards``."""

    __slots__ = ("expr", "guards", "value")

    def __init__(self, value: int, expr: Expr, guards: list[Guard]) -> None:
        self.value = value
        self.expr = expr
        self.guards = guards

    @staticmethod
    def of(dim: Dim, guards: list[Guard]) -> Sym:
        return Sym(dim.value, dim.expr, guards)

    def dim(self) -> Dim:
        return Dim(self.value, self.expr)

    # ------------------------------------------------------------------------- arithmetic
    def _combine(self, op: str, other: Any, swap: bool = False) -> Any:
        function = _ARITHMETIC[op]
        if isinstance(other, Sym):
            other_expr, other_value = other.expr, other.value
        elif isinstance(other, bool) or not isinstance(other, int):
            # A float (an upsampling factor) or anything else: the number alone.
            return function(other, self.value) if swap else function(self.value, other)
        else:
            other_expr, other_value = Lit(other), other
        left, right = (other_expr, self.expr) if swap else (self.expr, other_expr)
        lv, rv = (other_value, self.value) if swap else (self.value, other_value)
        value = function(lv, rv)
        if not (_varying(left) or _varying(right)):
            return Sym(value, simplify(BinOp(op, left, right)), self.guards)
        if _reads_index(left) or _reads_index(right):
            return Sym(value, Name(VARYING), self.guards)  # a stage's index: its own algebra
        return Sym(value, combined(op, left, right, lv, rv, value), self.guards)

    def __add__(self, other: Any) -> Any:
        return self._combine("+", other)

    def __radd__(self, other: Any) -> Any:
        return self._combine("+", other, swap=True)

    def __sub__(self, other: Any) -> Any:
        return self._combine("-", other)

    def __rsub__(self, other: Any) -> Any:
        return self._combine("-", other, swap=True)

    def __mul__(self, other: Any) -> Any:
        return self._combine("*", other)

    def __rmul__(self, other: Any) -> Any:
        return self._combine("*", other, swap=True)

    def __floordiv__(self, other: Any) -> Any:
        return self._combine("//", other)

    def __rfloordiv__(self, other: Any) -> Any:
        return self._combine("//", other, swap=True)

    def __mod__(self, other: Any) -> Any:
        return self._combine("%", other)

    def __rmod__(self, other: Any) -> Any:
        return self._combine("%", other, swap=True)

    def __neg__(self) -> Sym:
        return Sym(-self.value, simplify(BinOp("-", Lit(0), self.expr)), self.guards)

    def __pos__(self) -> Sym:
        return self

    def __truediv__(self, other: Any) -> Any:
        return self.value / (other.value if isinstance(other, Sym) else other)

    def __rtruediv__(self, other: Any) -> Any:
        return other / self.value

    # --------------------------------------------------------------------- decisions
    def _compare(self, op: str, other: Any) -> bool:
        other_value = other.value if isinstance(other, Sym) else other
        return bool(_COMPARE[op](self.value, other_value))

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: Any) -> bool:
        return self._compare("<", other)

    def __le__(self, other: Any) -> bool:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> bool:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> bool:
        return self._compare(">=", other)

    def __bool__(self) -> bool:
        result = bool(self.value)
        if not (isinstance(self.expr, BinOp) and self.expr.op == "%"):
            _record(self.guards, self.expr, result)
        return result

    # ------------------------------------------------------------- plain-int behaviour
    def __index__(self) -> int:
        return self.value

    def __int__(self) -> int:
        return self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return repr(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _varying(expr: Expr) -> bool:
    return any(n.startswith("@") and not n.startswith("@in:") for n in expr.names())


def _reads_index(expr: Expr) -> bool:
    """Whether it reads a stage's loop index (shapes.stage.INDEX)."""
    return "@i" in expr.names()


def _record(guards: list[Guard], condition: Expr, outcome: bool) -> None:
    """Keep a decision that depends on constructor parameters (not one fixed by numbers, nor
    one on a size known only at run time, nor on a spatial size a block is built for)."""
    if isinstance(condition, Lit) or not condition.names():
        return
    if any(n.startswith("@") for n in condition.names()):
        return
    guard = (condition, outcome)
    if guard not in guards:
        guards.append(guard)


def wrap(value: Any, guards: list[Guard]) -> Any:
    """A rule's argument: a ``Dim`` (a size given by an expression) as a ``Sym``, tuples
    element-wise, anything else as it is."""
    if isinstance(value, Dim):
        return Sym.of(value, guards)
    if isinstance(value, tuple):
        return tuple(wrap(v, guards) for v in value)
    return value


def as_dim(value: Any) -> Dim:
    """One output size as a ``Dim``: a ``Sym`` keeps its expression, a plain int is a literal."""
    if isinstance(value, Sym):
        return value.dim()
    return Dim.literal(int(value))


def violated(guard: Guard) -> Expr:
    """The condition under which arguments take the side of the guard the code was not
    written for."""
    expr, outcome = guard
    return simplify(Not(expr)) if outcome else expr
