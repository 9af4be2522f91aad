"""Shape inference over the IR, in pure Python: values (and their expressions) only, no code."""

from __future__ import annotations

from torchscaffold.shapes.resolved import (
    REQUIRED_PARAM,
    RClass,
    ResolvedModel,
    RInput,
    RInstance,
    RStep,
    RTensor,
    SummaryRow,
)
from torchscaffold.shapes.resolver import resolve

__all__ = [
    "REQUIRED_PARAM",
    "RClass",
    "RInput",
    "RInstance",
    "RStep",
    "RTensor",
    "ResolvedModel",
    "SummaryRow",
    "resolve",
]
