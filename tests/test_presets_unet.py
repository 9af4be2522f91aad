"""The unet preset against a U-Net written by hand the way it is commonly written in PyTorch
(milesial's Pytorch-UNet with transposed convolutions: DoubleConv, Down, Up that concatenates
``[skip, up]``, a 1x1 OutConv), convolutions without bias as the preset builds them."""

from __future__ import annotations

import pytest

from conftest import import_file
from torchscaffold.generate.model import ModelRequest, plan_model


@pytest.fixture(scope="module")
def reference(torch):
    nn = torch.nn

    class DoubleConv(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.double_conv = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            )

        def forward(self, x):
            return self.double_conv(x)

    class Down(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.maxpool_conv = nn.Sequential(
                nn.MaxPool2d(2), DoubleConv(in_channels, out_channels)
            )

        def forward(self, x):
            return self.maxpool_conv(x)

    class Up(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

        def forward(self, x1, x2):
            x1 = self.up(x1)
            return self.conv(torch.cat([x2, x1], dim=1))

    class UNet(nn.Module):
        def __init__(self, n_channels=3, n_classes=2):
            super().__init__()
            self.inc = DoubleConv(n_channels, 64)
            self.down1 = Down(64, 128)
            self.down2 = Down(128, 256)
            self.down3 = Down(256, 512)
            self.down4 = Down(512, 1024)
            self.up1 = Up(1024, 512)
            self.up2 = Up(512, 256)
            self.up3 = Up(256, 128)
            self.up4 = Up(128, 64)
            self.outc = nn.Conv2d(64, n_classes, kernel_size=1)

        def forward(self, x):
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            x4 = self.down3(x3)
            x5 = self.down4(x4)
            x = self.up1(x5, x4)
            x = self.up2(x, x3)
            x = self.up3(x, x2)
            x = self.up4(x, x1)
            return self.outc(x)

    return UNet


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("unet")
    modules = {}
    for style in ("explicit", "sequential"):
        plan, resolved = plan_model(
            ModelRequest("UNet", style=style, preset="unet"), out / f"unet_{style}.py"
        )
        plan.apply()
        modules[style] = (import_file(plan.files[0].path), resolved)
    return modules


def test_the_default_is_the_published_shape(generated):
    _, resolved = generated["explicit"]
    assert resolved.input_shape == (3, 256, 256)
    assert resolved.output_shape == (2, 256, 256)  # the input's spatial size
    assert resolved.total_params == 31_037_698
    assert [r.name for r in resolved.rows] == [
        "inc",
        *(f"down{i}" for i in range(1, 5)),
        *(f"up{i}" for i in range(1, 5)),
        "outc",
    ]


@pytest.mark.parametrize("style", ["explicit", "sequential"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_same_network_as_the_common_implementation(torch, reference, generated, style, mode):
    module, resolved = generated[style]
    torch.manual_seed(0)
    theirs = reference()
    ours = module.UNet()
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    assert [b.shape for b in ours.buffers()] == [b.shape for b in theirs.buffers()]
    assert sum(p.numel() for p in ours.parameters()) == resolved.total_params
    with torch.no_grad():
        for src, dst in zip(theirs.parameters(), ours.parameters(), strict=True):
            dst.copy_(src.normal_(0, 0.1) if src.dim() == 1 else src)
        for src, dst in zip(theirs.buffers(), ours.buffers(), strict=True):
            dst.copy_(src)
    theirs.train(mode == "train")
    ours.train(mode == "train")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(x)
        got = ours(x)
    assert got.shape == (2, 2, 32, 32)
    assert torch.equal(got, expected)
    if mode == "train":  # batch norm's running statistics moved the same way
        for a, b in zip(theirs.buffers(), ours.buffers(), strict=True):
            assert torch.equal(a, b)
