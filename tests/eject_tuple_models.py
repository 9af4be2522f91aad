"""Small models whose blocks pass several tensors as one value (tests/test_eject_tuples.py):
the shapes of timm's PiT, CrossViT, HRNet and CaiT forwards, at a size that ejects in seconds."""

from __future__ import annotations

import torch
from torch import nn


class Pool(nn.Module):
    """PiT's pooling: the map and the class tokens in, both (and a third value) out."""

    def __init__(self, width: int, out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, out, 3, stride=2, padding=1)
        self.fc = nn.Linear(width, out)

    def forward(
        self, x: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.conv(x)
        return x, self.fc(tokens), x.mean(1)


class Stage(nn.Module):
    """PiT's transformer stage: the pair as one tuple in, a pair out; the first stage has no
    pool."""

    def __init__(self, width: int, pool_from: int | None = None) -> None:
        super().__init__()
        self.pool = Pool(pool_from, width) if pool_from else None
        self.mix = nn.Linear(width, width)

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, tokens = pair
        if self.pool is not None:
            x, tokens, _ = self.pool(x, tokens)  # the third value is never read
        batch, channels, height, width = x.shape
        t = self.mix(torch.cat((tokens, x.flatten(2).transpose(1, 2)), dim=1))
        n = tokens.shape[1]
        return t[:, n:].transpose(1, 2).reshape(batch, channels, height, width), t[:, :n]


class PairSequential(nn.Sequential):
    """PiT's SequentialTuple: each member given the previous one's tuple, whole."""

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        for module in self:
            pair = module(pair)
        return pair


class TokenPyramid(nn.Module):
    """PiT and CaiT: the model's own tensors registered in another order than its forward reads
    them (``cls_token`` first, ``pos_embed`` read first); a tuple built, passed whole through
    a Sequential of stages, and read by ``out[0]`` and through a slice, ``out[1:][0]``."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, 4))
        self.pos_embed = nn.Parameter(torch.randn(1, 4, 4, 4))
        self.stem = nn.Conv2d(3, 4, 1)
        self.stages = PairSequential(Stage(4), Stage(8, pool_from=4))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x) + self.pos_embed
        tokens = self.cls_token.expand(x.shape[0], -1, -1)
        out = self.stages((x, tokens))
        tokens = out[1:][0]
        return self.head(self.norm(tokens)[:, 0]) + out[0].mean((2, 3)).sum(1, keepdim=True)


class Basic(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + x


class Branches(nn.Module):
    """HRNet's module: a list in, each branch (an nn.Sequential of one class, in a ModuleList)
    on its own item, the list out."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Sequential(Basic(w), Basic(w)) for w in widths])

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        for i, branch in enumerate(self.branches):
            xs[i] = branch(xs[i])
        return xs


class ListSequential(nn.Sequential):
    """HRNet's SequentialList."""

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        for module in self:
            xs = module(xs)
        return xs


class MultiResolution(nn.Module):
    """HRNet and CrossViT: a list of two resolutions through blocks that each return the list,
    every item read at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.high = nn.Conv2d(3, 4, 1)
        self.low = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.stage = ListSequential(Branches((4, 6)), Branches((4, 6)))
        self.head = nn.Linear(10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = self.stage([self.high(x), self.low(x)])
        return self.head(torch.cat([y.mean((2, 3)) for y in ys], dim=1))


class PairBlock(nn.Module):
    """SelecSLS's block: given ``[x]`` or ``[x, skip]``; the first of a stage never reads the
    skip it is given and returns ``[out, out]``, the others ``[out, skip]``."""

    def __init__(self, width: int, out: int, first: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, out, 3, padding=1)
        self.first = first
        self.mix = None if first else nn.Conv2d(2 * out, out, 1)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        if not isinstance(x, list):
            x = [x]
        y = torch.relu(self.conv(x[0]))
        if self.mix is None:
            return [y, y]
        return [self.mix(torch.cat([y, x[1]], 1)), x[1]]


class Select(nn.Module):
    """SelecSLS's SelectSeq: one item of the list, computing nothing."""

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return x[self.index]


class PairedStages(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = ListSequential(
            PairBlock(3, 4, True), PairBlock(4, 4, False), PairBlock(4, 8, True),
            PairBlock(8, 8, False),
        )  # fmt: skip
        self.select = Select()
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.select(self.features(x)).mean((2, 3)))


class Leaf(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + shortcut


class Tree(nn.Module):
    """DLA's Tree: two leaves, or two trees a level down; each projects its input and gives
    it to its children, and a tree child computes its own in its place, never reading it."""

    def __init__(self, levels: int, width: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(width, width, 1)
        child = Leaf if levels == 1 else lambda w: Tree(levels - 1, w)
        self.tree1 = child(width)
        self.tree2 = child(width)

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor | None = None) -> torch.Tensor:
        shortcut = self.project(x)
        return self.tree2(self.tree1(x, shortcut), shortcut)


class Trees(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.tree = Tree(3, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.tree(self.stem(x)).mean((2, 3)))
