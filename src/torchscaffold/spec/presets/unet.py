"""U-Net (Ronneberger et al., 2015) as it is commonly written in PyTorch (milesial's Pytorch-UNet
with transposed convolutions): padded 3x3 convolutions with batch norm, so the output keeps the
input's spatial size."""

from __future__ import annotations

from torchscaffold.spec.ir import Block, Model
from torchscaffold.spec.presets.build import B, L, O, model

DOUBLE_CONV = Block(
    name="DoubleConv",
    params=(("out_channels", 64),),
    steps=(
        L("Conv2d", out_channels="out_channels", kernel_size=3, padding=1, bias=False),
        L("BatchNorm2d"),
        L("ReLU", inplace=True),
        L("Conv2d", out_channels="out_channels", kernel_size=3, padding=1, bias=False),
        L("BatchNorm2d"),
        L("ReLU", inplace=True),
    ),
    doc="Two 3x3 convolutions (padding 1, no bias), each followed by batch norm and ReLU.",
)

DOWN = Block(
    name="Down",
    params=(("out_channels", 128),),
    steps=(
        L("MaxPool2d", "pool", kernel_size=2),
        B("DoubleConv", "conv", out_channels="out_channels"),
    ),
    doc="Halve the resolution with 2x2 max pooling, then a double convolution.",
)

UP = Block(
    name="Up",
    inputs=("x", "skip"),
    params=(("out_channels", 64),),
    steps=(
        L("ConvTranspose2d", "up", out_channels="in_channels // 2", kernel_size=2, stride=2),
        O("concat", "cat", inputs=("skip", "up"), dim=1),
        B("DoubleConv", "conv", out_channels="out_channels"),
    ),
    doc="Double the resolution with a 2x2 transposed convolution (halving the channels), "
    "concatenate the skip of the same level in front, then a double convolution.",
)


def unet(name: str) -> Model:
    widths = (64, 128, 256, 512, 1024)
    down = tuple(
        B("Down", f"down{i}", outputs=f"x{i + 1}", out_channels=w)
        for i, w in enumerate(widths[1:], start=1)
    )
    # The decoder's values d4..d1 mirror the encoder's x4..x1: level by level, the same size.
    up = tuple(
        B(
            "Up",
            f"up{i}",
            inputs=(f"x{6 - i}" if i == 1 else f"d{6 - i}", f"x{5 - i}"),
            outputs=f"d{5 - i}",
            out_channels=w,
        )
        for i, w in enumerate(reversed(widths[:-1]), start=1)
    )
    return model(
        name,
        (3, 256, 256),
        (
            B("DoubleConv", "inc", outputs="x1", out_channels=widths[0]),
            *down,
            *up,
            L("Conv2d", "outc", outputs="logits", out_channels="num_classes", kernel_size=1),
        ),
        blocks=(DOUBLE_CONV, DOWN, UP),
        params=(("num_classes", 2),),
        doc="U-Net (Ronneberger et al., 2015): four levels down and four up from width 64, "
        "each level's skip concatenated on the way up; a 1x1 convolution gives the class "
        "scores of every pixel.",
    )
