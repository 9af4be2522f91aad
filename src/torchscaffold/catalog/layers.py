"""The ``torch.nn`` layers torchgen knows: one entry each, in pure Python.

Each entry knows its constructor arguments (in torch's positional order), which argument is
inferred from the incoming shape, the shape rule (``rules``), the parameter count, its roles, and,
for parameter-free layers, the functional call the explicit style may use instead of an
attribute. A new layer is one entry here; tests/test_layers_vs_torch.py checks it against torch.
"""

from __future__ import annotations

import math

from torchscaffold.catalog import rules
from torchscaffold.catalog.types import Arg, LayerType


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
        help=f"{n}-D convolution over (C, {rules.spatial_names(n)}); in_channels is inferred.",
        out_shape=lambda s, a: rules.conv_dims(s, a, n),
        params=rules.conv_params(n),
        inferred="in_channels",
        out_arg="out_channels",
        ranks=(n + 1,),
        roles=frozenset({"conv"}),
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
        help=f"{kind.lower()} pooling over (C, {rules.spatial_names(n)}); stride defaults to the kernel.",
        out_shape=lambda s, a: rules.pool_dims(s, a, n, dilation=is_max),
        ranks=(n + 1,),
        functional=f"F.{kind.lower()}_pool{n}d",
    )


def _adaptive_pool(n: int) -> LayerType:
    return LayerType(
        name=f"AdaptiveAvgPool{n}d",
        args=(Arg("output_size", "shape"),),
        base_name="avgpool",
        help=f"average pooling to a fixed output size over (C, {rules.spatial_names(n)}).",
        out_shape=lambda s, a: rules.adaptive(s, a, n),
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
        out_shape=lambda s, a: rules.channels(s, a, ranks, what),
        params=lambda a: 2 * a["num_features"] if a["affine"] else 0,
        inferred="num_features",
        ranks=ranks,
        roles=frozenset({"norm", "batchnorm"}),
    )


def _activation(name: str, base: str, functional: str, help: str, *args: Arg) -> LayerType:
    return LayerType(
        name=name,
        args=args,
        base_name=base,
        help=help,
        out_shape=rules.same,
        functional=functional,
        unbatched=True,
    )


LAYERS: dict[str, LayerType] = {
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
            out_shape=lambda s, a: rules.conv_dims(s, a, 2, transposed=True),
            params=rules.conv_params(2, transposed=True),
            inferred="in_channels",
            out_arg="out_channels",
            ranks=(3,),
            roles=frozenset({"conv_transpose"}),
        ),
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
        LayerType(
            name="Dropout",
            args=(Arg("p", "prob", 0.5), Arg("inplace", "bool", False)),
            base_name="dropout",
            help="zeroes elements with probability p while training.",
            out_shape=rules.same,
            functional="F.dropout",
            needs_training=True,
            roles=frozenset({"alias"}),  # in eval mode it returns its input itself
            unbatched=True,
        ),
        LayerType(
            name="Dropout2d",
            args=(Arg("p", "prob", 0.5), Arg("inplace", "bool", False)),
            base_name="dropout",
            help="zeroes whole channels of (C, H, W) with probability p while training.",
            out_shape=lambda s, a: rules.channels(s, a, (3,), "(C, H, W)"),
            ranks=(3,),
            functional="F.dropout2d",
            needs_training=True,
            roles=frozenset({"alias"}),
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
            out_shape=rules.softmax,
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
            out_shape=rules.flatten,
            symbolic=rules.flatten_dims,
            roles=frozenset({"alias"}),  # a view of its input where it can be
            functional="torch.flatten",
            call_defaults=(("start_dim", "1"),),  # torch.flatten's own default is 0
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
        help="multi-head attention of query (L, E) over key and value (S, E): returns the "
        "output and the weights; embed_dim is inferred.",
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
