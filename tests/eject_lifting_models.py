"""Small models for the lifting mechanisms the zoos need (tests/test_eject_lifting.py): each is
the shape of a torchvision model's forward, at a size that ejects in seconds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DenseLayer(nn.Module):
    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(F.relu(self.norm(torch.cat(features, 1))))


class DenseBlock(nn.ModuleDict):
    """torchvision's _DenseBlock: a ModuleDict with a forward, each layer called with the list
    of every output before it (the list grows after each call)."""

    def __init__(self, layers: int, channels: int, growth: int) -> None:
        super().__init__()
        for i in range(layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(channels + i * growth, growth))

    def forward(self, init: torch.Tensor) -> torch.Tensor:
        features = [init]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class TinyDenseNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), DenseBlock(3, 8, 4), nn.BatchNorm2d(20)
        )
        self.classifier = nn.Linear(20, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class Permute(nn.Module):
    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class ScaledBlock(nn.Module):
    """ConvNeXt's CNBlock in small: two Permutes that differ in a tuple (two classes, never a
    parameter holding a list) and a learned scale sized by the block's width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
            Permute([0, 2, 3, 1]),
            nn.Linear(channels, channels),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.rand(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer_scale * self.block(x)


class Expand(nn.Module):
    def __init__(self, inp: int, out: int, hidden: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(inp, hidden, 1)
        self.project = nn.Conv2d(hidden, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(F.relu(self.expand(x)))


class Stages(nn.Module):
    """Stages of one class; the second's first block keeps the class's most common hidden
    width while the others widen it (EfficientNetV2's stages): the repeated stage must say
    the first's value, though it is the default."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.stage1 = nn.Sequential(Expand(8, 8, 16), Expand(8, 8, 16), Expand(8, 8, 16))
        self.stage2 = nn.Sequential(Expand(8, 12, 16), Expand(12, 12, 24), Expand(12, 12, 24))
        self.scaled = nn.Sequential(ScaledBlock(12), ScaledBlock(12))
        self.head = nn.Conv2d(12, 6, 1)
        self.wide = ScaledBlock(6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scaled(self.stage2(self.stage1(self.stem(x))))
        return self.wide(self.head(x))


class Partition(nn.Module):
    def forward(self, x: torch.Tensor, size: int) -> torch.Tensor:
        return x.reshape(x.size(0), x.size(1) // size, size * x.size(2), x.size(3))


class Literals(nn.Module):
    """MaxViT's ``self.partition_op(x, self.p)`` (a block given a number) and inception's
    ``F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)`` (a builtin without a signature)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.partition = Partition()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(self.conv(x), kernel_size=3, stride=1, padding=1)
        return self.partition(x, 2)


class RelativeBias(nn.Module):
    """Swin's attention in small: a learned table, an int64 buffer, a mask buffer with
    ``persistent=False``, and a constant the trace materialises (a tensor built in forward
    from literals)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.table = nn.Parameter(torch.randn(7))
        self.register_buffer("index", torch.tensor([6, 0, 3, 1]))
        self.register_buffer("mask", torch.tensor([1.0, 0.0, 1.0, 1.0]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.table[1:5] + self.index
        return self.fc(x) * self.mask + bias + torch.tensor([0.5, -1.0, 2.0, 0.25])


class Aux(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.conv(x), 1), 1))


class WithAux(nn.Module):
    """GoogLeNet's auxiliary head: called in training only, declared after the layers the
    forward calls after it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.body = nn.Conv2d(6, 8, 3, padding=1)
        self.aux = Aux(6)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        aux = self.aux(x) if self.training else None
        out = self.head(torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1))
        return (out, aux) if self.training else out


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, 4, 1)
        self.fc2 = nn.Conv2d(4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class Inverted(nn.Module):
    def __init__(self, channels: int, hidden: int, excite: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, hidden, 1), nn.ReLU()]
        if excite:
            layers.append(SqueezeExcite(hidden))
        layers.append(nn.Conv2d(hidden, channels, 1))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class SometimesExcited(nn.Module):
    """MobileNetV3's inverted residuals: a squeeze-excitation in some, as wide as their
    hidden width; the ones that have it agree on that width, the others differ (another
    squeeze-excitation, in the head, gives its class a width parameter)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            Inverted(8, 16, True), Inverted(8, 24, False), Inverted(8, 16, True)
        )
        self.head = SqueezeExcite(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x))


class CalledTwice(nn.Module):
    """A layer with weights and a norm with running statistics, each called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.fc(x))
        return self.norm(self.fc(torch.relu(x)))


class TwiceInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = CalledTwice()
        self.second = CalledTwice()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


class AuxTooLarge(WithAux):
    """A head whose kernel is larger than what it is given on a small input: the model runs
    in eval, not in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.aux.conv = nn.Conv2d(6, 4, 5)


class ReadOutOfOrder(nn.Module):
    """CaiT: tensors of its own registered in one order (``cls_token``, then ``pos_embed``)
    and read in another."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, 4))
        self.pos_embed = nn.Parameter(torch.randn(1, 3, 4))
        self.register_buffer("scale", torch.full((4,), 0.5))
        self.register_buffer("shift", torch.randn(1, 1, 4))
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + self.shift) * self.scale + self.pos_embed
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return self.fc(x[:, 0])


class Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x)) + x


class SequentialsInAList(nn.Module):
    """HRNet's branches: a ModuleList of nn.Sequentials, each of one class repeated."""

    def __init__(self) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [nn.Sequential(Residual(4), Residual(4)), nn.Sequential(Residual(4), Residual(4))]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branches[0](x) * self.branches[1](x)


class PositionTable(nn.Module):
    """A table a parent reads through a method (timm's RelPosBias, its rotary embedding): its
    forward is never called."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(2 * dim))
        self.register_buffer("index", torch.arange(dim).flip(0) * 2, persistent=False)

    def bias(self) -> torch.Tensor:
        return self.table[self.index]


class BorrowingAttention(nn.Module):
    """BEiT's attention in small: the qkv bias built from two parameters and a zero buffer,
    the projection computed by ``F.linear`` with the (never called) qkv layer's weight, a
    table read from another submodule, and Eva's rotation (reshaped to its input's shape) and
    cast to the dtype it already has."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q_bias = nn.Parameter(torch.randn(dim))
        self.register_buffer("k_bias", torch.zeros(dim), persistent=False)
        self.v_bias = nn.Parameter(torch.randn(dim))
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.position = PositionTable(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = torch.cat((self.q_bias, self.k_bias, self.v_bias))
        q, k, v = F.linear(x, weight=self.qkv.weight, bias=bias).chunk(3, dim=-1)
        rotated = torch.stack([-q[..., 1::2], q[..., ::2]], -1).reshape(q.shape)
        mixed = (rotated * torch.sigmoid(k) + v + self.position.bias()).to(dtype=x.dtype)
        return x + self.proj(mixed)


class Borrowing(nn.Module):
    """Two of those, and the model itself reading a buffer of a submodule (Eva's rope)."""

    def __init__(self) -> None:
        super().__init__()
        self.rope = PositionTable(6)
        self.blocks = nn.Sequential(BorrowingAttention(6), BorrowingAttention(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) * self.rope.bias()


class StandardizedConv(nn.Conv2d):
    """timm's ScaledStdConv2d: a convolution that standardises its own weight in forward (a
    reshape of it, its statistics per output channel, a gain of its own), then ``F.conv2d``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.gain = nn.Parameter(torch.rand(out_channels, 1, 1, 1) + 0.5)
        self.scale = kernel_size**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(self.out_channels, -1)
        centred = w - w.mean(dim=1, keepdim=True)
        w = centred * torch.rsqrt((centred * centred).mean(dim=1, keepdim=True) + 1e-6)
        weight = (w * (self.gain * self.scale).view(-1, 1)).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class BatchStandardizedConv(StandardizedConv):
    """timm's own way: ``F.batch_norm`` of the reshaped weight with no running statistics,
    in training mode, so by the weight's own statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            weight=(self.gain * self.scale).view(-1),
            training=True,
            momentum=0.0,
            eps=1e-6,
        ).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Standardized(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = StandardizedConv(3, 8, 3)
        self.body = nn.Sequential(
            BatchStandardizedConv(8, 8, 3), nn.ReLU(), BatchStandardizedConv(8, 4, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(torch.relu(self.stem(x)))


class Bottleneck(nn.Module):
    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 1)
        self.conv2 = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class Downsample(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class DeepStage(nn.Module):
    def __init__(self, in_channels: int, channels: int, depth: int, stride: int) -> None:
        super().__init__()
        first = Downsample(in_channels, channels, stride)
        rest = [Bottleneck(channels, channels // 2) for _ in range(depth)]
        self.blocks = nn.Sequential(first, *rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class UnevenStages(nn.Module):
    """ResNetV2's stages (3, 4, 6, 3 blocks) in small: the blocks only the deepest stage has
    are absent from the others, where they must still be built; the width of one seen in a
    single stage is that stage's width, not a multiple of its stride that another stage's
    width does not follow."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.Sequential(
            DeepStage(3, 4, 1, 1), DeepStage(4, 8, 2, 2), DeepStage(8, 16, 3, 2),
            DeepStage(16, 32, 1, 2),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


class ShortcutBlock(nn.Module):
    """GhostNet's bottleneck: a shortcut of its own (a depthwise convolution as wide as the
    block's input, a norm, a 1x1 convolution) where the block changes the shape, an empty
    ``nn.Sequential`` where it does not."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        if in_channels == out_channels and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class Shortcuts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            ShortcutBlock(3, 4, 1), ShortcutBlock(4, 8, 2), ShortcutBlock(8, 8, 1),
            ShortcutBlock(8, 16, 2), ShortcutBlock(16, 16, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)
