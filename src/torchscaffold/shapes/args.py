"""Arguments as shape inference holds them: a given size is a ``Dim`` (its number and its
expression), anything else a plain value; tuples element-wise."""

from __future__ import annotations

from typing import Any

from torchscaffold.catalog.symbolic import Sym
from torchscaffold.catalog.types import Dim
from torchscaffold.spec.expr import Lit


def plain(value: Any) -> Any:
    """The number(s) alone (of a Dim, or of a Sym a shape rule computed)."""
    if isinstance(value, (Dim, Sym)):
        return value.value
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def has_expr(value: Any) -> bool:
    """Whether a parameter's expression gives it (not a literal)."""
    if isinstance(value, Dim):
        return not isinstance(value.expr, Lit)
    if isinstance(value, tuple):
        return any(has_expr(v) for v in value)
    return False


def show(value: Any) -> str:
    """A value as messages show it."""
    return repr(list(value) if isinstance(value, tuple) else value)
