"""The pure-Python shape and parameter rules agree with torch for every catalog layer.

Hypothesis draws layer arguments and input shapes, valid or not; torch builds the layer and runs
it on the meta device. Where torchgen predicts a shape, torch must produce exactly it and have the
predicted parameter count; where torchgen refuses, torch must fail too.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchscaffold.errors import TorchgenError
from torchscaffold.layers import CATALOG, LayerType
from torchscaffold.shapes import resolve
from torchscaffold.spec.ir import Layer, Model

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
}


def _arg_value(data, layer: LayerType, arg, rank: int):
    n = rank - 1
    if arg.name in BY_NAME:
        return data.draw(BY_NAME[arg.name], label=arg.name)
    if arg.name == "start_dim":  # torchgen refuses, on purpose, to flatten the batch dimension
        return data.draw(st.integers(1, rank) | st.integers(-rank, -1), label=arg.name)
    kind = arg.kind
    if kind in ("size", "opt_size"):
        one = st.integers(max(arg.minimum, 1), 5)
        return data.draw(one | st.lists(one, min_size=n, max_size=n), label=arg.name)
    if kind == "padding":
        if layer.name.startswith("Conv") and "Transpose" not in layer.name:
            choice = st.integers(0, 3) | st.sampled_from(["same", "valid"])
        else:
            choice = st.integers(0, 3)
        return data.draw(choice, label=arg.name)
    if kind == "int":
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
        one = st.integers(1, 8)
        return data.draw(one | st.lists(one, min_size=n, max_size=n), label=arg.name)
    if kind == "opt_scale":
        return data.draw(st.sampled_from([0.5, 1, 1.5, 2, 3]), label=arg.name)
    if kind in ("dim", "opt_index"):
        return data.draw(st.integers(-rank - 1, rank), label=arg.name)
    raise AssertionError(kind)


def _draw_case(data, layer: LayerType):
    rank = data.draw(st.sampled_from(layer.ranks), label="rank")
    if layer.integer_input:
        shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=2), label="shape"))
    else:
        shape = tuple(
            data.draw(st.lists(st.integers(1, 12), min_size=rank, max_size=rank), label="shape")
        )
    args = {}
    for arg in layer.args:
        if arg.name == layer.inferred:
            continue
        if arg.required or data.draw(st.booleans(), label=f"give {arg.name}"):
            args[arg.name] = _arg_value(data, layer, arg, len(shape))
    if layer.name == "Upsample":
        args.pop("size" if data.draw(st.booleans(), label="by size") else "scale_factor", None)
    return shape, args


def _run_on_cpu(torch, layer: LayerType, args: dict, shape: tuple[int, ...]):
    module = _torch_layer(torch, layer, args, shape).to_empty(device="cpu")
    if layer.integer_input:
        return module(torch.zeros((2, *shape), dtype=torch.long))
    return module(torch.zeros((2, *shape)))


def _torch_layer(torch, layer: LayerType, args: dict, shape: tuple[int, ...]):
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    for arg in layer.args:  # arguments torchgen always writes out, whose torch default differs
        if arg.always:
            kwargs.setdefault(arg.name, arg.default)
    if layer.inferred:
        kwargs[layer.inferred] = shape[-1] if layer.in_dim == -1 else shape[0]
    with torch.device("meta"):
        return getattr(torch.nn, layer.name)(**kwargs)


@pytest.mark.parametrize("name", sorted(CATALOG))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rule_matches_torch(torch, name, data):
    layer = CATALOG[name]
    shape, args = _draw_case(data, layer)
    model = Model(
        name="M",
        input_shape=shape,
        body=(
            Layer(
                name, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items())
            ),
        ),
        input_param=None if layer.integer_input else "in_channels",
        params=() if layer.integer_input else (("in_channels", shape[0]),),
    )
    try:
        resolved = resolve(model)
    except TorchgenError:
        predicted = None
    else:
        predicted = resolved
    if layer.integer_input:
        x = torch.empty((2, *shape), dtype=torch.long, device="meta")
    else:
        x = torch.empty((2, *shape), device="meta")
    try:
        module = _torch_layer(torch, layer, args, shape)
        y = module(x)
    except Exception as exc:  # noqa: BLE001 - any refusal by torch counts
        assert (
            predicted is None
        ), f"torch refused ({exc}) but torchgen predicted {predicted.output_shape}"
        return
    if predicted is None and 0 in y.shape:
        return  # torch returns an empty tensor; torchgen refuses a zero-sized layer on purpose
    if predicted is None:
        # Meta kernels skip some value checks (output_padding < stride, for one): the real CPU
        # kernel on the same tiny input must refuse what torchgen refused.
        with pytest.raises(Exception):  # noqa: B017 - any refusal by torch will do
            _run_on_cpu(torch, layer, args, shape)
        return
    assert tuple(y.shape) == (2, *predicted.output_shape)
    assert sum(p.numel() for p in module.parameters()) == predicted.total_params
