"""Small models for quick starts: an MLP, a LeNet-style CNN, a tiny residual network."""

from __future__ import annotations

from torchscaffold.spec.ir import Block, Model
from torchscaffold.spec.presets.build import B, G, L, model
from torchscaffold.spec.presets.resnet import BASIC_BLOCK


def mlp(name: str) -> Model:
    return model(
        name,
        (1, 28, 28),
        (
            L("Flatten"),
            L("Linear", out_features=256),
            L("ReLU"),
            L("Dropout", p=0.2),
            L("Linear", out_features=128),
            L("ReLU"),
            L("Linear", out_features="num_classes"),
        ),
        params=(("num_classes", 10),),
        doc="A multilayer perceptron: flatten, two hidden layers with ReLU, a linear classifier.",
    )


def cnn(name: str) -> Model:
    return model(
        name,
        (1, 28, 28),
        (
            G(
                "features",
                *(
                    L("Conv2d", out_channels=6, kernel_size=5, padding=2),
                    L("ReLU"),
                    L("MaxPool2d", kernel_size=2),
                    L("Conv2d", out_channels=16, kernel_size=5),
                    L("ReLU"),
                    L("MaxPool2d", kernel_size=2),
                ),
            ),
            L("Flatten"),
            G(
                "classifier",
                *(
                    L("Linear", out_features=120),
                    L("ReLU"),
                    L("Linear", out_features=84),
                    L("ReLU"),
                    L("Linear", out_features="num_classes"),
                ),
            ),
        ),
        params=(("num_classes", 10),),
        doc="A LeNet-5 style convolutional network (LeCun et al., 1998) with ReLU and max pooling.",
    )


def tiny(name: str) -> Model:
    return model(
        name,
        (3, 32, 32),
        (
            L("Conv2d", "stem", out_channels=32, kernel_size=3, padding=1, bias=False),
            L("BatchNorm2d"),
            L("ReLU", inplace=True),
            B("ResidualBlock", "stage1", repeat=2, channels=32),
            B("ResidualBlock", "stage2", repeat=2, first={"stride": 2}, channels=64),
            L("AdaptiveAvgPool2d", "pool", output_size=1),
            L("Flatten"),
            L("Linear", "head", out_features="num_classes"),
        ),
        blocks=(
            Block(
                name="ResidualBlock",
                params=(("channels", 32), ("stride", 1)),
                steps=BASIC_BLOCK.steps,
                residual=True,
                after=(L("ReLU", inplace=True),),
                doc="Two 3x3 convolutions with batch norm; the input is added back.",
            ),
        ),
        params=(("num_classes", 10),),
        doc="A small residual network for 32x32 images: a stem, two stages of residual blocks "
        "(the second downsamples), global average pooling and a linear head.",
    )
