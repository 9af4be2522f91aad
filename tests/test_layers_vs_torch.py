"""The pure-Python shape and parameter rules agree with torch for every catalog layer.

Hypothesis draws layer arguments and input shapes, valid or not; torch builds the layer and runs
it on the meta device. Where torchgen predicts a shape, torch must produce exactly it and have the
predicted parameter count; where torchgen refuses, torch must fail too.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import arg_value, factorizations

from torchscaffold.catalog import LAYERS as CATALOG
from torchscaffold.catalog import LayerType
from torchscaffold.errors import TorchgenError
from torchscaffold.shapes import resolve
from torchscaffold.spec.ir import Block, Input, Model, Step


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
            args[arg.name] = arg_value(data, layer, arg, len(shape))
    if layer.name == "Upsample":
        args.pop("size" if data.draw(st.booleans(), label="by size") else "scale_factor", None)
    for arg in layer.args:  # Unflatten: mostly a dim of the sample and sizes that fit it
        if arg.kind == "sizes" and data.draw(st.integers(0, 3), label="fitting sizes"):
            rank = len(shape)
            args["dim"] = data.draw(st.integers(1, rank) | st.integers(-rank, -1), label="dim")
            size = shape[args["dim"] - 1 if args["dim"] > 0 else args["dim"]]
            args[arg.name] = data.draw(factorizations(size), label=arg.name)
    return shape, args


def _uneven_list(args: dict, n: int) -> bool:
    return any(isinstance(v, list) and len(v) != n for v in args.values())


def _other_padding(layer: LayerType, args: dict) -> bool:
    """A padding layer given a list of amounts other than two per dimension it is named for
    (ZeroPad2d: 4): torch pads as many trailing dimensions as the list covers."""
    n = min(layer.ranks)  # the padding layers take every rank from the dims they pad
    return any(
        a.kind == "pad" and isinstance(args.get(a.name), list) and len(args[a.name]) != 2 * n
        for a in layer.args
    )


def _inputs(torch, layer: LayerType, args: dict, shape: tuple[int, ...], device: str):
    """The layer's inputs for a batch of 2, the batch where the layer expects it (an RNN
    without batch_first reads (L, N, H))."""
    values = {a.name: args.get(a.name, a.default) for a in layer.args}
    full = list(shape)
    full.insert(layer.batch_axis(values), 2)
    dtype = torch.long if layer.integer_input else torch.float32
    return [torch.zeros(full, dtype=dtype, device=device)] * len(layer.inputs)


def _sample(layer: LayerType, args: dict, y) -> tuple[int, ...]:
    """The first output's per-sample shape (its batch dimension taken out)."""
    first = y[0] if isinstance(y, tuple) else y
    values = {a.name: args.get(a.name, a.default) for a in layer.args}
    shape = list(first.shape)
    del shape[layer.batch_axis(values)]
    return tuple(shape)


def _run_on_cpu(torch, layer: LayerType, args: dict, shape: tuple[int, ...]):
    module = _torch_layer(torch, layer, args, shape).to_empty(device="cpu")
    return module(*_inputs(torch, layer, args, shape, "cpu"))


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
    step = Step(
        "layer",
        name,
        args=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items()),
    )
    params = () if layer.integer_input else (("in_channels", shape[0]),)
    model = Model(
        name="M",
        inputs=(Input("x", shape, "int64" if layer.integer_input else "float32"),),
        main=Block("M", steps=(step,), params=params),
        input_param=None if layer.integer_input else "in_channels",
    )
    try:
        resolved = resolve(model)
    except TorchgenError:
        predicted = None
    else:
        predicted = resolved
    try:
        module = _torch_layer(torch, layer, args, shape)
        y = module(*_inputs(torch, layer, args, shape, "meta"))
    except Exception as exc:  # noqa: BLE001 - any refusal by torch counts
        assert (
            predicted is None
        ), f"torch refused ({exc}) but torchgen predicted {predicted.output_shape}"
        return
    first = y[0] if isinstance(y, tuple) else y
    if predicted is None and 0 in first.shape:
        return  # torch returns an empty tensor; torchgen refuses a zero-sized layer on purpose
    if predicted is None and name == "Flatten" and args.get("start_dim", 1) % (len(shape) + 1) == 0:
        return  # torchgen refuses, on purpose, to flatten the batch dimension into a sample
    if predicted is None and name == "Unflatten" and args["dim"] % (len(shape) + 1) == 0:
        return  # nor to unflatten the batch dimension
    if predicted is None and _uneven_list(args, len(shape) - 1):
        return  # torch broadcasts [k] for pooling; torchgen asks for k or one per dimension
    if predicted is None and _other_padding(layer, args):
        return  # ZeroPad2d([1, 2]) pads W only; torchgen asks for one number or all four
    if predicted is None:
        # Meta kernels skip some value checks (output_padding < stride, for one): the real CPU
        # kernel on the same tiny input must refuse what torchgen refused.
        with pytest.raises(Exception):  # noqa: B017 - any refusal by torch will do
            _run_on_cpu(torch, layer, args, shape)
        return
    assert _sample(layer, args, y) == predicted.output_shape
    assert sum(p.numel() for p in module.parameters()) == predicted.total_params
