"""Presets: functions that return the IR of a published architecture.

Each is built from the same IR as a TOML spec, so every style applies to every preset. Defaults
are the published ones; ``spec.options.finalize`` applies --in-channels/--input-size/--num-classes.
One module per family; a new preset is one function that returns IR and one entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torchscaffold.errors import unknown
from torchscaffold.spec.ir import Model
from torchscaffold.spec.presets.gpt import gpt
from torchscaffold.spec.presets.mobilenet import mobilenet_v2
from torchscaffold.spec.presets.resnet import resnet
from torchscaffold.spec.presets.small import cnn, mlp, tiny
from torchscaffold.spec.presets.text import lstm_classifier, transformer_classifier
from torchscaffold.spec.presets.unet import unet
from torchscaffold.spec.presets.vgg import VGG_CONFIGS, vgg
from torchscaffold.spec.presets.vit import vit


@dataclass(frozen=True)
class Preset:
    help: str
    build: Callable[[str], Model]
    # The weight init its reference uses (an inits.SCHEMES name), or None for PyTorch's own
    # layer defaults: what torchvision's constructor does for its models (kaiming for VGG and
    # MobileNetV2, kaiming_conv for ResNet, vit for ViT), nothing special for an MLP or LeNet.
    init: str | None = None

    def describe(self) -> str:
        return f"{self.help}; init: {self.init or 'PyTorch defaults'}"


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
        "kaiming_conv",
    ),
    "resnet34": Preset(
        "ResNet-34, basic blocks [3, 4, 6, 3], 3x224x224, 1000 classes",
        resnet(34, (3, 4, 6, 3)),
        "kaiming_conv",
    ),
    **{
        f"resnet{depth}": Preset(
            f"ResNet-{depth}, bottleneck blocks {list(stages)} (stride on the 3x3, v1.5), "
            "3x224x224, 1000 classes",
            resnet(depth, stages, bottleneck=True),
            "kaiming_conv",
        )
        for depth, stages in ((50, (3, 4, 6, 3)), (101, (3, 4, 23, 3)), (152, (3, 8, 36, 3)))
    },
    "resnext50_32x4d": Preset(
        "ResNeXt-50 32x4d, bottleneck blocks [3, 4, 6, 3] with 32 groups of width 4, "
        "3x224x224, 1000 classes",
        resnet(50, (3, 4, 6, 3), bottleneck=True, groups=32, width_per_group=4),
        "kaiming_conv",
    ),
    "mobilenet_v2": Preset(
        "MobileNetV2 (width 1.0), inverted residuals with ReLU6, 3x224x224, 1000 classes",
        mobilenet_v2,
        "kaiming",
    ),
    "vit_b_16": Preset(
        "ViT-B/16: 16x16 patches, 12 encoder blocks of width 768, 3x224x224 (image_size), "
        "1000 classes",
        vit("B", 16, 12, 12, 768, 3072),
        "vit",
    ),
    "unet": Preset(
        "U-Net (4 levels down and up from width 64, batch norm), 3x256x256, 2 classes per pixel",
        unet,
    ),
    "gpt2": Preset(
        "GPT-2 small as nanoGPT builds it (12 layers, 12 heads, width 768, context 1024, "
        "vocabulary 50257, tied head)",
        gpt(12),
        "gpt2",
    ),
    "lstm_classifier": Preset(
        "token classifier: embedding, 2-layer LSTM, masked mean, linear; sequence-kind batches",
        lstm_classifier,
    ),
    "transformer_classifier": Preset(
        "token classifier: embeddings, 2 pre-LN encoder layers, masked mean, linear; "
        "sequence-kind batches",
        transformer_classifier,
    ),
}
DEFAULT_PRESET = "tiny"


def build_preset(preset: str, name: str) -> Model:
    if preset not in PRESETS:
        raise unknown("preset", preset, PRESETS)
    return PRESETS[preset].build(name)
