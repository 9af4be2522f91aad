"""torchvision's ResNets (He et al., 2015): basic-block ResNet-18/34, and the bottleneck
ResNet-50/101/152 and ResNeXt (Xie et al., 2016) with the stride on the 3x3 convolution
("ResNet v1.5", as torchvision builds them).

Init: ``kaiming_conv``, as torchvision's ResNet constructor: conv kaiming_normal_(mode="fan_out",
nonlinearity="relu"), batch norms 1/0, the classifier Linear at PyTorch's default.
"""

from __future__ import annotations

from collections.abc import Callable

from torchscaffold.spec.expr import parse
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
    shortcut="downsample",  # torchvision's name, so its state_dict keys load as they are
    after=(L("ReLU", inplace=True),),
    doc="The ResNet basic block: two 3x3 convolutions with batch norm and a residual connection.",
)

BOTTLENECK = Block(
    name="Bottleneck",
    params=(("channels", 64), ("stride", 1), ("groups", 1), ("width_per_group", 64)),
    lets=(("width", parse("channels * width_per_group // 64 * groups", "let width")),),
    steps=(
        L("Conv2d", out_channels="width", kernel_size=1, bias=False),
        L("BatchNorm2d"),
        L("ReLU", inplace=True),
        L(
            "Conv2d",
            out_channels="width",
            kernel_size=3,
            stride="stride",
            padding=1,
            groups="groups",
            bias=False,
        ),
        L("BatchNorm2d"),
        L("ReLU", inplace=True),
        L("Conv2d", out_channels="channels * 4", kernel_size=1, bias=False),
        L("BatchNorm2d"),
    ),
    residual=True,
    shortcut="downsample",
    after=(L("ReLU", inplace=True),),
    doc="The ResNet bottleneck block: a 1x1 convolution down to ``width``, a (grouped) 3x3 "
    "convolution that carries the stride, a 1x1 convolution up to ``channels * 4``, each with "
    "batch norm, and a residual connection.",
)


def resnet(
    depth: int,
    stages: tuple[int, int, int, int],
    *,
    bottleneck: bool = False,
    groups: int = 1,
    width_per_group: int = 64,
) -> Callable[[str], Model]:
    """torchvision's ``ResNet(block, stages, groups=..., width_per_group=...)``."""
    block = BOTTLENECK if bottleneck else BASIC_BLOCK
    widths = {"groups": "groups", "width_per_group": "width_per_group"} if bottleneck else {}

    def build(name: str) -> Model:
        layers = tuple(
            B(
                block.name,
                f"layer{i + 1}",
                repeat=f"layers[{i}]",
                first={"stride": 2} if i else None,
                channels=64 * 2**i,
                **widths,
            )
            for i in range(len(stages))
        )
        # torchvision's ResNet(block, layers, num_classes, ...): the depths are an argument.
        params: tuple[tuple[str, object], ...] = (("layers", stages), ("num_classes", 1000))
        if bottleneck:
            params += (("groups", groups), ("width_per_group", width_per_group))
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
            blocks=(block,),
            params=params,
            doc=_doc(depth, bottleneck, groups, width_per_group),
        )

    return build


def _doc(depth: int, bottleneck: bool, groups: int, width_per_group: int) -> str:
    if groups != 1:
        return (
            f"ResNeXt-{depth} {groups}x{width_per_group}d (Xie et al., 2016): bottleneck blocks "
            "with grouped 3x3 convolutions and projection shortcuts, as in torchvision."
        )
    if bottleneck:
        return (
            f"ResNet-{depth} (He et al., 2015) with bottleneck blocks (the stride on the 3x3 "
            "convolution, v1.5) and projection shortcuts, as in torchvision."
        )
    return (
        f"ResNet-{depth} (He et al., 2015) with basic blocks and projection shortcuts, "
        "as in torchvision."
    )
