"""torchvision's VGG networks (Simonyan & Zisserman, 2014), without batch norm.

Init: ``kaiming``, as torchvision's VGG constructor: conv kaiming_normal_(mode="fan_out",
nonlinearity="relu") with zero biases, linear normal(0, 0.01) with zero biases.
"""

from __future__ import annotations

from collections.abc import Callable

from torchscaffold.spec.ir import Model, Step
from torchscaffold.spec.presets.build import G, L, model

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
