"""Hypothesis strategies shared by the tests that fuzz torchgen: layer arguments (valid or not),
hostile values, and whole TOML specs."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from torchscaffold.catalog import LAYERS as CATALOG
from torchscaffold.catalog import LayerType

SMALL = st.integers(1, 6)
# Values drawn per argument name where the kind alone would be too broad or too narrow.
BY_NAME = {
    "out_channels": st.integers(1, 8),
    "out_features": st.integers(1, 8),
    "num_embeddings": st.integers(1, 20),
    "embedding_dim": st.integers(1, 8),
    "stride": st.integers(1, 3),
    "dilation": st.integers(1, 2),
    "groups": st.integers(1, 3),
    "output_padding": st.integers(0, 2),
    "num_groups": st.integers(1, 4),
    "momentum": st.floats(0.01, 0.99),
    "negative_slope": st.floats(0.0, 0.5),
    "max_norm": st.none(),  # renormalising writes into the weight; not a shape matter
    "sparse": st.just(False),
    "kdim": st.integers(1, 8) | st.none(),
    "vdim": st.integers(1, 8) | st.none(),
    "hidden_size": st.integers(1, 6),
    "num_layers": st.integers(1, 3),
    "proj_size": st.integers(1, 4) | st.just(0),
    "num_heads": st.integers(1, 4),
    "dropout": st.just(0.0),  # random: only shapes matter here
}
# What a careless or hostile spec puts where a number belongs.
HOSTILE = st.sampled_from(
    [0, -1, 2**31, 2**63, 10**30, 1e308, -1e308, math.inf, math.nan, True, "x", [], [0], [1] * 5]
)


def per_dim(one: st.SearchStrategy, n: int) -> st.SearchStrategy:
    """An int, a list of one per spatial dimension, or (sometimes) a list of the wrong length."""
    return one | st.lists(one, min_size=n, max_size=n) | st.lists(one, min_size=1, max_size=3)


def arg_value(data: st.DataObject, layer: LayerType, arg: Any, rank: int) -> Any:
    """A value for ``arg`` of ``layer`` on a per-sample input of ``rank`` dimensions."""
    n = rank - 1
    if arg.name in BY_NAME:
        return data.draw(BY_NAME[arg.name], label=arg.name)
    if arg.name == "start_dim":  # torchgen refuses, on purpose, to flatten the batch dimension
        return data.draw(st.integers(-rank - 2, rank + 2), label=arg.name)
    kind = arg.kind
    if kind in ("size", "opt_size"):
        return data.draw(per_dim(st.integers(max(arg.minimum, 1), 5), n), label=arg.name)
    if kind == "padding":  # a convolution's
        choice = per_dim(st.integers(0, 3), n) | st.sampled_from(["same", "valid"])
        return data.draw(choice, label=arg.name)
    if kind == "pad":  # a padding layer's: one amount, or (left, right[, top, bottom]); < 0 crops
        amount = st.integers(-2, 3)
        return data.draw(amount | st.lists(amount, min_size=1, max_size=5), label=arg.name)
    if kind == "sizes":  # see factorizations() for lists that fit
        size = st.integers(1, 6) | st.sampled_from([-1, 0])
        return data.draw(st.lists(size, min_size=1, max_size=3), label=arg.name)
    if kind in ("int", "opt_int"):
        return data.draw(SMALL, label=arg.name)
    if kind == "prob":
        return data.draw(st.floats(0, 1), label=arg.name)
    if kind in ("float", "pos_float", "opt_float"):
        return data.draw(st.floats(1e-6, 1.0), label=arg.name)
    if kind in ("bool", "opt_bool"):
        return data.draw(st.booleans(), label=arg.name)
    if kind == "choice":
        return data.draw(st.sampled_from(arg.choices), label=arg.name)
    if kind in ("shape", "opt_shape"):
        return data.draw(per_dim(st.integers(1, 8), n), label=arg.name)
    if kind == "opt_scale":
        return data.draw(st.sampled_from([0.5, 1, 1.5, 2, 3]), label=arg.name)
    if kind in ("dim", "opt_index"):
        return data.draw(st.integers(-rank - 1, rank), label=arg.name)
    raise AssertionError(kind)


@st.composite
def factorizations(draw: Any, size: int) -> list[int]:
    """Sizes whose product is ``size`` (1 to 3 of them), one of them sometimes -1."""
    factors, rest = [], size
    for _ in range(draw(st.integers(0, 2))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        factors.append(draw(st.sampled_from(divisors)))
        rest //= factors[-1]
    factors.append(rest)
    factors = draw(st.permutations(factors))
    if draw(st.booleans()):
        factors[draw(st.integers(0, len(factors) - 1))] = -1
    return list(factors)


# ------------------------------------------------------------------------------------- TOML
def toml_value(value: Any) -> str:
    """A TOML literal for what the strategies draw (no tomli_w dependency for the tests)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_string(text: str) -> str:
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if key.replace("_", "a").replace("-", "a").isalnum() else toml_string(key)


def toml_spec(spec: dict[str, Any]) -> str:
    """``{"model": {...}, "layers": [...], "blocks": {...}}`` as a TOML document."""
    lines = ["[model]"]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in spec["model"].items()]
    for layer in spec.get("layers", []):
        lines.append("\n[[layers]]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in layer.items()]
    for name, block in spec.get("blocks", {}).items():
        lines.append(f"\n[blocks.{name}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in block.items()]
    return "\n".join(lines) + "\n"


@st.composite
def layer_tables(draw: Any, rank: int, hostile: bool = True) -> dict[str, Any]:
    """One ``[[layers]]`` table: a catalog layer with some of its arguments, now and then a
    hostile value or an argument it does not take."""
    # Mostly layers that take this rank (their arguments then get a fair test), now and then any.
    fitting = sorted(t for t, lt in CATALOG.items() if rank in lt.ranks and not lt.integer_input)
    anything = sorted(t for t, lt in CATALOG.items() if not lt.integer_input)
    name = draw(st.sampled_from(fitting) if draw(st.integers(0, 4)) else st.sampled_from(anything))
    layer = CATALOG[name]
    table: dict[str, Any] = {"type": name}
    data = draw(st.data())
    for arg in layer.args:
        if arg.name == layer.inferred:
            continue
        if arg.required or draw(st.booleans()):
            table[arg.name] = arg_value(data, layer, arg, rank)
            if hostile and draw(st.integers(0, 9)) == 0:
                table[arg.name] = draw(HOSTILE)
            if table[arg.name] is None:  # TOML has no None: leaving it out says the same
                del table[arg.name]
    if name == "Upsample" and "size" in table and "scale_factor" in table:
        del table["size"]
    return table


@st.composite
def specs(draw: Any) -> dict[str, Any]:
    """A whole spec: an input of rank 1 to 3, a chain of layers, sometimes a residual block
    used once or repeated, sometimes a hostile value anywhere."""
    rank = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 10), min_size=rank, max_size=rank))
    layers = draw(st.lists(layer_tables(rank), min_size=1, max_size=4))
    spec: dict[str, Any] = {"model": {"input": shape}, "layers": layers}
    if draw(st.booleans()):
        body = draw(st.lists(layer_tables(rank), min_size=1, max_size=3))
        for table in body:  # the block's parameter sizes its layers, as in a real block
            for key in ("out_channels", "out_features"):
                if key in table and draw(st.booleans()):
                    table[key] = "width"
        unit: dict[str, Any] = {"residual": draw(st.booleans()), "layers": body}
        if any("width" in table.values() for table in body):  # a parameter nothing reads is refused
            unit["params"] = {"width": draw(st.integers(1, 6))}
        spec["blocks"] = {"Unit": unit}
        call = {"block": "Unit", "repeat": draw(st.integers(1, 3))}
        layers.insert(draw(st.integers(0, len(layers))), call)
    return spec


# ------------------------------------------------------------------ parametric descriptions
# Descriptions whose sizes are constructor parameters, each exercising a way a size follows
# from others (tests/test_parametric.py): built as parse_spec's dict, parameters as names.
def _model(params: dict[str, Any], **model: Any) -> dict[str, Any]:
    return {"params": params, **model}


@st.composite
def recurrent_specs(draw: Any, *, states: bool) -> dict[str, Any]:
    """Token ids, an embedding, an LSTM or GRU sized by parameters, a Linear. Without
    ``states``: one direction, its output sequence (mean, last step or all of it); with:
    two directions, a projection or the final state ``h_n[-1]`` (taken by select)."""
    lstm = draw(st.booleans())
    params = {"vocab": draw(st.integers(2, 9)), "emb": draw(st.integers(1, 4))}
    params |= {"hidden": draw(st.integers(2, 5)), "classes": draw(st.integers(1, 4))}
    recurrent: dict[str, Any] = {"type": "LSTM" if lstm else "GRU", "hidden_size": "hidden"}
    recurrent |= {"batch_first": True, "num_layers": draw(st.integers(1, 2))}
    steps: list[dict[str, Any]] = [
        {"type": "Embedding", "num_embeddings": "vocab", "embedding_dim": "emb"},
        recurrent,
    ]
    take_state = False
    if states:
        recurrent["bidirectional"] = draw(st.booleans())
        if lstm and draw(st.booleans()):
            params["proj"] = draw(st.integers(1, params["hidden"] - 1))
            recurrent["proj_size"] = "proj"
        take_state = draw(st.booleans())
        if not (recurrent["bidirectional"] or "proj" in params):
            take_state = True  # the case a one-way recurrent layer has
    if take_state:
        recurrent["out"] = ["_", "h_n", "_"] if lstm else ["_", "h_n"]
        steps.append({"op": "select", "in": "h_n", "dim": 0, "index": -1})
    else:
        recurrent["out"] = "states"
        pooling = draw(st.sampled_from(["mean", "last", "none"]))
        if pooling == "mean":
            steps.append({"op": "mean", "dim": 1})
        elif pooling == "last":
            steps.append({"op": "select", "dim": 1, "index": -1})
    steps.append({"type": "Linear", "out_features": "classes"})
    length = draw(st.integers(2, 4))
    return {"model": _model(params, input=["seq"], lengths={"seq": length}), "layers": steps}


@st.composite
def dense_specs(draw: Any) -> dict[str, Any]:
    """A DenseNet-like stage: a block that concatenates its input with ``growth`` new
    channels, repeated (each instance's input wider), between 1x1 convolutions of ``width``."""
    params = {"growth": draw(st.integers(1, 4)), "classes": draw(st.integers(1, 3))}
    steps: list[dict[str, Any]] = []
    if draw(st.booleans()):
        params["width"] = draw(st.integers(1, 5))
        steps.append({"type": "Conv2d", "out_channels": "width", "kernel_size": 1})
    steps.append({"block": "DenseLayer", "name": "dense", "growth": "growth"})
    # Mostly 3: from the third instance on, each one's input differs from the second's.
    steps[-1]["repeat"] = draw(st.sampled_from([1, 2, 3, 3, 3, 3]))
    if draw(st.booleans()):
        steps.append({"type": "Conv2d", "name": "transition", "out_channels": "growth * 2"})
        steps[-1]["kernel_size"] = 1
    steps += [
        {"type": "AdaptiveAvgPool2d", "output_size": 1},
        {"op": "flatten", "start_dim": 1},
        {"type": "Linear", "out_features": "classes"},
    ]
    bn = draw(st.booleans())
    body = [{"type": "BatchNorm2d"}] if bn else []
    body += [
        {"type": "ReLU"},
        {"type": "Conv2d", "out_channels": "growth", "kernel_size": 3, "padding": 1},
        {"op": "concat", "in": ["x", "conv"], "dim": 1},
    ]
    size = draw(st.integers(2, 4))
    shape = [draw(st.integers(1, 4)), size, size]
    return {
        "model": _model(params, input=shape),
        "layers": steps,
        "blocks": {"DenseLayer": {"params": {"growth": 4}, "layers": body}},
    }


@st.composite
def reshaping_specs(draw: Any) -> dict[str, Any]:
    """Features split into heads and back (unflatten, transpose, flatten, reshape), a
    position picked (select, narrow), with the widths as parameters."""
    heads = draw(st.integers(1, 3))
    params = {
        "heads": heads,
        "head_dim": draw(st.integers(1, 3)),
        "classes": draw(st.integers(1, 3)),
    }
    steps: list[dict[str, Any]] = [
        {"type": "Linear", "out_features": "heads * head_dim"},
        {"op": "unflatten", "dim": -1, "sizes": ["heads", -1]},
        {"op": "transpose", "dim0": 1, "dim1": 2},
    ]
    if draw(st.booleans()):
        steps.append({"op": "flatten", "start_dim": 2})
    else:
        steps.append({"op": "reshape", "shape": ["size(0)", "heads", -1]})
    pick = draw(st.sampled_from(["select", "narrow", "mean"]))
    if pick == "select":
        steps.append({"op": "select", "dim": 1, "index": draw(st.sampled_from([0, -1]))})
    elif pick == "narrow":
        steps += [{"op": "narrow", "dim": 1, "start": 0, "length": 1}, {"op": "flatten"}]
    else:
        steps.append({"op": "mean", "dim": 1})
    steps.append({"type": "Linear", "out_features": "classes"})
    shape = [draw(st.integers(2, 4)), draw(st.integers(1, 5))]
    return {"model": _model(params, input=shape), "layers": steps}


@st.composite
def merging_specs(draw: Any) -> dict[str, Any]:
    """A block of two inputs (the value and a skip kept from earlier), concatenating them,
    repeated with the skip passed to every instance, its widths parameters; flags that switch
    a bias and a norm layer."""
    params = {"width": draw(st.integers(1, 4)), "classes": draw(st.integers(1, 3))}
    params |= {"bias": draw(st.booleans()), "norm": draw(st.booleans())}
    steps: list[dict[str, Any]] = [
        {"type": "Conv1d", "name": "stem", "out_channels": "width", "kernel_size": 1},
        {"type": "Conv1d", "name": "mix", "out_channels": "width * 2", "kernel_size": 1},
        {"block": "Merge", "name": "merge", "in": ["mix", "stem"], "out_channels": "width"},
        {"type": "BatchNorm1d", "when": "norm"},
    ]
    steps[0]["bias"] = "bias"
    steps[2]["repeat"] = draw(st.integers(1, 2))
    steps += [{"op": "mean", "dim": -1}, {"type": "Linear", "out_features": "classes"}]
    merge = {
        "inputs": ["x", "skip"],
        "params": {"out_channels": 4},
        "layers": [
            {"op": "concat", "in": ["x", "skip"], "dim": 1},
            {"type": "Conv1d", "out_channels": "out_channels", "kernel_size": 1},
        ],
    }
    shape = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    return {"model": _model(params, input=shape), "layers": steps, "blocks": {"Merge": merge}}
