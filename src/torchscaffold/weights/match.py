"""Where each tensor of a checkpoint goes in a target class: matching by structure, not by key.

The styles of one network name their tensors differently (``layer2.0.downsample.0.weight``,
``layer2_0.shortcut.0.weight``, ``layers.layer2.0.shortcut.0.weight``) but hold the same tensors
in the same order. So the match walks the two ``state_dict`` listings side by side and pairs an
entry with an entry when their shapes, their kinds of dtype (a float16 checkpoint fits a float32
model) and their leaf names (``weight``, ``bias``, ``running_mean``...) agree. The first pair that
disagrees is the error, named with both keys.

Two things make the listings differ in length without the networks differing:

- tied weights (a GPT's token embedding and LM head): ``state_dict()`` lists the one tensor under
  each of its keys, but a file saved without duplicates (safetensors) lists it once, under either
  key. Each target tensor counts once, wherever the source lists it;
- BatchNorm's ``num_batches_tracked``, missing from checkpoints older than PyTorch 0.4.1
  (torchvision's first published weights): filled with 0, as ``load_state_dict`` itself does.

Pure Python on lists of (key, shape, dtype): no torch here, so every rule is tested alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from torchscaffold.errors import TorchgenError

# BatchNorm's counter: absent from old checkpoints, filled with 0 (see the module docstring).
COUNTER = "num_batches_tracked"

# How many ways of placing tied tensors are tried (each tie group is listed once, under any of
# its keys): a model ties one or two tensors, so this bound is never reached in practice.
MAX_PLACEMENTS = 256


@dataclass(frozen=True)
class Entry:
    """One ``state_dict`` key."""

    key: str
    shape: tuple[int, ...]
    dtype: str  # torch's name without ``torch.``: float32, bfloat16, int64...
    slot: int  # entries of one tensor (tied weights) share their slot
    # The leaf is the name a torch.nn layer gives its tensor (weight, bias, running_mean...);
    # False for a model's own nn.Parameter (a class token), whose name is its author's choice.
    named: bool = True

    @property
    def leaf(self) -> str:
        return self.key.rpartition(".")[2]

    def describe(self) -> str:
        return f"{self.key!r} {shape_text(self.shape)} {self.dtype}"


@dataclass(frozen=True)
class Match:
    """Every target key, in the target's order, with the source key whose tensor it gets."""

    pairs: tuple[tuple[str, str | None], ...]  # None: a num_batches_tracked filled with 0
    # Target keys of one (tied) tensor that got different source tensors, with those source
    # keys: they fit only if the values are equal, which the caller checks.
    ties: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()

    @property
    def filled(self) -> tuple[str, ...]:
        return tuple(t for t, s in self.pairs if s is None)


class Misfit(TorchgenError):
    """The first tensor that does not fit; the message names neither file nor class."""


def shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def dtype_kind(dtype: str) -> str:
    """float, complex, bool or int: a checkpoint in another precision still fits."""
    if dtype.startswith(("float", "bfloat")):
        return "float"
    if dtype.startswith("complex"):
        return "complex"
    return "bool" if dtype == "bool" else "int"


def fits(source: Entry, target: Entry) -> bool:
    return (
        source.shape == target.shape
        and dtype_kind(source.dtype) == dtype_kind(target.dtype)
        and (not target.named or source.leaf == target.leaf)
    )


def match(source: Sequence[Entry], target: Sequence[Entry]) -> Match:
    """Pair the entries in order; raise ``Misfit`` naming the first that does not fit."""
    best: tuple[int, str] | None = None
    for placement in _placements(target):
        pairs, failure = _walk(source, placement)
        if failure is None:
            return _complete(pairs, source, target)
        progress, message = failure
        if best is None or progress > best[0]:
            best = (progress, message)
    assert best is not None
    raise Misfit(best[1])


def _placements(target: Sequence[Entry]) -> Iterator[list[Entry]]:
    """The target's listing as the source may list it: every key, then each tied tensor under
    just one of its keys."""
    yield list(target)
    positions: dict[int, list[int]] = {}
    for i, entry in enumerate(target):
        positions.setdefault(entry.slot, []).append(i)
    groups = [p for p in positions.values() if len(p) > 1]
    if not groups:
        return
    for kept in itertools.islice(itertools.product(*groups), MAX_PLACEMENTS):
        dropped = {i for group, keep in zip(groups, kept) for i in group if i != keep}
        yield [e for i, e in enumerate(target) if i not in dropped]


def _walk(
    source: Sequence[Entry], target: Sequence[Entry]
) -> tuple[dict[str, str | None], tuple[int, str] | None]:
    """Pairs target key -> source key, or how far the source got and what stopped it."""
    pairs: dict[str, str | None] = {}
    i = 0
    for t in target:
        s = source[i] if i < len(source) else None
        if s is not None and fits(s, t):
            pairs[t.key] = s.key
            i += 1
        elif t.leaf == COUNTER and t.shape == () and (s is None or s.leaf != COUNTER):
            pairs[t.key] = None
        else:
            return pairs, (i, _misfit(source, i, f"the target expects {t.describe()} there"))
    if i < len(source):
        return pairs, (i, _misfit(source, i, "the target has no tensor left for it"))
    return pairs, None


def _misfit(source: Sequence[Entry], i: int, expected: str) -> str:
    if i == len(source):
        return f"the checkpoint ends after {len(source)} tensors, where {expected}"
    return f"{source[i].describe()} (tensor {i + 1} of {len(source)}) does not fit: {expected}"


def _complete(
    pairs: dict[str, str | None], source: Sequence[Entry], target: Sequence[Entry]
) -> Match:
    """Give every key of a tied tensor its source, and list the ties whose sources differ."""
    keys_of: dict[int, list[str]] = {}
    for entry in target:
        keys_of.setdefault(entry.slot, []).append(entry.key)
    slot_of = {entry.key: entry.slot for entry in source}
    ties = []
    for keys in keys_of.values():
        known = [pairs[k] for k in keys if k in pairs]
        for k in keys:
            pairs.setdefault(k, known[0])
        sources = tuple(dict.fromkeys(s for s in (pairs[k] for k in keys) if s is not None))
        if len({slot_of[s] for s in sources}) > 1:
            ties.append((tuple(keys), sources))
    return Match(tuple((t.key, pairs[t.key]) for t in target), tuple(ties))
