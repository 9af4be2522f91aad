"""The pure-Python shape and parameter rules agree with torch for every catalog layer.

Hypothesis draws layer arguments and input shapes, valid or not; torch builds the layer and runs
it on the meta device. Where torchgen predicts a shape, torch must produce exactly it and have the
predicted parameter count; where torchgen refuses, torch must fail too.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from strategies import arg_value, factorizations
from torchscaffold.catalog import LAYERS as CATALOG
from torchscaffold.catalog import LayerType
from torchscaffold.errors import TorchgenError
from torchscaffold.render import code
from torchscaffold.shapes import resolve
from torchscaffold.spec.ir import Block, Input, Model, Step


def _draw_case(data, layer: LayerType):
    """Per-sample shapes of the inputs given (the first, then for attention a key and a value of
    their own lengths and features, sometimes left to default to the query) and arguments."""
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
        # batch_first is drawn every time: both ways, evenly (where the batch sits is what
        # the recurrent layers and attention most easily get wrong).
        if (
            arg.required
            or arg.name == "batch_first"
            or data.draw(st.booleans(), label=f"give {arg.name}")
        ):
            args[arg.name] = arg_value(data, layer, arg, len(shape))
    if layer.name == "Upsample":
        args.pop("size" if data.draw(st.booleans(), label="by size") else "scale_factor", None)
    for arg in layer.args:  # Unflatten: mostly a dim of the sample and sizes that fit it
        if arg.kind == "sizes" and data.draw(st.integers(0, 3), label="fitting sizes"):
            rank = len(shape)
            args["dim"] = data.draw(st.integers(1, rank) | st.integers(-rank, -1), label="dim")
            size = shape[args["dim"] - 1 if args["dim"] > 0 else args["dim"]]
            args[arg.name] = data.draw(factorizations(size), label=arg.name)
    shapes = [shape]
    if layer.has("attention"):
        if data.draw(st.integers(0, 3), label="embed_dim fits the heads"):
            head_dim = data.draw(st.integers(1, 3), label="head_dim")
            shapes = [(shape[0], args["num_heads"] * head_dim)]
        shapes += _key_value(data, args, shapes[0])
    return shapes, args


def _key_value(data, args: dict, query: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Key and value for attention: of another length than the query, ending in kdim and vdim
    (or embed_dim where those are not given), now and then a size that does not fit; none
    given (self-attention) or only the key, now and then."""
    given = data.draw(st.sampled_from([2, 0, 1]), label="key/value given")
    length = data.draw(st.integers(1, 12), label="key length")
    out = []
    for name in ("kdim", "vdim")[:given]:
        fits = args.get(name) or query[-1]
        features = data.draw(st.just(fits) | st.integers(1, 12), label=f"{name} of the input")
        if name == "vdim" and not data.draw(st.integers(0, 5), label="value of another length"):
            length = data.draw(st.integers(1, 12), label="value length")
        out.append((length, features))
    return out


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


def _inputs(torch, layer: LayerType, args: dict, shapes: list[tuple[int, ...]], device: str):
    """The layer's inputs for a batch of 2, the batch where the layer expects it (an RNN
    without batch_first reads (L, N, H)); inputs not given are the first (self-attention)."""
    values = {a.name: args.get(a.name, a.default) for a in layer.args}
    dtype = torch.long if layer.integer_input else torch.float32
    out = []
    for shape in shapes:
        full = list(shape)
        full.insert(layer.batch_axis(values), 2)
        out.append(torch.zeros(full, dtype=dtype, device=device))
    return out + [out[0]] * (len(layer.inputs) - len(out))


def _sample(layer: LayerType, args: dict, y) -> tuple[int, ...]:
    """The first output's per-sample shape (its batch dimension taken out)."""
    first = y[0] if isinstance(y, tuple) else y
    values = {a.name: args.get(a.name, a.default) for a in layer.args}
    shape = list(first.shape)
    del shape[layer.batch_axis(values)]
    return tuple(shape)


def _run_on_cpu(torch, layer: LayerType, args: dict, shapes: list[tuple[int, ...]]):
    module = _torch_layer(torch, layer, args, shapes[0]).to_empty(device="cpu")
    return module(*_inputs(torch, layer, args, shapes, "cpu"))


def _torch_layer(torch, layer: LayerType, args: dict, shape: tuple[int, ...]):
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    for arg in layer.args:  # arguments torchgen always writes out, whose torch default differs
        if arg.always:
            kwargs.setdefault(arg.name, arg.default)
    if layer.inferred:
        kwargs[layer.inferred] = shape[-1] if layer.in_dim == -1 else shape[0]
    with torch.device("meta"):
        return getattr(torch.nn, layer.name)(**kwargs)


def _model(layer: LayerType, shapes: list[tuple[int, ...]], args: dict) -> Model:
    """A model of one step: the layer on inputs of these per-sample shapes."""
    names = ("x", "key", "value")[: len(shapes)]
    step = Step(
        "layer",
        layer.name,
        args=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items()),
        inputs=names,
    )
    dtype = "int64" if layer.integer_input else "float32"
    params = () if layer.integer_input else (("in_channels", shapes[0][0]),)
    return Model(
        name="M",
        inputs=tuple(Input(n, s, dtype) for n, s in zip(names, shapes)),
        main=Block("M", steps=(step,), inputs=names, params=params),
        input_param=None if layer.integer_input else "in_channels",
    )


def _check_functional(torch, layer: LayerType, predicted, args: dict, shape: tuple[int, ...]):
    """The call the explicit style writes for a parameter-free layer (``F.relu6(x,
    inplace=True)``, ``F.max_pool3d(x, kernel_size=2)``) computes what the module computes."""
    (step,) = predicted.main.steps
    call = code.functional(step, ["x"], code.INIT)
    x = torch.randn(2, *shape)
    module = _torch_layer(torch, layer, args, shape).to_empty(device="cpu").eval()
    expected = module(x.clone())
    scope = {
        "F": torch.nn.functional,
        "torch": torch,
        "x": x.clone(),
        "self": SimpleNamespace(training=False),  # the module's flag, as forward reads it
    }
    torch.testing.assert_close(eval(call, scope), expected, msg=call)


@pytest.mark.parametrize("name", sorted(CATALOG))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rule_matches_torch(torch, name, data):
    layer = CATALOG[name]
    shapes, args = _draw_case(data, layer)
    shape = shapes[0]
    try:
        predicted = resolve(_model(layer, shapes, args))
    except TorchgenError:
        predicted = None
    event("torchgen refuses" if predicted is None else "torchgen predicts")
    try:
        module = _torch_layer(torch, layer, args, shape)
        y = module(*_inputs(torch, layer, args, shapes, "meta"))
    except Exception as exc:  # noqa: BLE001 - any refusal by torch counts
        assert (
            predicted is None
        ), f"torch refused ({exc}) but torchgen predicted {predicted.output_shape}"
        return
    first = y[0] if isinstance(y, tuple) else y
    # Deliberate strictnesses: where torch accepts and torchgen refuses on purpose.
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
            _run_on_cpu(torch, layer, args, shapes)
        return
    assert _sample(layer, args, y) == predicted.output_shape
    assert sum(p.numel() for p in module.parameters()) == predicted.total_params
    if layer.functional:
        _check_functional(torch, layer, predicted, args, shape)
