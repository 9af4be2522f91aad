"""Parsing of option values, with our one-line errors instead of click's usage dumps."""

from __future__ import annotations

import math
import re

from torchscaffold.errors import TorchgenError

# What a traced example may hold per sample (--from builds it for real, twice over): 2**27
# values are 512 MiB of float32, beyond any model one would eject on a workstation and far
# below what makes the allocator fail with a traceback.
MAX_EXAMPLE_ELEMENTS = 2**27


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


def example_size(value: str | None, option: str) -> tuple[int, ...] | None:
    """``size``, bounded: the sizes of an input ``--from`` allocates (``3x224x224``)."""
    sizes = size(value, option)
    if sizes is not None and math.prod(sizes) > MAX_EXAMPLE_ELEMENTS:
        raise TorchgenError(
            f"{option} {value!r}: {math.prod(sizes):,} values per sample, more than the "
            f"{MAX_EXAMPLE_ELEMENTS:,} an example input may hold"
        )
    return sizes
