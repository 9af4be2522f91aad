"""Parsing of option values, with our one-line errors instead of click's usage dumps."""

from __future__ import annotations

import re

from torchscaffold.errors import TorchgenError


def positive_int(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]+", value.strip()) or int(value) < 1:
        raise TorchgenError(f"{option} must be a positive integer, got {value!r}")
    return int(value)


def size(value: str | None, option: str) -> tuple[int, ...] | None:
    """``224``, ``224x224`` or ``32,32`` -> a tuple of positive ints."""
    if value is None:
        return None
    parts = re.split(r"[x,]", value.strip().lower())
    if not parts or not all(re.fullmatch(r"[0-9]+", p) and int(p) > 0 for p in parts):
        raise TorchgenError(
            f"{option} must be positive integers like 224 or 224x224, got {value!r}"
        )
    return tuple(int(p) for p in parts)
