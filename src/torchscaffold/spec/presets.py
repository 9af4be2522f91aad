"""Presets: functions that return the IR of a published architecture.

Each is built from the same IR as a TOML spec, so every style applies to every preset. Defaults
are the published ones; ``spec.options.finalize`` applies --in-channels/--input-size/--num-classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torchscaffold import catalog
from torchscaffold.errors import unknown
from torchscaffold.spec import expr
from torchscaffold.spec.ir import Block, Input, Model, Step


def L(type: str, name: str | None = None, **args: object) -> Step:
    """A layer step; a string where a size goes is an expression of the parameters."""
    entry = catalog.layer(type)
    return Step("layer", type, args=_args(entry, args), name=name)


def B(
    block: str, name: str | None = None, repeat: int = 1, first: dict | None = None, **args: object
) -> Step:
    """A block step (``repeat`` instances in a chain; ``first`` overrides the first's arguments)."""
    return Step(
        "block",
        block,
        args=_block_args(args),
        first=_block_args(first or {}),
        repeat=repeat,
        name=name,
    )


def G(name: str, *steps: Step) -> Step:
    """A named chain: an nn.Sequential in the sequential style."""
    return Step("group", name, name=name, body=steps)


def _args(entry: catalog.LayerType | catalog.OpType, args: dict) -> tuple:
    out = []
    for key, value in args.items():
        kind = entry.arg(key).kind
        if isinstance(value, str) and kind in catalog.EXPR_KINDS and value not in ("same", "valid"):
            value = expr.parse(value, key)
        elif isinstance(value, (list, tuple)):
            value = tuple(expr.parse(v, key) if isinstance(v, str) else v for v in value)
        out.append((key, value))
    return tuple(out)


def _block_args(args: dict) -> tuple:
    return tuple((k, expr.parse(v, k) if isinstance(v, str) else v) for k, v in args.items())


def model(
    name: str,
    input: tuple,
    steps: tuple[Step, ...],
    *,
    blocks: tuple[Block, ...] = (),
    params: tuple = (),
    doc: str = "",
    dtype: str = "",
) -> Model:
    """A one-input model (the common case) from its forward's steps."""
    main = Block(name=name, steps=steps, params=params, doc=doc)
    return Model(name=name, inputs=(Input("x", input, dtype),), main=main, blocks=blocks, doc=doc)


@dataclass(frozen=True)
class Preset:
    help: str
    build: Callable[[str], Model]
    # The weight init its reference uses (an inits.SCHEMES name), or None for PyTorch's own
    # layer defaults: torchvision's kaiming for its CNNs, nothing special for an MLP or LeNet.
    init: str | None = None

    def describe(self) -> str:
        return f"{self.help}; init: {self.init or 'PyTorch defaults'}"


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


# Simonyan & Zisserman 2014, table 1: configurations A, B, D, E (conv widths; M: 2x2 max pool).
VGG_CONFIGS: dict[str, str] = {
    "vgg11": "64 M 128 M 256 256 M 512 512 M 512 512 M",
    "vgg13": "64 64 M 128 128 M 256 256 M 512 512 M 512 512 M",
    "vgg16": "64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M",
    "vgg19": "64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M",
}


def vgg(config: str) -> Callable[[str], Model]:
    def build(name: str) -> Model:
        features: list[Step] = []
        for v in VGG_CONFIGS[config].split():
            if v == "M":
                features.append(L("MaxPool2d", kernel_size=2, stride=2))
            else:
                features += [
                    L("Conv2d", out_channels=int(v), kernel_size=3, padding=1),
                    L("ReLU", inplace=True),
                ]
        return model(
            name,
            (3, 224, 224),
            (
                G("features", *features),
                L("AdaptiveAvgPool2d", "avgpool", output_size=(7, 7)),
                L("Flatten"),
                G(
                    "classifier",
                    *(
                        L("Linear", out_features=4096),
                        L("ReLU", inplace=True),
                        L("Dropout", p=0.5),
                        L("Linear", out_features=4096),
                        L("ReLU", inplace=True),
                        L("Dropout", p=0.5),
                        L("Linear", out_features="num_classes"),
                    ),
                ),
            ),
            params=(("num_classes", 1000),),
            doc=f"VGG {config[3:]} (Simonyan & Zisserman, 2014), without batch norm, as in "
            "torchvision.",
        )

    return build


BASIC_BLOCK = Block(
    name="BasicBlock",
    params=(("channels", 64), ("stride", 1)),
    steps=(
        L("Conv2d", out_channels="channels", kernel_size=3, stride="stride", padding=1, bias=False),
        L("BatchNorm2d"),
        L("ReLU", inplace=True),
        L("Conv2d", out_channels="channels", kernel_size=3, padding=1, bias=False),
        L("BatchNorm2d"),
    ),
    residual=True,
    after=(L("ReLU", inplace=True),),
    doc="The ResNet basic block: two 3x3 convolutions with batch norm and a residual connection.",
)


def resnet(depth: int, stages: tuple[int, int, int, int]) -> Callable[[str], Model]:
    def build(name: str) -> Model:
        layers = tuple(
            B(
                "BasicBlock",
                f"layer{i + 1}",
                repeat=n,
                first={"stride": 2} if i else None,
                channels=64 * 2**i,
            )
            for i, n in enumerate(stages)
        )
        return model(
            name,
            (3, 224, 224),
            (
                L(
                    "Conv2d",
                    "conv1",
                    out_channels=64,
                    kernel_size=7,
                    stride=2,
                    padding=3,
                    bias=False,
                ),
                L("BatchNorm2d", "bn1"),
                L("ReLU", "relu", inplace=True),
                L("MaxPool2d", "maxpool", kernel_size=3, stride=2, padding=1),
                *layers,
                L("AdaptiveAvgPool2d", "avgpool", output_size=(1, 1)),
                L("Flatten"),
                L("Linear", "fc", out_features="num_classes"),
            ),
            blocks=(BASIC_BLOCK,),
            params=(("num_classes", 1000),),
            doc=f"ResNet-{depth} (He et al., 2015) with basic blocks and projection shortcuts, "
            "as in torchvision.",
        )

    return build


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


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "small residual CNN for 3x32x32 input, 10 classes (the default model)", tiny, "kaiming"
    ),
    "mlp": Preset("multilayer perceptron for 1x28x28 input, 10 classes", mlp),
    "cnn": Preset("LeNet-5 style conv net for 1x28x28 input, 10 classes", cnn),
    **{
        k: Preset(
            f"VGG-{k[3:]} (config {'ABDE'[i]}, no batch norm), 3x224x224, 1000 classes",
            vgg(k),
            "kaiming",
        )
        for i, k in enumerate(VGG_CONFIGS)
    },
    "resnet18": Preset(
        "ResNet-18, basic blocks [2, 2, 2, 2], 3x224x224, 1000 classes",
        resnet(18, (2, 2, 2, 2)),
        "kaiming",
    ),
    "resnet34": Preset(
        "ResNet-34, basic blocks [3, 4, 6, 3], 3x224x224, 1000 classes",
        resnet(34, (3, 4, 6, 3)),
        "kaiming",
    ),
}
DEFAULT_PRESET = "tiny"


def build_preset(preset: str, name: str) -> Model:
    if preset not in PRESETS:
        raise unknown("preset", preset, PRESETS)
    return PRESETS[preset].build(name)
