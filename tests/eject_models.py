"""Small user models for tests/test_eject.py: what `torchgen model --from` lifts, and what it
refuses (each refusal's line number is what the message names)."""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TinyUNet(nn.Module):
    """One level down and up; the skip is kept and concatenated (torch.cat)."""

    def __init__(self, channels: int = 8, classes: int = 2) -> None:
        super().__init__()
        self.inc = DoubleConv(3, channels)
        self.pool = nn.MaxPool2d(2)
        self.down = DoubleConv(channels, 2 * channels)
        self.up = nn.ConvTranspose2d(2 * channels, channels, 2, stride=2)
        self.conv = DoubleConv(2 * channels, channels)
        self.outc = nn.Conv2d(channels, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down(self.pool(x1))
        u = self.up(x2)
        return self.outc(self.conv(torch.cat([x1, u], dim=1)))


class SmallNet(nn.Module):
    """A small CNN with a functional op and a flatten, for every style."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


class Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad * 2


class CustomFunction(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Twice.apply(self.fc(x))  # refused here


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # refused here
            return self.fc(x)
        return x


class UnsupportedOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.diff(self.fc(x), dim=1)  # refused here


class UnsupportedLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.norm = nn.Hardtanh()  # not in torchgen's catalog

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.fc(x))


def broken() -> nn.Module:
    raise ValueError("no model today")


class Named(nn.Module):
    """Linear layers under the given names: as attributes, inside an nn.Sequential (named
    members), and an nn.Sequential of numbered members (for tests/test_eject_names.py)."""

    def __init__(self, names: list[str]) -> None:
        from collections import OrderedDict

        super().__init__()
        self.order = list(names)
        for name in names:
            self.add_module(name, nn.Linear(4, 4))
        self.inner = nn.Sequential(OrderedDict((name, nn.Linear(4, 4)) for name in names))
        self.numbered = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.order:
            x = getattr(self, name)(x)
        return self.numbered(self.inner(x))


def sequential(names: list[str]) -> nn.Module:
    """An nn.Sequential of its own (the model is the container) with the given names."""
    from collections import OrderedDict

    layers = [nn.Linear(4, 4) if i % 2 == 0 else nn.ReLU() for i in range(len(names))]
    return nn.Sequential(OrderedDict(zip(names, layers)))


class ListUNet(nn.Module):
    """The U-Net people write: nn.ModuleLists of nn.Sequentials walked in loops, skips kept in
    a Python list (issue 15's ``downs``/``ups``/``upconvs``)."""

    def __init__(self, channels: int = 4, classes: int = 2) -> None:
        super().__init__()
        widths = [channels, 2 * channels, 4 * channels]
        self.downs = nn.ModuleList()
        cin = 3
        for width in widths:
            self.downs.append(
                nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
            )
            cin = width
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList()
        self.upconvs = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.upconvs.append(nn.ConvTranspose2d(2 * width, width, 2, stride=2))
            self.ups.append(nn.Sequential(nn.Conv2d(2 * width, width, 3, padding=1), nn.ReLU()))
        self.head = nn.Conv2d(channels, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, down in enumerate(self.downs):
            x = down(x)
            if i < len(self.downs) - 1:
                skips.append(x)
                x = self.pool(x)
        for upconv, up in zip(self.upconvs, self.ups):
            x = up(torch.cat([upconv(x), skips.pop()], dim=1))
        return self.head(x)


class MyCNN(nn.Module):
    """Issue 15's example: a constructor argument the ejected class must keep."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.bn = nn.BatchNorm2d(width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden = nn.Linear(width, 4 * width)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.relu(self.hidden(torch.flatten(x, 1))))


class DropPath(nn.Module):
    """timm's DropPath: the identity in eval."""

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], 1, device=x.device) >= self.p
        return x * keep / (1 - self.p)


class Regularised(nn.Module):
    """Residual branches behind torchvision's stochastic_depth (a function fx keeps whole) and
    a DropPath module: eval computes neither."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.drop = DropPath()
        self.fc2 = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import stochastic_depth

        x = x + stochastic_depth(self.fc1(x), 0.2, "row", self.training)
        return self.drop(self.fc2(x))


class Gate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.fc(x)
        if mask is not None:
            x = x * mask
        return x if scale is None else x * scale


class Keywords(nn.Module):
    """timm's ``self.attn(x, attn_mask=None)``: blocks called with keyword arguments, a
    constant (None) and a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.a = Gate()
        self.b = Gate()
        self.scale = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x, mask=None)
        return self.b(x, scale=self.scale(x), mask=None)


class BatchNormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d: an nn.BatchNorm2d whose forward calls F.batch_norm on its own
    running statistics, then an activation."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.act = nn.ReLU()
        with torch.no_grad():  # statistics that are not the defaults: the check reads them
            self.running_mean.uniform_(-1, 1)
            self.running_var.uniform_(0.5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            self.training, self.momentum, self.eps,
        )  # fmt: skip
        return self.act(x)


class NormAct(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn1 = BatchNormAct(4)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.bn2 = BatchNormAct(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.bn1(self.conv1(x))))


class Unbound(nn.Module):
    """timm's attention: q, k, v = qkv.reshape(...).permute(...).unbind(0)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, 2, C // 2).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        return nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)


class Stage(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Staged(nn.Module):
    """Stages of ``depths[i]`` blocks whose first differs (it strides), as torchvision's
    ResNet; built through a factory that passes ``**kwargs`` on, as ``resnet18`` does."""

    def __init__(self, depths: list[int], num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        widths = [width * 2**i for i in range(len(depths))]
        stages, cin = [], width
        for depth, cout in zip(depths, widths):
            blocks = [Stage(cin, cout, 2)] + [Stage(cout, cout) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean((2, 3)))


def staged(*, pretrained: bool = False, **kwargs: object) -> Staged:
    return Staged([2, 3], **kwargs)


class FunctionalOps(nn.Module):
    """Ordinary forward code on tensors of its own: functional norms, a padded depthwise
    convolution, a reshaped scale (convnext), roll (swin), softmax as a method, slices, an
    interpolation to the input's size."""

    def __init__(self) -> None:
        super().__init__()
        self.depthwise = nn.Parameter(torch.randn(4, 1, 3, 3))
        self.weight = nn.Parameter(torch.randn(4))
        self.bias = nn.Parameter(torch.randn(4))
        self.gamma = nn.Parameter(torch.randn(4))
        self.proj = nn.Parameter(torch.randn(3, 4))
        self.unfold = nn.Unfold(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.conv2d(
            nn.functional.pad(x, (1, 1, 1, 1)), self.depthwise, None, 1, 0, 1, 4
        )
        y = nn.functional.layer_norm(y.permute(0, 2, 3, 1), (4,), self.weight, self.bias, 1e-6)
        y = y.permute(0, 3, 1, 2) * self.gamma.reshape(1, -1, 1, 1)
        y = nn.functional.group_norm(y, 2)
        y = torch.roll(y, shifts=(1, -1), dims=(2, 3)).clamp(min=-3.0, max=3.0)
        a = y.flatten(2).transpose(1, 2)
        a = (a @ a.transpose(-2, -1)).softmax(dim=-1) @ a
        a = torch.addcmul(a, a.sigmoid(), a, value=0.5)[:, 1:]
        a = torch.maximum(nn.functional.linear(a, self.proj), a[:, :, :3])
        z = nn.functional.interpolate(nn.functional.avg_pool2d(y, 2), size=x.shape[-2:])
        return torch.cat([a.mean(dim=1), self.unfold(z).mean(dim=-1)], dim=1)


class Indexing(nn.Module):
    """Slices to sizes read at run time and from the end, with a step (levit's subsampling), new
    axes, ``...`` (swin's windows), a mask filled."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, length, _ = x.shape
        y = self.fc(x)[:, : length - 1]
        y = y[:, length - 4 :]  # from a size read at run time (pit's x[:, tokens:])
        y = y[:, None, 1:, :4]
        y = y[..., 1:, None] + y[..., :-1, None]
        y = y.masked_fill(y > 0.5, -1.0)
        return y[:, 0, ::2, -1, 0]


class NoWeightButBias(nn.Module):
    """``F.layer_norm(x, shape, None, bias)``: a tensor after one left out is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, (4,), None, self.bias)


class Scaled(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = dim**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale


class TwoScales(nn.Module):
    """A number an op takes differs between instances of one class (crossvit's attention
    scale): a parameter of the class."""

    def __init__(self) -> None:
        super().__init__()
        self.a = Scaled(4)
        self.b = Scaled(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


class PartialShortcut(nn.Module):
    """ReXNet's block: where it keeps the resolution, the input is added to the first channels
    of the output (a slice along dim 1 only those instances compute)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
        self.shortcut = stride == 1 and cin <= cout
        self.cin = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.shortcut:
            out = torch.cat([out[:, : self.cin] + x, out[:, self.cin :]], dim=1)
        return out


class ReXLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            PartialShortcut(3, 8, 2), PartialShortcut(8, 12, 1), PartialShortcut(12, 16, 2),
            PartialShortcut(16, 20, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class NamesItsWidthX(nn.Module):
    """A constructor argument named as the generated forward's input (``x``)."""

    def __init__(self, x: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(4, x)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.fc(inputs)
