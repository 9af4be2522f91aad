"""Small models whose blocks see no batch dimension of the model's own (tests/test_eject_windows.py):
their leading size is the batch times windows or tokens, as in timm's swin, levit, tiny_vit and
mobilevit, at a size that ejects in seconds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WindowAttention(nn.Module):
    """Attention within each window: its input is (batch * windows, tokens, channels); a mask,
    where given, is (windows, tokens, tokens), one per window, without a batch. A bias per
    relative position is looked up in a table (``table[index]``)."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads))
        axis = torch.arange(window)
        coords = torch.stack(torch.meshgrid(axis, axis, indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        index = relative[..., 0] * (2 * window - 1) + relative[..., 1]
        self.register_buffer("bias_index", index.flatten(), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        bias = self.bias_table[self.bias_index].view(N, N, -1).permute(2, 0, 1).contiguous()
        attn = q @ k.transpose(-2, -1) + bias.unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(-1, windows, self.heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, N, N)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


def window_partition(x: torch.Tensor, size: int) -> torch.Tensor:
    B, H, W, C = x.shape
    x = x.view(B, H // size, size, W // size, size, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, size, size, C)


def window_reverse(windows: torch.Tensor, size: int, H: int, W: int) -> torch.Tensor:
    C = windows.shape[-1]
    x = windows.view(-1, H // size, W // size, size, size, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, C)


class SwinBlock(nn.Module):
    """timm's SwinTransformerBlock: padded to whole windows, shifted (with its mask) or not."""

    def __init__(self, dim: int, window: int, shift: int, size: int) -> None:
        super().__init__()
        self.window, self.shift = window, shift
        self.norm = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, 2, window)
        if shift:
            padded = -(-size // window) * window
            ids = torch.zeros(padded, padded)
            ids[-window:, :] += 1
            ids[:, -window:] += 2
            windows = window_partition(ids[None, :, :, None], window).flatten(1)
            mask = (windows[:, None] != windows[:, :, None]).float() * -100.0
            self.register_buffer("attn_mask", mask, persistent=False)
        else:
            self.attn_mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, H, W, C = x.shape
        y = self.norm(x)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        pad_h = (self.window - H % self.window) % self.window
        pad_w = (self.window - W % self.window) % self.window
        y = F.pad(y, (0, 0, 0, pad_w, 0, pad_h))
        _, Hp, Wp, _ = y.shape
        windows = window_partition(y, self.window).view(-1, self.window * self.window, C)
        windows = self.attn(windows, mask=self.attn_mask)
        windows = windows.view(-1, self.window, self.window, C)
        y = window_reverse(windows, self.window, Hp, Wp)[:, :H, :W, :].contiguous()
        return x + y


class PatchMerging(nn.Module):
    """timm's swin PatchMerging: each 2x2 of a channels-last map (padded to even sizes) into
    one position of 4 * dim channels, normed and projected."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        _, H, W, _ = x.shape
        x = x.reshape(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.norm(x))


class TinySwin(nn.Module):
    """Windows of 2 over a 5x5 map (padded to 6x6), unshifted then shifted; two merges of
    patches, at 8 and 16 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 2, 2)
        self.blocks = nn.Sequential(SwinBlock(8, 2, 0, 5), SwinBlock(8, 2, 1, 5))
        self.merges = nn.Sequential(PatchMerging(8, 16), PatchMerging(16, 32))
        self.head = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.merges(self.blocks(self.stem(x).permute(0, 2, 3, 1)))
        return self.head(x.mean((1, 2)))


class LinearNorm(nn.Module):
    """timm's levit LinearNorm: a BatchNorm1d over every token of every sample."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        return self.bn(x.flatten(0, 1)).reshape_as(x)


class TokenNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 2, 2)
        self.mlp = nn.Sequential(LinearNorm(8, 16), nn.Hardswish(), LinearNorm(16, 8))
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.mlp(x).mean(1))


class TransformerLayer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(self.norm(x))


class PatchBlock(nn.Module):
    """timm's MobileVitBlock: the map unfolded into (batch * patch area, patches, channels),
    a transformer over the patches, folded back."""

    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.patch = patch
        self.area = patch * patch
        self.transformer = nn.Sequential(TransformerLayer(dim), TransformerLayer(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        ph, pw = H // self.patch, W // self.patch
        y = x.reshape(B * C * ph, self.patch, pw, self.patch).transpose(1, 2)
        y = y.reshape(B, C, ph * pw, self.area).transpose(1, 3).reshape(B * self.area, ph * pw, -1)
        y = self.transformer(y)
        y = y.contiguous().view(B, self.area, ph * pw, -1).transpose(1, 3)
        y = y.reshape(B * C * ph, pw, self.patch, self.patch).transpose(1, 2)
        return x + y.reshape(B, C, H, W)


class PatchNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = PatchBlock(8, 2)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)).mean((2, 3)))
