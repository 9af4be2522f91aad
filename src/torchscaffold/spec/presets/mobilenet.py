"""torchvision's MobileNetV2 (Sandler et al., 2018) at width 1.0.

Init: ``kaiming``. torchvision's constructor draws conv weights kaiming_normal_(mode="fan_out")
(leaky_relu with slope 0: the gain of ReLU), zeroes conv biases, sets batch norms to 1/0 and
draws the classifier normal(0, 0.01) with a zero bias: VGG's init, value for value.
"""

from __future__ import annotations

from torchscaffold.spec.expr import parse
from torchscaffold.spec.ir import Block, Model, Step
from torchscaffold.spec.presets.build import B, G, L, O, model

# Sandler et al. 2018, table 2: expansion t, output channels c, repeats n, first stride s.
MOBILENET_V2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
LAST_CHANNELS = 1280


def _conv_norm_relu6(
    name: str,
    out_channels: int | str,
    kernel_size: int,
    stride: int | str = 1,
    groups: int | str = 1,
    when: str | None = None,
) -> Step:
    """torchvision's ``Conv2dNormActivation(..., activation_layer=nn.ReLU6)``: an
    nn.Sequential of a convolution without bias, batch norm and ReLU6."""
    conv = L(
        "Conv2d",
        out_channels=out_channels,
        kernel_size=kernel_size,
        stride=stride,
        padding=(kernel_size - 1) // 2,
        groups=groups,
        bias=False,
    )
    return G(name, conv, L("BatchNorm2d"), L("ReLU6", inplace=True), when=when)


INVERTED_RESIDUAL = Block(
    name="InvertedResidual",
    params=(("out_channels", 16), ("stride", 1), ("expand_ratio", 1)),
    lets=(
        ("hidden", parse("in_channels * expand_ratio", "let hidden")),
        ("expand", parse("expand_ratio != 1", "let expand")),
        ("use_res", parse("stride == 1 and in_channels == out_channels", "let use_res")),
    ),
    steps=(
        G(  # torchvision's self.conv: its entries shift by one where there is no expansion
            "conv",
            # Pointwise expansion, only where expand_ratio != 1.
            _conv_norm_relu6("expand", "hidden", 1, when="expand"),
            # Depthwise 3x3: one filter per channel, carrying the stride.
            _conv_norm_relu6("depthwise", "hidden", 3, stride="stride", groups="hidden"),
            # Linear pointwise projection (no activation: the "linear bottleneck").
            L("Conv2d", "project", out_channels="out_channels", kernel_size=1, bias=False),
            L("BatchNorm2d", "project_bn"),
        ),
        # The shortcut only where the shapes match.
        O("add", "residual", inputs=("x", "conv"), when="use_res", otherwise="conv"),
    ),
    doc="The MobileNetV2 inverted residual block: a 1x1 expansion to ``in_channels * "
    "expand_ratio`` (left out when the ratio is 1), a depthwise 3x3 convolution that carries "
    "the stride, and a linear 1x1 projection, each with batch norm (ReLU6 after the first two); "
    "the input is added back where the stride is 1 and the channels match.",
)


def mobilenet_v2(name: str) -> Model:
    # torchvision's features: the stem, 17 inverted residuals, the last 1x1 convolution, one
    # numbered nn.Sequential (features.0 ... features.18).
    blocks = [
        B(
            "InvertedResidual",
            out_channels=c,
            expand_ratio=t,
            **({"stride": s} if s != 1 and i == 0 else {}),
        )
        for t, c, n, s in MOBILENET_V2_SETTING
        for i in range(n)
    ]
    return model(
        name,
        (3, 224, 224),
        (
            G(
                "features",
                _conv_norm_relu6("stem", 32, 3, stride=2),
                *blocks,
                _conv_norm_relu6("last", LAST_CHANNELS, 1),
            ),
            O("adaptive_avg_pool2d", "pool", output_size=(1, 1)),
            O("flatten", start_dim=1),
            G(
                "classifier",
                L("Dropout", p=0.2),
                L("Linear", out_features="num_classes"),
            ),
        ),
        blocks=(INVERTED_RESIDUAL,),
        params=(("num_classes", 1000),),
        doc="MobileNetV2 (Sandler et al., 2018) at width 1.0, as in torchvision: a strided "
        "3x3 stem, 17 inverted residual blocks, a 1x1 convolution to 1280 channels, global "
        "average pooling and a dropout + linear classifier.",
    )
