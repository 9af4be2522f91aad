"""The ``torch.nn`` layers torchgen knows: one entry each, in pure Python.

Each entry knows its constructor arguments (in torch's positional order), which argument is
inferred from the incoming shape, the shape rule (``rules``), the parameter count, its roles, and,
for parameter-free layers, the functional call the explicit style may use instead of an
attribute. A new layer is one entry here; tests/test_layers_vs_torch.py checks it against torch.
"""

from __future__ import annotations

import math

from torchscaffold.catalog import rules
from torchscaffold.catalog.types import Arg, Args, LayerType


def _conv(n: int, transposed: bool = False) -> LayerType:
    """``Conv{n}d``, or ``ConvTranspose{n}d``: the same head of arguments, then each its own
    tail in torch's order (a transposed convolution has output_padding, no padding='same', and
    takes only padding_mode='zeros', so torchgen leaves that argument out)."""
    head = (
        Arg("in_channels", "int"),
        Arg("out_channels", "int"),
        Arg("kernel_size", "size", keyword=True),
        Arg("stride", "size", 1),
    )
    if transposed:
        tail: tuple[Arg, ...] = (
            Arg("padding", "size", 0, minimum=0),
            Arg("output_padding", "size", 0, minimum=0),
            Arg("groups", "int", 1),
            Arg("bias", "bool", True),
            Arg("dilation", "size", 1),
        )
    else:
        tail = (
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
        )
    what = f"{n}-D convolution"
    return LayerType(
        name=f"ConvTranspose{n}d" if transposed else f"Conv{n}d",
        args=head + tail,
        base_name="deconv" if transposed else "conv",
        help=(f"transposed {what} (upsampling)" if transposed else what)
        + f" over (C, {rules.spatial_names(n)}); in_channels is inferred.",
        out_shape=lambda s, a: rules.conv_dims(s, a, n, transposed=transposed),
        params=rules.conv_params(n, transposed=transposed),
        inferred="in_channels",
        out_arg="out_channels",
        ranks=(n + 1,),
        roles=frozenset({"conv_transpose" if transposed else "conv"}),
    )


def _pool(kind: str, n: int) -> LayerType:
    is_max = kind == "Max"
    args = [
        Arg("kernel_size", "size", keyword=True),
        Arg("stride", "opt_size", None),
        Arg("padding", "size", 0, minimum=0),
    ]
    if is_max:
        # return_indices is left out (False): the layer returns one tensor.
        args += [Arg("dilation", "size", 1), Arg("ceil_mode", "bool", False)]
    else:
        args += [Arg("ceil_mode", "bool", False), Arg("count_include_pad", "bool", True)]
        if n > 1:  # AvgPool1d has no divisor_override
            args.append(Arg("divisor_override", "opt_int", None))
    return LayerType(
        name=f"{kind}Pool{n}d",
        args=tuple(args),
        base_name=f"{kind.lower()}pool",
        help=f"{kind.lower()} pooling over (C, {rules.spatial_names(n)}); stride defaults to the kernel.",
        out_shape=lambda s, a: rules.pool_dims(
            s, a, n, dilation=is_max, kernel_within_input=kind == "Avg" and n == 3
        ),
        ranks=(n + 1,),
        functional=f"F.{kind.lower()}_pool{n}d",
    )


def _adaptive_pool(kind: str, n: int) -> LayerType:
    extra = "; return_indices is left False (one output)" if kind == "Max" else ""
    return LayerType(
        name=f"Adaptive{kind}Pool{n}d",
        args=(Arg("output_size", "shape"),),
        base_name=f"{kind.lower()}pool",
        help=f"{kind.lower()} pooling to a fixed output size over (C, {rules.spatial_names(n)})"
        f"{extra}.",
        out_shape=lambda s, a: rules.adaptive(s, a, n),
        ranks=(n + 1,),
        functional=f"F.adaptive_{kind.lower()}_pool{n}d",
    )


def _norm_args(stats: bool) -> tuple[Arg, ...]:
    """Batch and instance norm take the same arguments; ``stats``: the defaults of affine and
    track_running_stats (True for batch norm, False for instance norm)."""
    return (
        Arg("num_features", "int"),
        Arg("eps", "pos_float", 1e-5),
        Arg("momentum", "opt_float", 0.1),
        Arg("affine", "bool", stats),
        Arg("track_running_stats", "bool", stats),
    )


def _affine_params(a: Args) -> int:
    return 2 * a["num_features"] if a["affine"] else 0


def _batchnorm(n: int) -> LayerType:
    ranks = (1, 2) if n == 1 else (n + 1,)
    what = "(C,) or (C, L)" if n == 1 else f"(C, {rules.spatial_names(n)})"
    return LayerType(
        name=f"BatchNorm{n}d",
        args=_norm_args(stats=True),
        base_name="bn",
        help=f"batch norm over {what}; num_features is inferred.",
        out_shape=lambda s, a: rules.channels(s, a, ranks, what),
        params=_affine_params,
        inferred="num_features",
        ranks=ranks,
        roles=frozenset({"norm", "batchnorm"}),
    )


def _instancenorm(n: int) -> LayerType:
    return LayerType(
        name=f"InstanceNorm{n}d",
        args=_norm_args(stats=False),
        base_name="norm",
        help=f"instance norm: each channel of (C, {rules.spatial_names(n)}) over its own "
        "values; no parameters unless affine; num_features is inferred.",
        out_shape=lambda s, a: rules.instance_norm(s, a, n),
        params=_affine_params,
        inferred="num_features",
        ranks=(n + 1,),
        roles=frozenset({"norm"}),
        unbatched=True,
    )


def _constant_pad(n: int, zero: bool = False) -> LayerType:
    """``ConstantPad{n}d`` (or ``ZeroPad{n}d``) of the last n dims, whatever the rank. No
    functional form: ``F.pad`` names its arguments otherwise (pad, mode, value)."""
    args = (Arg("padding", "pad"),) if zero else (Arg("padding", "pad"), Arg("value", "float"))
    sides = "left, right" if n == 1 else "left, right, top, bottom"
    return LayerType(
        name=f"ZeroPad{n}d" if zero else f"ConstantPad{n}d",
        args=args,
        base_name="pad",
        help=f"pads the last {'dimension' if n == 1 else f'{n} dimensions'} with "
        f"{'zeros' if zero else 'value'}: padding is a number or [{sides}]; negative crops.",
        out_shape=lambda s, a: rules.pad(s, a, n),
        ranks=tuple(range(n, 5)),
        unbatched=True,
    )


def _dropout(n: int) -> LayerType:
    """``Dropout`` (n = 0: elements) or ``Dropout{n}d`` (whole channels of (C, spatial...))."""
    what = f"(C, {rules.spatial_names(n)})" if n else ""
    return LayerType(
        name=f"Dropout{n}d" if n else "Dropout",
        args=(Arg("p", "prob", 0.5), Arg("inplace", "bool", False)),
        base_name="dropout",
        help=f"zeroes {f'whole channels of {what}' if n else 'elements'} with probability p "
        "while training.",
        out_shape=(lambda s, a: rules.channels(s, a, (n + 1,), what)) if n else rules.same,
        ranks=(n + 1,) if n else (1, 2, 3, 4),
        functional=f"F.dropout{n}d" if n else "F.dropout",
        needs_training=True,
        roles=frozenset({"alias"}),  # in eval mode it returns its input itself
        # torch reads an unbatched (C, L) for Dropout1d, but a 3-D input to Dropout2d as a
        # batch of (C, L) (with a warning): only a batched (C, H, W) is safe there.
        unbatched=n != 2,
    )


def _activation(
    name: str, help: str, *args: Arg, functional: str | None = None, inplace: bool = False
) -> LayerType:
    """An elementwise activation; its functional form is ``F.<name in lower case>`` unless
    given, and names its attributes; ``inplace`` adds the last argument, as torch has it."""
    functional = functional or f"F.{name.lower()}"
    return LayerType(
        name=name,
        args=(*args, Arg("inplace", "bool", False)) if inplace else args,
        base_name=functional.rsplit(".", 1)[1],
        help=help,
        out_shape=rules.same,
        functional=functional,
        unbatched=True,
    )


LAYERS: dict[str, LayerType] = {
    t.name: t
    for t in [
        *(_conv(n) for n in (1, 2, 3)),
        *(_conv(n, transposed=True) for n in (1, 2, 3)),
        LayerType(
            name="Linear",
            args=(Arg("in_features", "int"), Arg("out_features", "int"), Arg("bias", "bool", True)),
            base_name="fc",
            help="fully connected layer on the last dimension; in_features is inferred.",
            out_shape=rules.linear,
            params=lambda a: a["in_features"] * a["out_features"]
            + (a["out_features"] if a["bias"] else 0),
            inferred="in_features",
            in_dim=-1,
            out_arg="out_features",
            out_dim=-1,
            roles=frozenset({"linear"}),
            unbatched=True,
            weight=lambda a: (a["out_features"], a["in_features"]),
        ),
        *(_batchnorm(n) for n in (1, 2, 3)),
        *(_instancenorm(n) for n in (1, 2)),
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
            out_shape=rules.layernorm,
            params=lambda a: (
                math.prod(rules.as_tuple(a["normalized_shape"], 1)) * (1 + a["bias"])
                if a["elementwise_affine"]
                else 0
            ),
            inferred="normalized_shape",
            in_dim=-1,
            roles=frozenset({"norm"}),
            unbatched=True,
        ),
        LayerType(
            name="RMSNorm",
            args=(
                Arg("normalized_shape", "shape"),
                Arg("eps", "opt_float", None),  # None: torch.finfo(dtype).eps
                Arg("elementwise_affine", "bool", True),
            ),
            base_name="norm",
            help="RMS norm over the last dimension(s), no mean subtracted and no bias; "
            "normalized_shape is inferred.",
            out_shape=rules.layernorm,
            params=lambda a: (
                math.prod(rules.as_tuple(a["normalized_shape"], 1))
                if a["elementwise_affine"]
                else 0
            ),
            inferred="normalized_shape",
            in_dim=-1,
            roles=frozenset({"norm"}),
            unbatched=True,
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
            out_shape=rules.groupnorm,
            params=lambda a: 2 * a["num_channels"] if a["affine"] else 0,
            inferred="num_channels",
            ranks=(2, 3, 4),
            roles=frozenset({"norm"}),
        ),
        *(_dropout(n) for n in (0, 1, 2)),
        _activation("ReLU", "max(x, 0).", inplace=True),
        _activation(
            "LeakyReLU",
            "x for x > 0, negative_slope * x otherwise.",
            Arg("negative_slope", "float", 0.01),
            functional="F.leaky_relu",
            inplace=True,
        ),
        _activation(
            "GELU",
            "Gaussian error linear unit.",
            Arg("approximate", "choice", "none", choices=("none", "tanh")),
        ),
        _activation("SiLU", "x * sigmoid(x) (swish).", inplace=True),
        _activation("ReLU6", "min(max(x, 0), 6).", inplace=True),
        _activation("Hardswish", "x * relu6(x + 3) / 6 (MobileNetV3).", inplace=True),
        _activation("Hardsigmoid", "relu6(x + 3) / 6.", inplace=True),
        _activation("Mish", "x * tanh(softplus(x)).", inplace=True),
        _activation(
            "ELU",
            "x for x > 0, alpha * (exp(x) - 1) otherwise.",
            Arg("alpha", "float", 1.0),
            inplace=True,
        ),
        _activation(
            "Softplus",
            "log(1 + exp(beta * x)) / beta; linear above threshold.",
            Arg("beta", "float", 1.0),
            Arg("threshold", "float", 20.0),
        ),
        LayerType(
            name="PReLU",
            args=(Arg("num_parameters", "int", 1), Arg("init", "float", 0.25)),
            base_name="prelu",
            help="LeakyReLU with a learned slope: one (num_parameters=1, the default) or one "
            "per channel (num_parameters = the channel count, dim 0 of a sample).",
            out_shape=rules.prelu,
            params=lambda a: a["num_parameters"],
        ),
        _activation("Sigmoid", "1 / (1 + exp(-x)).", functional="torch.sigmoid"),
        _activation("Tanh", "hyperbolic tangent.", functional="torch.tanh"),
        LayerType(
            name="Softmax",
            args=(Arg("dim", "dim", -1, always=True),),
            base_name="softmax",
            help="softmax along dim (counted with the batch dimension; default -1).",
            out_shape=rules.softmax,
            functional="F.softmax",
        ),
        *(_pool(kind, n) for kind in ("Max", "Avg") for n in (1, 2, 3)),
        *(_adaptive_pool("Avg", n) for n in (1, 2, 3)),
        *(_adaptive_pool("Max", n) for n in (1, 2)),
        LayerType(
            name="Flatten",
            args=(Arg("start_dim", "dim", 1), Arg("end_dim", "dim", -1)),
            base_name="flatten",
            help="merges dimensions start_dim..end_dim (counted with the batch dimension).",
            out_shape=rules.flatten,
            symbolic=rules.flatten_dims,
            roles=frozenset({"alias"}),  # a view of its input where it can be
            functional="torch.flatten",
            call_defaults=(("start_dim", "1"),),  # torch.flatten's own default is 0
        ),
        LayerType(
            name="Unflatten",
            args=(Arg("dim", "dim"), Arg("unflattened_size", "sizes")),
            base_name="unflatten",
            help="splits dimension dim (counted with the batch dimension) into "
            "unflattened_size (-1 once for the rest).",
            out_shape=rules.unflatten_layer,
            symbolic=rules.unflatten_layer_dims,
            roles=frozenset({"alias"}),  # a view of its input
        ),
        LayerType(
            name="Identity",
            args=(),
            base_name="identity",
            help="returns its input (a placeholder).",
            out_shape=rules.same,
            roles=frozenset({"alias"}),
            unbatched=True,
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
            help="lookup table from integer ids (...) to vectors (..., embedding_dim).",
            out_shape=rules.embedding,
            params=lambda a: a["num_embeddings"] * a["embedding_dim"],
            out_arg="embedding_dim",
            out_dim=-1,
            integer_input=True,
            roles=frozenset({"embedding"}),
            unbatched=True,
            weight=lambda a: (a["num_embeddings"], a["embedding_dim"]),
        ),
        LayerType(
            name="PixelShuffle",
            args=(Arg("upscale_factor", "int"),),
            base_name="pixel_shuffle",
            help="(C * r * r, H, W) -> (C, H * r, W * r) for r = upscale_factor.",
            out_shape=rules.pixel_shuffle,
            ranks=(3,),
            functional="F.pixel_shuffle",
            unbatched=True,
        ),
        LayerType(
            name="PixelUnshuffle",
            args=(Arg("downscale_factor", "int"),),
            base_name="pixel_unshuffle",
            help="(C, H * r, W * r) -> (C * r * r, H, W) for r = downscale_factor.",
            out_shape=rules.pixel_unshuffle,
            ranks=(3,),
            functional="F.pixel_unshuffle",
            unbatched=True,
        ),
        LayerType(
            name="Unfold",
            args=(
                Arg("kernel_size", "size"),
                Arg("dilation", "size", 1),
                Arg("padding", "size", 0, minimum=0),
                Arg("stride", "size", 1),
            ),
            base_name="unfold",
            help="(C, H, W) -> (C * kh * kw, L): the sliding kernel_size windows as columns.",
            out_shape=rules.unfold,
            ranks=(3,),
            functional="F.unfold",
        ),
        _constant_pad(1),
        _constant_pad(2),
        _constant_pad(2, zero=True),
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
            out_shape=rules.upsample,
            ranks=(2, 3, 4),
            functional="F.interpolate",
        ),
    ]
}


def _recurrent(kind: str) -> LayerType:
    args = [
        Arg("input_size", "int"),
        Arg("hidden_size", "int"),
        Arg("num_layers", "int", 1),
    ]
    if kind == "RNN":
        args.append(Arg("nonlinearity", "choice", "tanh", choices=("tanh", "relu")))
    args += [
        Arg("bias", "bool", True),
        Arg("batch_first", "bool", False),
        Arg("dropout", "prob", 0.0),
        Arg("bidirectional", "bool", False),
    ]
    if kind == "LSTM":
        args.append(Arg("proj_size", "int", 0, minimum=0))
    states = ("h_n", "c_n") if kind == "LSTM" else ("h_n",)
    return LayerType(
        name=kind,
        args=tuple(args),
        base_name=kind.lower(),
        help=f"{kind} over a sequence (L, features): returns the sequence and its final "
        f"state{'s' if kind == 'LSTM' else ''}; input_size is inferred.",
        out_shape=rules.same,  # unused: outputs= gives every output
        outputs=rules.recurrent(kind),
        output_names=("output", *states),
        unpack="{0}, ({1}, {2})" if kind == "LSTM" else "{0}, {1}",
        params=rules.recurrent_params(kind),
        inferred="input_size",
        in_dim=-1,
        out_arg="hidden_size",  # the output's features unless bidirectional or projected
        out_dim=-1,
        ranks=(2,),
        roles=frozenset({"recurrent"}),
        batch_axis=lambda a: 0 if a["batch_first"] else 1,
    )


def _attention() -> LayerType:
    return LayerType(
        name="MultiheadAttention",
        args=(
            Arg("embed_dim", "int"),
            Arg("num_heads", "int"),
            Arg("dropout", "prob", 0.0),
            Arg("bias", "bool", True),
            Arg("add_bias_kv", "bool", False),
            Arg("add_zero_attn", "bool", False),
            Arg("kdim", "opt_int", None),
            Arg("vdim", "opt_int", None),
            Arg("batch_first", "bool", False),
        ),
        base_name="attn",
        help="multi-head attention of query (L, E) over key (S, kdim) and value (S, vdim), "
        "both E unless given: returns the output and the weights; embed_dim is inferred.",
        out_shape=rules.same,  # unused: outputs= gives every output
        outputs=rules.attention,
        output_names=("output", "weights"),
        unpack="{0}, {1}",
        params=rules.attention_params,
        inferred="embed_dim",
        in_dim=-1,
        out_dim=-1,
        ranks=(2,),
        roles=frozenset({"attention"}),
        inputs=("query", "key", "value"),
        call_args=(
            Arg("key_padding_mask", "opt_value", None),
            Arg("need_weights", "bool", True),
            Arg("attn_mask", "opt_value", None),
            Arg("average_attn_weights", "bool", True),
            Arg("is_causal", "bool", False),
        ),
        batch_axis=lambda a: 0 if a["batch_first"] else 1,
    )


LAYERS.update(
    {t.name: t for t in (_recurrent("RNN"), _recurrent("GRU"), _recurrent("LSTM"), _attention())}
)
