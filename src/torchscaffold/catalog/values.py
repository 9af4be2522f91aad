"""Value checks: what each argument kind accepts, and what torch can build at all."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torchscaffold.catalog.types import Arg, Args, Shape, fmt

# What torch can build at all. Sizes are int64 and scalars of float32 layers float32; and no
# machine holds a layer of a trillion parameters (4 TB of float32) or a sample of 2**40 values.
INT64_MAX = 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38
MAX_LAYER_PARAMS = 10**12
MAX_SAMPLE_ELEMENTS = 2**40


def check_limits(args: Args, out_shape: Shape, params: int) -> str | None:
    """None if torch can build and run this layer; else why not (for the error message)."""
    for name, value in args.items():
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if _is_int(v) and abs(v) > INT64_MAX:
                return f"{name}={v} does not fit in a 64-bit integer"
    if params > MAX_LAYER_PARAMS:
        return f"{params:,} parameters is more than any machine can hold ({MAX_LAYER_PARAMS:,})"
    if math.prod(out_shape) > MAX_SAMPLE_ELEMENTS:
        return (
            f"its output {fmt(out_shape)} has more values per sample than any machine can "
            f"hold ({MAX_SAMPLE_ELEMENTS:,})"
        )
    return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    # TOML allows inf and nan, which repr() would write as undefined names; a float32 layer
    # cannot hold a scalar beyond FLOAT32_MAX either (torch: "cannot be converted without
    # overflow").
    return (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
        and abs(v) <= FLOAT32_MAX
    )


def _ints(v: Any, minimum: int, max_len: int = 3) -> bool:
    if _is_int(v):
        return v >= minimum
    return (
        isinstance(v, (list, tuple))
        and 1 <= len(v) <= max_len
        and all(_is_int(x) and x >= minimum for x in v)
    )


def _positive_numbers(v: Any) -> bool:
    return (_is_number(v) and v > 0) or (
        isinstance(v, (list, tuple))
        and 1 <= len(v) <= 3
        and all(_is_number(x) and x > 0 for x in v)
    )


def check_value(arg: Arg, value: Any) -> str | None:
    """None if ``value`` suits ``arg``, else what was expected (for the error message)."""
    if value is None and arg.default is None:
        return None  # an optional argument left at its default
    m = arg.minimum
    at_least = f"an integer >= {m}"
    # kind -> (test, what the error says was expected); one row per kind.
    rules: dict[str, tuple[Callable[[Any], bool], str]] = {
        "int": (lambda v: _is_int(v) and v >= m, at_least),
        "size": (lambda v: _ints(v, m), f"{at_least} or a list of them"),
        "padding": (
            lambda v: v in ("same", "valid") or _ints(v, m),
            f"{at_least}, a list of them, 'same' or 'valid'",
        ),
        "prob": (lambda v: _is_number(v) and 0 <= v <= 1, "a probability between 0 and 1"),
        "float": (_is_number, "a number within float32's range"),
        "pos_float": (
            lambda v: _is_number(v) and v > 0,
            "a positive number within float32's range",
        ),
        "bool": (lambda v: isinstance(v, bool), "true or false"),
        "choice": (
            lambda v: v in arg.choices,
            "one of " + ", ".join(repr(c) for c in arg.choices),
        ),
        "shape": (lambda v: _ints(v, 1, max_len=8), "a positive integer or a list of them"),
        "opt_shape": (lambda v: _ints(v, 1), "a positive integer or a list of them"),
        "new_shape": (
            lambda v: _is_int(v)
            and (v >= 1 or v == -1)
            or isinstance(v, (list, tuple))
            and 1 <= len(v) <= 8
            and all(_is_int(x) and (x >= 1 or x == -1) for x in v),
            "a positive integer or a list of them (-1 for the size that is left)",
        ),
        "opt_scale": (_positive_numbers, "a positive number or a list of them"),
        "dim": (_is_int, "an integer"),
        "dims": (
            lambda v: isinstance(v, (list, tuple))
            and 1 <= len(v) <= 8
            and all(_is_int(x) for x in v),
            "a list of integers",
        ),
        "ints": (lambda v: _ints(v, m, max_len=64), f"{at_least} or a list of them"),
        "sizes": (
            lambda v: isinstance(v, (list, tuple))
            and 1 <= len(v) <= 8
            and all(_is_int(x) and (x >= 1 or x == -1) for x in v),
            "a list of positive integers (one of them may be -1)",
        ),
        "pad": (
            lambda v: _is_int(v)
            or (isinstance(v, (list, tuple)) and 1 <= len(v) <= 6 and all(map(_is_int, v))),
            "an integer or a list of them (negative crops)",
        ),
        "number": (_is_number, "a number within float32's range"),
        "dims_or_dim": (
            lambda v: _is_int(v) or (isinstance(v, (list, tuple)) and all(map(_is_int, v))),
            "an integer or a list of them",
        ),
        "value": (lambda v: isinstance(v, str), "the name of a value"),
        "equation": (
            lambda v: isinstance(v, str) and 0 < len(v) <= 200 and v.isascii(),
            'an einsum equation ("bij,bjk->bik")',
        ),
    }
    # Optional kinds take the same values as their plain kind (TOML has no None to give).
    aliases = {
        "opt_size": "size",
        "opt_float": "pos_float",
        "opt_bool": "bool",
        "opt_index": "dim",
        "opt_int": "int",
        "opt_value": "value",
        "opt_number": "number",
        "opt_dims": "dims_or_dim",
    }
    test, expected = rules[aliases.get(arg.kind, arg.kind)]
    items = value if isinstance(value, (list, tuple)) else (value,)
    if any(_is_int(v) and abs(v) > INT64_MAX for v in items):
        return "an integer that fits in 64 bits"
    return None if test(value) else expected


# Kinds whose value (or each of whose list items) may be an expression of the constructor's
# parameters, written as a string: ``out_channels = "channels * 4"``; a probability, a flag or
# an op's number names a parameter (``p = "dropout"``, ``bias = "bias"``, ``other = "scale"``),
# checked once it has a value.
EXPR_KINDS = frozenset(
    {
        "int",
        "size",
        "opt_size",
        "padding",
        "pad",
        "shape",
        "new_shape",
        "opt_shape",
        "sizes",
        "dim",
        "opt_int",
        "dims",
        "ints",
    }
    | {"prob", "bool", "number"}
)
