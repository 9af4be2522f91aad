"""The catalog of supported ``torch.nn`` layers, in pure Python.

Each entry knows its constructor arguments (in torch's positional order), which argument is
inferred from the incoming shape, the rule from input to output shape (per sample, no batch
dimension), the parameter count, and, for parameter-free layers, the functional call the explicit
style may use instead of an attribute. tests/test_layers_vs_torch.py checks every rule against
torch on the meta device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torchscaffold.errors import TorchgenError, unknown

REQUIRED = object()
Shape = tuple[int, ...]
Args = Mapping[str, Any]


class ShapeError(TorchgenError):
    """An impossible shape; the caller prefixes the layer it happened in."""


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str  # int | size | padding | float | prob | bool | choice | shape | opt_int | opt_float
    default: Any = REQUIRED
    minimum: int = 1  # for int-like kinds
    choices: tuple[str, ...] = ()
    always: bool = False  # render even when equal to the default (the functional default differs)
    keyword: bool = False  # render required as keyword=value, as torchvision writes kernel_size

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _no_params(args: Args) -> int:
    return 0


@dataclass(frozen=True)
class LayerType:
    name: str
    args: tuple[Arg, ...]
    base_name: str  # attribute names: conv1, conv2, bn1, fc, ...
    help: str
    out_shape: Callable[[Shape, Args], Shape]
    params: Callable[[Args], int] = _no_params
    inferred: str | None = None  # argument taken from the input shape
    in_dim: int = 0  # which input dimension it is taken from (0: channels, -1: features)
    out_arg: str | None = None  # argument that sets the produced feature dimension
    out_dim: int = 0
    ranks: tuple[int, ...] = (1, 2, 3, 4)  # accepted per-sample input ranks
    functional: str | None = None  # e.g. "F.relu": the explicit style's parameter-free call
    needs_training: bool = False  # functional dropout takes training=self.training
    integer_input: bool = False  # Embedding
    call_defaults: tuple[tuple[str, str], ...] = ()  # the functional form needs them spelled out

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)


# ---------------------------------------------------------------------------------- shape maths
def _tuple(value: Any, n: int) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def _per_dim(a: Args, name: str, n: int, value: Any = None) -> tuple[Any, ...]:
    """Argument ``name`` as one value per spatial dimension: an int, or a list of exactly ``n``.

    torch broadcasts a one-element list for pooling but not for convolution; torchgen asks for
    the plain int in both cases, so the rule stays one rule."""
    value = a[name] if value is None else value
    t = _tuple(value, n)
    if len(t) != n:
        raise ShapeError(f"{name} must be a number or a list of {n}, got {list(t)}")
    return t


def _conv_dims(shape: Shape, a: Args, n: int, transposed: bool = False) -> Shape:
    if len(shape) != n + 1:
        raise ShapeError(f"expects input of shape (C, {_spatial_names(n)}), got {_fmt(shape)}")
    k, s, d = (_per_dim(a, x, n) for x in ("kernel_size", "stride", "dilation"))
    groups = a["groups"]
    for arg in ("in_channels", "out_channels"):
        if a[arg] % groups:
            raise ShapeError(f"{arg}={a[arg]} is not divisible by groups={groups}")
    if transposed:
        p = _per_dim(a, "padding", n)
        op = _per_dim(a, "output_padding", n)
        out = []
        for size, ki, si, pi, di, opi in zip(shape[1:], k, s, p, d, op):
            if opi >= max(si, di):
                raise ShapeError(f"output_padding={opi} must be smaller than stride or dilation")
            out.append((size - 1) * si - 2 * pi + di * (ki - 1) + opi + 1)
    else:
        pad = a["padding"]
        if pad == "same":
            if any(si != 1 for si in s):
                raise ShapeError("padding='same' requires stride=1")
            p = tuple(-(-di * (ki - 1) // 2) for ki, di in zip(k, d))  # the larger side
        else:
            p = (0,) * n if pad == "valid" else _per_dim(a, "padding", n)
        mode = a["padding_mode"]
        for size, pi in zip(shape[1:], p):
            if (mode == "reflect" and pi >= size) or (mode == "circular" and pi > size):
                raise ShapeError(
                    f"padding={pi} in {mode!r} mode does not fit an input of size {size}"
                )
        if pad == "same":
            return (a["out_channels"], *shape[1:])
        out = []
        for size, ki, si, pi, di in zip(shape[1:], k, s, p, d):
            span = di * (ki - 1) + 1
            if size + 2 * pi < span:
                raise ShapeError(
                    f"kernel of size {span} (dilated) is bigger than the padded input "
                    f"{size + 2 * pi}"
                )
            out.append((size + 2 * pi - span) // si + 1)
    if any(o <= 0 for o in out):
        raise ShapeError(f"output size {_fmt(tuple(out))} is not positive")
    return (a["out_channels"], *out)


def _conv_params(n: int, transposed: bool = False) -> Callable[[Args], int]:
    def count(a: Args) -> int:
        k = math.prod(_tuple(a["kernel_size"], n))
        if transposed:
            weight = a["in_channels"] * (a["out_channels"] // a["groups"]) * k
        else:
            weight = a["out_channels"] * (a["in_channels"] // a["groups"]) * k
        return weight + (a["out_channels"] if a["bias"] else 0)

    return count


def _pool_dims(shape: Shape, a: Args, n: int, dilation: bool) -> Shape:
    if len(shape) != n + 1:
        raise ShapeError(f"expects input of shape (C, {_spatial_names(n)}), got {_fmt(shape)}")
    k = _per_dim(a, "kernel_size", n)
    s = _per_dim(a, "stride", n) if a["stride"] is not None else k
    p = _per_dim(a, "padding", n)
    d = _per_dim(a, "dilation", n) if dilation else (1,) * n
    out = []
    for size, ki, si, pi, di in zip(shape[1:], k, s, p, d):
        if pi > ki // 2:
            raise ShapeError(f"padding={pi} must be at most half the kernel size {ki}")
        # torch's pooling_output_shape: in ceil mode the last window may run past the end, as
        # long as it starts inside the (left-padded) input.
        span = di * (ki - 1) + 1
        numerator = size + 2 * pi - span + (si - 1 if a["ceil_mode"] else 0)
        o = numerator // si + 1
        if a["ceil_mode"] and (o - 1) * si >= size + pi:
            o -= 1
        if o <= 0:
            raise ShapeError(
                f"kernel of size {span} is bigger than the padded input {size + 2 * pi}"
            )
        out.append(o)
    if any(o <= 0 for o in out):
        raise ShapeError(f"output size {_fmt(tuple(out))} is not positive")
    return (shape[0], *out)


def _adaptive(shape: Shape, a: Args, n: int) -> Shape:
    if len(shape) != n + 1:
        raise ShapeError(f"expects input of shape (C, {_spatial_names(n)}), got {_fmt(shape)}")
    size = _per_dim(a, "output_size", n)
    return (shape[0], *(s if o is None else o for s, o in zip(shape[1:], size)))


def _linear(shape: Shape, a: Args) -> Shape:
    return (*shape[:-1], a["out_features"])


def _flatten(shape: Shape, a: Args) -> Shape:
    # start_dim/end_dim count the batch dimension, as in torch.
    full = (1, *shape)
    for name in ("start_dim", "end_dim"):
        if not -len(full) <= a[name] < len(full):
            raise ShapeError(
                f"{name}={a[name]} is out of range for a batch of rank {len(full)} "
                f"(from {-len(full)} to {len(full) - 1})"
            )
    start, end = a["start_dim"] % len(full), a["end_dim"] % len(full)
    if start > end:
        raise ShapeError(f"start_dim={a['start_dim']} comes after end_dim={a['end_dim']}")
    if start == 0:
        raise ShapeError("start_dim=0 would flatten the batch dimension")
    merged = (*full[:start], math.prod(full[start : end + 1]), *full[end + 1 :])
    return merged[1:]


def _same(shape: Shape, a: Args) -> Shape:
    return shape


def _channels(shape: Shape, a: Args, ranks: tuple[int, ...], what: str) -> Shape:
    if len(shape) not in ranks:
        raise ShapeError(f"expects input of shape {what}, got {_fmt(shape)}")
    return shape


def _groupnorm(shape: Shape, a: Args) -> Shape:
    if a["num_channels"] % a["num_groups"]:
        raise ShapeError(
            f"num_channels={a['num_channels']} is not divisible by num_groups={a['num_groups']}"
        )
    return shape


def _layernorm(shape: Shape, a: Args) -> Shape:
    normalized = _tuple(a["normalized_shape"], 1)
    if tuple(shape[len(shape) - len(normalized) :]) != tuple(normalized):
        raise ShapeError(
            f"normalized_shape={list(normalized)} does not match the last dimensions of "
            f"{_fmt(shape)}"
        )
    return shape


def _softmax(shape: Shape, a: Args) -> Shape:
    dim = a["dim"]
    if not -(len(shape) + 1) <= dim <= len(shape):
        raise ShapeError(f"dim={dim} is out of range for a batch of shape (N, {_fmt(shape)[1:]}")
    return shape


def _embedding(shape: Shape, a: Args) -> Shape:
    pad = a["padding_idx"]
    if pad is not None and not -a["num_embeddings"] <= pad < a["num_embeddings"]:
        raise ShapeError(f"padding_idx={pad} is outside the {a['num_embeddings']} embeddings")
    return (*shape, a["embedding_dim"])


def _upsample(shape: Shape, a: Args) -> Shape:
    n = len(shape) - 1
    if n not in (1, 2, 3):
        raise ShapeError(
            f"expects input of shape (C, L), (C, H, W) or (C, D, H, W), got {_fmt(shape)}"
        )
    size, scale = a["size"], a["scale_factor"]
    if (size is None) == (scale is None):
        raise ShapeError("give exactly one of size and scale_factor")
    modes = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
    if a["mode"] in modes and modes[a["mode"]] != n:
        raise ShapeError(f"mode={a['mode']!r} needs {modes[a['mode']]} spatial dimensions, got {n}")
    if a["align_corners"] is not None and a["mode"] not in modes:
        raise ShapeError(
            f"align_corners only applies to the interpolating modes, not {a['mode']!r}"
        )
    if size is not None:
        out = _per_dim(a, "size", n)
    else:
        factors = _per_dim(a, "scale_factor", n)
        out = tuple(math.floor(s * f) for s, f in zip(shape[1:], factors))
    if any(o <= 0 for o in out):
        raise ShapeError(f"output size {_fmt(out)} is not positive")
    return (shape[0], *out)


def _spatial_names(n: int) -> str:
    return {1: "L", 2: "H, W", 3: "D, H, W"}[n]


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


# ---------------------------------------------------------------------------------- the catalog
def _conv(n: int) -> LayerType:
    return LayerType(
        name=f"Conv{n}d",
        args=(
            Arg("in_channels", "int"),
            Arg("out_channels", "int"),
            Arg("kernel_size", "size", keyword=True),
            Arg("stride", "size", 1),
            Arg("padding", "padding", 0, minimum=0),
            Arg("dilation", "size", 1),
            Arg("groups", "int", 1),
            Arg("bias", "bool", True),
            Arg(
                "padding_mode",
                "choice",
                "zeros",
                choices=("zeros", "reflect", "replicate", "circular"),
            ),
        ),
        base_name="conv",
        help=f"{n}-D convolution over (C, {_spatial_names(n)}); in_channels is inferred.",
        out_shape=lambda s, a: _conv_dims(s, a, n),
        params=_conv_params(n),
        inferred="in_channels",
        out_arg="out_channels",
        ranks=(n + 1,),
    )


def _pool(kind: str, n: int) -> LayerType:
    is_max = kind == "Max"
    args = [
        Arg("kernel_size", "size", keyword=True),
        Arg("stride", "opt_size", None),
        Arg("padding", "size", 0, minimum=0),
    ]
    if is_max:
        args += [Arg("dilation", "size", 1), Arg("ceil_mode", "bool", False)]
    else:
        args += [Arg("ceil_mode", "bool", False), Arg("count_include_pad", "bool", True)]
    return LayerType(
        name=f"{kind}Pool{n}d",
        args=tuple(args),
        base_name=f"{kind.lower()}pool",
        help=f"{kind.lower()} pooling over (C, {_spatial_names(n)}); stride defaults to the kernel.",
        out_shape=lambda s, a: _pool_dims(s, a, n, dilation=is_max),
        ranks=(n + 1,),
        functional=f"F.{kind.lower()}_pool{n}d",
    )


def _adaptive_pool(n: int) -> LayerType:
    return LayerType(
        name=f"AdaptiveAvgPool{n}d",
        args=(Arg("output_size", "shape"),),
        base_name="avgpool",
        help=f"average pooling to a fixed output size over (C, {_spatial_names(n)}).",
        out_shape=lambda s, a: _adaptive(s, a, n),
        ranks=(n + 1,),
        functional=f"F.adaptive_avg_pool{n}d",
    )


def _batchnorm(n: int) -> LayerType:
    ranks = (1, 2) if n == 1 else (3,)
    what = "(C,) or (C, L)" if n == 1 else "(C, H, W)"
    return LayerType(
        name=f"BatchNorm{n}d",
        args=(
            Arg("num_features", "int"),
            Arg("eps", "pos_float", 1e-5),
            Arg("momentum", "opt_float", 0.1),
            Arg("affine", "bool", True),
            Arg("track_running_stats", "bool", True),
        ),
        base_name="bn",
        help=f"batch norm over {what}; num_features is inferred.",
        out_shape=lambda s, a: _channels(s, a, ranks, what),
        params=lambda a: 2 * a["num_features"] if a["affine"] else 0,
        inferred="num_features",
        ranks=ranks,
    )


def _activation(name: str, base: str, functional: str, help: str, *args: Arg) -> LayerType:
    return LayerType(
        name=name, args=args, base_name=base, help=help, out_shape=_same, functional=functional
    )


CATALOG: dict[str, LayerType] = {
    t.name: t
    for t in [
        _conv(1),
        _conv(2),
        _conv(3),
        LayerType(
            name="ConvTranspose2d",
            args=(
                Arg("in_channels", "int"),
                Arg("out_channels", "int"),
                Arg("kernel_size", "size", keyword=True),
                Arg("stride", "size", 1),
                Arg("padding", "size", 0, minimum=0),
                Arg("output_padding", "size", 0, minimum=0),
                Arg("groups", "int", 1),
                Arg("bias", "bool", True),
                Arg("dilation", "size", 1),
            ),
            base_name="deconv",
            help="transposed 2-D convolution (upsampling) over (C, H, W); in_channels is inferred.",
            out_shape=lambda s, a: _conv_dims(s, a, 2, transposed=True),
            params=_conv_params(2, transposed=True),
            inferred="in_channels",
            out_arg="out_channels",
            ranks=(3,),
        ),
        LayerType(
            name="Linear",
            args=(Arg("in_features", "int"), Arg("out_features", "int"), Arg("bias", "bool", True)),
            base_name="fc",
            help="fully connected layer on the last dimension; in_features is inferred.",
            out_shape=_linear,
            params=lambda a: a["in_features"] * a["out_features"]
            + (a["out_features"] if a["bias"] else 0),
            inferred="in_features",
            in_dim=-1,
            out_arg="out_features",
            out_dim=-1,
        ),
        _batchnorm(1),
        _batchnorm(2),
        LayerType(
            name="LayerNorm",
            args=(
                Arg("normalized_shape", "shape"),
                Arg("eps", "pos_float", 1e-5),
                Arg("elementwise_affine", "bool", True),
                Arg("bias", "bool", True),
            ),
            base_name="norm",
            help="layer norm over the last dimension(s); normalized_shape is inferred.",
            out_shape=_layernorm,
            params=lambda a: (
                math.prod(_tuple(a["normalized_shape"], 1)) * (1 + a["bias"])
                if a["elementwise_affine"]
                else 0
            ),
            inferred="normalized_shape",
            in_dim=-1,
        ),
        LayerType(
            name="GroupNorm",
            args=(
                Arg("num_groups", "int"),
                Arg("num_channels", "int"),
                Arg("eps", "pos_float", 1e-5),
                Arg("affine", "bool", True),
            ),
            base_name="gn",
            help="group norm over (C, ...); num_channels is inferred and must divide by num_groups.",
            out_shape=_groupnorm,
            params=lambda a: 2 * a["num_channels"] if a["affine"] else 0,
            inferred="num_channels",
            ranks=(2, 3, 4),
        ),
        LayerType(
            name="Dropout",
            args=(Arg("p", "prob", 0.5), Arg("inplace", "bool", False)),
            base_name="dropout",
            help="zeroes elements with probability p while training.",
            out_shape=_same,
            functional="F.dropout",
            needs_training=True,
        ),
        LayerType(
            name="Dropout2d",
            args=(Arg("p", "prob", 0.5), Arg("inplace", "bool", False)),
            base_name="dropout",
            help="zeroes whole channels of (C, H, W) with probability p while training.",
            out_shape=lambda s, a: _channels(s, a, (3,), "(C, H, W)"),
            ranks=(3,),
            functional="F.dropout2d",
            needs_training=True,
        ),
        _activation("ReLU", "relu", "F.relu", "max(x, 0).", Arg("inplace", "bool", False)),
        _activation(
            "LeakyReLU",
            "leaky_relu",
            "F.leaky_relu",
            "x for x > 0, negative_slope * x otherwise.",
            Arg("negative_slope", "float", 0.01),
            Arg("inplace", "bool", False),
        ),
        _activation(
            "GELU",
            "gelu",
            "F.gelu",
            "Gaussian error linear unit.",
            Arg("approximate", "choice", "none", choices=("none", "tanh")),
        ),
        _activation(
            "SiLU", "silu", "F.silu", "x * sigmoid(x) (swish).", Arg("inplace", "bool", False)
        ),
        _activation("Sigmoid", "sigmoid", "torch.sigmoid", "1 / (1 + exp(-x))."),
        _activation("Tanh", "tanh", "torch.tanh", "hyperbolic tangent."),
        LayerType(
            name="Softmax",
            args=(Arg("dim", "dim", -1, always=True),),
            base_name="softmax",
            help="softmax along dim (counted with the batch dimension; default -1).",
            out_shape=_softmax,
            functional="F.softmax",
        ),
        _pool("Max", 1),
        _pool("Max", 2),
        _pool("Avg", 2),
        _adaptive_pool(1),
        _adaptive_pool(2),
        LayerType(
            name="Flatten",
            args=(Arg("start_dim", "dim", 1), Arg("end_dim", "dim", -1)),
            base_name="flatten",
            help="merges dimensions start_dim..end_dim (counted with the batch dimension).",
            out_shape=_flatten,
            functional="torch.flatten",
            call_defaults=(("start_dim", "1"),),  # torch.flatten's own default is 0
        ),
        LayerType(
            name="Identity",
            args=(),
            base_name="identity",
            help="returns its input (a placeholder).",
            out_shape=_same,
        ),
        LayerType(
            name="Embedding",
            args=(
                Arg("num_embeddings", "int"),
                Arg("embedding_dim", "int"),
                Arg("padding_idx", "opt_index", None),
                Arg("max_norm", "opt_float", None),
                Arg("scale_grad_by_freq", "bool", False),
                Arg("sparse", "bool", False),
            ),
            base_name="embedding",
            help="lookup table from integer ids (L,) to vectors (L, embedding_dim); first layer only.",
            out_shape=_embedding,
            params=lambda a: a["num_embeddings"] * a["embedding_dim"],
            out_arg="embedding_dim",
            out_dim=-1,
            integer_input=True,
        ),
        LayerType(
            name="Upsample",
            args=(
                Arg("size", "opt_shape", None),
                Arg("scale_factor", "opt_scale", None),
                Arg(
                    "mode",
                    "choice",
                    "nearest",
                    choices=(
                        "nearest",
                        "linear",
                        "bilinear",
                        "bicubic",
                        "trilinear",
                        "nearest-exact",
                    ),
                ),
                Arg("align_corners", "opt_bool", None),
            ),
            base_name="upsample",
            help="resizes (C, L), (C, H, W) or (C, D, H, W) by size or scale_factor.",
            out_shape=_upsample,
            ranks=(2, 3, 4),
            functional="F.interpolate",
        ),
    ]
}


def lookup(name: str) -> LayerType:
    try:
        return CATALOG[name]
    except KeyError:
        raise unknown("layer type", name, CATALOG) from None


# ------------------------------------------------------------------------- argument validation
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
            f"its output {_fmt(out_shape)} has more values per sample than any machine can "
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
        "opt_scale": (_positive_numbers, "a positive number or a list of them"),
        "dim": (_is_int, "an integer"),
    }
    # Optional kinds take the same values as their plain kind (TOML has no None to give).
    aliases = {"opt_size": "size", "opt_float": "pos_float", "opt_bool": "bool", "opt_index": "dim"}
    test, expected = rules[aliases.get(arg.kind, arg.kind)]
    items = value if isinstance(value, (list, tuple)) else (value,)
    if any(_is_int(v) and abs(v) > INT64_MAX for v in items):
        return "an integer that fits in 64 bits"
    return None if test(value) else expected


# Kinds whose value may name a model or block parameter instead of a literal.
REFERABLE_KINDS = frozenset({"int", "size", "opt_size", "padding"})
