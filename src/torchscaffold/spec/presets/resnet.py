"""torchvision's ResNets (He et al., 2015)."""

from __future__ import annotations

from collections.abc import Callable

from torchscaffold.spec.ir import Block, Model
from torchscaffold.spec.presets.build import B, L, model

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
