"""A stage of repeated blocks as the loop a person writes.

The resolver builds every instance of a stage with its own arguments (``DenseLayer(32)``,
``DenseLayer(32 + growth)``, ...). Code reads better, and a depth can be a parameter, when the
instances are one expression of the loop index: ``DenseLayer(32 + i * growth)`` for ``i`` in
``range(n)``, after a first instance that may differ (torchvision's ``_make_layer``: the first
block strides and projects, the rest are alike). This module finds that expression, or says
there is none, by writing each argument as a polynomial of the parameters: instance ``k`` must be
``base + k * step`` for every ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torchscaffold.shapes.resolved import RInstance
from torchscaffold.spec.expr import BinOp, Expr, Lit, Name, Neg, simplify

# The loop's index in a stage's instance (renamed to a free name when written).
INDEX = Name("@i")

Monomial = tuple[Any, ...]  # sorted atoms: parameter names, or whole expressions kept opaque
Poly = dict[Monomial, int]


def poly(expr: Expr) -> Poly:
    """``expr`` as a sum of integer multiples of products of atoms."""
    if isinstance(expr, Lit) and type(expr.value) is int:
        return {(): expr.value} if expr.value else {}
    if isinstance(expr, Name):
        return {(expr.name,): 1}
    if isinstance(expr, Neg):
        return _scale(poly(expr.operand), -1)
    if isinstance(expr, BinOp) and expr.op in ("+", "-"):
        right = poly(expr.right)
        return _add(poly(expr.left), right if expr.op == "+" else _scale(right, -1))
    if isinstance(expr, BinOp) and expr.op == "*":
        out: Poly = {}
        for ma, ca in poly(expr.left).items():
            for mb, cb in poly(expr.right).items():
                out = _add(out, {tuple(sorted((*ma, *mb), key=repr)): ca * cb})
        return out
    return {(expr,): 1}  # // and % stay whole: a step must be the same expression


def _add(a: Poly, b: Poly) -> Poly:
    out = dict(a)
    for m, c in b.items():
        out[m] = out.get(m, 0) + c
        if out[m] == 0:
            del out[m]
    return out


def _scale(a: Poly, k: int) -> Poly:
    return {m: c * k for m, c in a.items() if c * k}


def expr(p: Poly) -> Expr:
    """The polynomial as an expression a person would write, the base before what the
    index adds: ``32 + i * growth``, ``in_channels + 96 + 32 * i``."""
    terms: list[Expr] = []
    constant = p.get((), 0)
    indexed = INDEX.name
    ordered = sorted((m for m in p if m), key=lambda m: (indexed in m, len(m), repr(m)))
    base = sum(1 for m in ordered if indexed not in m)
    for m in ordered:
        atoms: list[Expr] = [Name(a) if isinstance(a, str) else a for a in m]
        term = atoms[0]
        for a in atoms[1:]:
            term = BinOp("*", term, a)
        c = p[m]
        if abs(c) != 1:
            term = BinOp("*", Lit(abs(c)), term)
        terms.append(term if c > 0 else Neg(term))
    if constant or not terms:
        terms.insert(base, Lit(constant))
    out = terms[0]
    for t in terms[1:]:
        out = BinOp("-", out, t.operand) if isinstance(t, Neg) else BinOp("+", out, t)
    return simplify(out)


def progression(items: Sequence[Any]) -> tuple[Any, Any] | None:
    """``(base, step)`` with ``items[k] == base + k * step`` (as polynomials), or None. Items
    that are not expressions (flags, floats) must all be equal (step None)."""
    if not all(isinstance(x, Expr) for x in items):
        return (items[0], None) if all(x == items[0] for x in items) else None
    polys = [poly(x) for x in items]
    step = _add(polys[1], _scale(polys[0], -1)) if len(polys) > 1 else {}
    for k, p in enumerate(polys):
        if _add(polys[0], _scale(step, k)) != p:
            return None
    return polys[0], step


def at(base: Poly, step: Poly, index: Expr) -> Expr:
    """``base + index * step`` as an expression."""
    return expr(_add(base, _times(step, poly(index))))


def _times(a: Poly, b: Poly) -> Poly:
    out: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            out = _add(out, {tuple(sorted((*ma, *mb), key=repr)): ca * cb})
    return out


@dataclass(frozen=True)
class Loop:
    """The stage's instances from ``start`` on: each is ``each`` with INDEX the instance's
    position in the stage."""

    start: int
    each: RInstance


def loop(instances: Sequence[RInstance]) -> Loop | None:
    """The loop that builds ``instances`` (all of them, or all after the first), or None when
    their arguments do not follow one expression of the index."""
    for start in (0, 1):
        rest = instances[start:]
        if not rest:
            continue
        each = _each(rest, start)
        if each is not None:
            return Loop(start, each)
    return None


def _each(rest: Sequence[RInstance], start: int) -> RInstance | None:
    first = rest[0]
    if any(len(i.positional) != len(first.positional) for i in rest):
        return None
    if any([k for k, _ in i.keywords] != [k for k, _ in first.keywords] for i in rest):
        return None
    positional = []
    for column in zip(*(i.positional for i in rest)):
        term = _term(column, start)
        if term is None:
            return None
        positional.append(term)
    keywords = []
    for n, (key, _) in enumerate(first.keywords):
        term = _term([i.keywords[n][1] for i in rest], start)
        if term is None:
            return None
        keywords.append((key, term))
    return RInstance(first.block, tuple(positional), tuple(keywords))


def _term(column: Sequence[Any], start: int) -> Any:
    found = progression(column)
    if found is None:
        return None
    base, step = found
    if step is None:
        return base
    if not step:
        return column[0]
    if len(column) < 3:
        return None  # two instances fit any line: a first that differs is the likelier reading
    # Instance k of the loop is at position start + k: base + (position - start) * step.
    return at(_add(base, _scale(step, -start)), step, INDEX)
