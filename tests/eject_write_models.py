"""Small models whose forward writes into a tensor (tests/test_eject_writes.py): torchvision's
Swin builds its shifted-window mask by item assignment, SwinV2 zeroes the key's third of a copy
of the qkv bias, MaxViT reads a view of an index buffer. At sizes that eject in seconds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def shifted_attention(x: torch.Tensor, qkv: nn.Linear, heads: int, window: int, shift: int):
    """torchvision's ``shifted_window_attention``, cut down: x is (B, H, W, C), channels last."""
    B, H, W, C = x.shape
    x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    num_windows = (H // window) * (W // window)
    x = x.view(B, H // window, window, W // window, window, C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B * num_windows, window * window, C)
    q, k, v = qkv(x).reshape(x.size(0), x.size(1), 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q = q * (C // heads) ** -0.5  # a float computed from a size
    attn = q.matmul(torch.swapaxes(k, -2, -1))
    # The mask: built from sizes alone, one region number per item-assigned slice.
    attn_mask = x.new_zeros((H, W))
    slices = ((0, -window), (-window, -shift), (-shift, None))
    count = 0
    for h in slices:
        for w in slices:
            attn_mask[h[0] : h[1], w[0] : w[1]] = count
            count += 1
    attn_mask = attn_mask.view(H // window, window, W // window, window)
    attn_mask = attn_mask.permute(0, 2, 1, 3).reshape(num_windows, window * window)
    attn_mask = attn_mask.unsqueeze(1) - attn_mask.unsqueeze(2)
    attn_mask = attn_mask.masked_fill(attn_mask != 0, -100.0)
    attn = attn.view(x.size(0) // num_windows, num_windows, heads, x.size(1), x.size(1))
    attn = attn + attn_mask.unsqueeze(1).unsqueeze(0)
    attn = F.softmax(attn.view(-1, heads, x.size(1), x.size(1)), dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), C)
    x = x.view(B, H // window, W // window, window, window, C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
    return torch.roll(x, shifts=(shift, shift), dims=(1, 2))


class ShiftedBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, dim * 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + shifted_attention(self.norm(x), self.qkv, self.heads, self.window, self.shift)


class ShiftedWindows(nn.Module):
    """Two shifted blocks at two widths over an 8x8 map of 2x2 patches."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 2, stride=2)
        self.blocks = nn.Sequential(ShiftedBlock(8, 2, 4, 2), ShiftedBlock(8, 2, 4, 2))
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.embed(x).permute(0, 2, 3, 1))
        return self.head(x.mean(dim=(1, 2)))


class ZeroedBias(nn.Module):
    """SwinV2's qkv bias: the key's third of a copy zeroed in place, then a fill and an item
    assignment of numbers into other copies."""

    def __init__(self, dim: int = 6, start: int = 1, stop: int = 2, value: float = 0.0) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, dim * 3)
        self.scale = nn.Parameter(torch.randn(dim))
        self.start, self.stop, self.value = start, stop, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.qkv.bias.clone()
        third = bias.numel() // 3
        bias[third * self.start : third * self.stop].zero_()
        scale = self.scale.clone()
        scale[0] = self.value
        scale[-2:].fill_(2.0)
        return F.linear(x, self.qkv.weight, bias).view(x.size(0), 3, -1) * scale


class IndexedTable(nn.Module):
    """MaxViT's relative bias: a view of an index buffer picks rows of a learned table."""

    def __init__(self, size: int = 3, heads: int = 2) -> None:
        super().__init__()
        self.size = size
        self.table = nn.Parameter(torch.randn((2 * size - 1) ** 2, heads))
        axis = torch.arange(size)
        coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (size - 1)
        self.register_buffer("index", relative[..., 0] * (2 * size - 1) + relative[..., 1])
        self.proj = nn.Linear(size * size, size * size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.size * self.size
        bias = self.table[self.index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        return self.proj(x).unsqueeze(1) + bias.sum(-1)


class DataWrite(nn.Module):
    """A write of the input's values into a copy of it: not lifted."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x).clone()
        y[:, 0] = x[:, 1]
        return y


class BatchScaled(nn.Module):
    """A number computed from the batch size: refused, as another batch gives another."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * x.size(0) ** -0.5
