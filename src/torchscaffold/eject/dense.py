"""DenseNet's stages as loops: a block called with the concatenation of every output before it
becomes a block that returns its input with its own output concatenated, in a chain.

torchvision's ``_DenseBlock`` keeps a list of features and gives each layer all of them; once
the concatenation is hoisted to the caller (``model._hoist_concats``) a stage of ``k`` layers
reads ``cat(f0)``, ``cat(f0, n1)``, ``cat(f0, n1, n2)``... Concatenation along one dim is
associative, so each of those is the one before it with one more tensor: ``c2 = cat(f0, n1)``,
``c3 = cat(c2, n2)``. Each layer's call and the concatenation after it are then one unit,
``x = cat(x, layer(x))``; where every call of the block's class is such a unit, the
concatenation moves into the class (its ``forward`` returns ``torch.cat([x, new], 1)``, the
DenseNet layer as papers draw it) and the run of units is one stage repeated, each instance's
input width inferred (``in_channels + i * growth``). No tensor changes: ``state_dict`` order and
shapes are the original's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

from torchscaffold.eject.tidy import reads
from torchscaffold.spec.ir import Block, Step


def dense_stages(main: Block, blocks: list[Block]) -> tuple[Block, list[Block]]:
    classes = [main, *blocks]
    classes = [replace(c, steps=_running(c.steps)) for c in classes]
    calls = Counter(s.target for c in classes for s in _all(c) if s.kind == "block")
    found: dict[str, Counter] = {}  # block -> the concatenations' arguments after its units
    for cls in classes:
        for target, args in _units(cls):
            found.setdefault(target, Counter())[args] += 1
    sunk = {
        target: next(iter(args))
        for target, args in found.items()
        if len(args) == 1 and sum(args.values()) == calls[target]
    }
    by_name = {c.name: c for c in classes}
    sunk = {t: a for t, a in sunk.items() if _sinkable(by_name.get(t))}
    if not sunk:
        return main, blocks
    out = []
    for cls in classes:
        # the reads again once the units are merged: a concatenation read twice (by the next
        # layer and the next concatenation) is read once after
        cls = replace(cls, steps=_merge_units(cls.steps, sunk, _reads(cls)))
        cls = replace(cls, steps=_fold(cls.steps, sunk, _reads(cls), _attributes(cls)))
        out.append(_sink(cls, sunk[cls.name]) if cls.name in sunk else cls)
    return out[0], out[1:]


def _sinkable(cls: Block | None) -> bool:
    return (
        cls is not None
        and not cls.residual
        and not cls.after
        and len(cls.inputs) == 1
        and bool(cls.steps)
        and len(cls.outputs or (None,)) == 1
    )


def _all(cls: Block) -> Iterator[Step]:
    def walk(steps: tuple[Step, ...]) -> Iterator[Step]:
        for step in steps:
            yield step
            yield from walk(step.body)

    yield from walk(cls.steps)
    yield from walk(cls.after)


def _reads(cls: Block) -> Counter:
    """How many times each value is read in the class (its outputs once more)."""
    return reads((*cls.steps, *cls.after)) + Counter(cls.outputs or ())


def _out(step: Step) -> str | None:
    outs = step.outputs or ((step.name,) if step.name else ())
    return outs[0] if len(outs) == 1 else None


def _running(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """Each concatenation that starts with everything an earlier one (same dim, same list of
    steps) joined reads that one's output instead."""
    seen: list[tuple[tuple, tuple[str, ...], str]] = []
    out = []
    for step in steps:
        if step.body:
            step = replace(step, body=_running(step.body))
        ins = step.inputs or ()
        if step.kind == "op" and step.target == "concat" and len(ins) >= 2 and not step.when:
            prior = max(
                (
                    (inputs, value)
                    for args, inputs, value in seen
                    if args == step.args and len(inputs) < len(ins) and ins[: len(inputs)] == inputs
                ),
                key=lambda p: len(p[0]),
                default=None,
            )
            if prior is not None:
                step = replace(step, inputs=(prior[1], *ins[len(prior[0]) :]))
            value = _out(step)
            if value:
                seen.append((step.args, ins, value))
        out.append(step)
    return tuple(out)


def _unit(steps: tuple[Step, ...], i: int, reads: Counter | None = None) -> bool:
    """steps[i] a block called once on one value, steps[i + 1] ``cat(that value, its output)``
    (the output read nowhere else, when ``reads`` is given)."""
    if i + 1 >= len(steps):
        return False
    b, c = steps[i], steps[i + 1]
    out = _out(b)
    return (
        b.kind == "block"
        and b.repeat == 1
        and not b.when
        and not b.first
        and len(b.inputs or ()) == 1
        and out is not None
        and c.kind == "op"
        and c.target == "concat"
        and not c.when
        and c.inputs == (b.inputs[0], out)
        and _out(c) is not None
        and (reads is None or reads[out] == 1)
    )


def _units(cls: Block) -> list[tuple[str, tuple]]:
    reads = _reads(cls)
    found = []

    def walk(steps: tuple[Step, ...]) -> None:
        for i, step in enumerate(steps):
            if _unit(steps, i, reads):
                found.append((step.target, steps[i + 1].args))
            walk(step.body)

    walk(cls.steps)
    return found


def _merge_units(steps: tuple[Step, ...], sunk: dict[str, tuple], reads: Counter) -> tuple:
    """A unit's block step outputs what its concatenation did; the concatenation goes."""
    out: list[Step] = []
    i = 0
    while i < len(steps):
        step = steps[i]
        if step.body:
            step = replace(step, body=_merge_units(step.body, sunk, reads))
        if step.kind == "block" and step.target in sunk and _unit(steps, i, reads):
            out.append(replace(step, outputs=(_out(steps[i + 1]),)))
            i += 2
            continue
        out.append(step)
        i += 1
    return tuple(out)


def _attributes(cls: Block) -> set[str]:
    return {s.name for s in _all(cls) if s.name}


def _fold(
    steps: tuple[Step, ...], sunk: dict[str, tuple], reads: Counter, taken: set[str]
) -> tuple:
    """Runs of the sunk blocks in a chain, each value read only by the next, as one stage."""
    out: list[Step] = []
    i = 0
    while i < len(steps):
        step = steps[i]
        if step.body:
            step = replace(step, body=_fold(step.body, sunk, reads, taken))
        j = i + 1
        if step.kind == "block" and step.target in sunk:
            while (
                j < len(steps)
                and steps[j].kind == "block"
                and steps[j].target == step.target
                and steps[j].args == step.args
                and steps[j].repeat == 1
                and not steps[j].when
                and not steps[j].first
                and steps[j].inputs == (_out(steps[j - 1]),)
                and reads[_out(steps[j - 1])] == 1
            ):
                j += 1
        if j - i >= 2:
            name = re.sub(r"[_\d]+$", "", step.name or "")
            name = step.name if not name or name in taken else name
            out.append(replace(step, name=name, repeat=j - i, outputs=steps[j - 1].outputs))
        else:
            out.extend(steps[i:j] if j > i + 1 else [step])
        i = j
    return tuple(out)


def _sink(cls: Block, args: tuple) -> Block:
    """The class returns ``cat(input, what it returned)``."""
    last = (cls.outputs or (_out(cls.steps[-1]),))[0]
    taken = {v for s in _all(cls) for v in (*(s.inputs or ()), *(s.outputs or ()), s.name or "")}
    name, n = "joined", 2
    while name in taken:
        name, n = f"joined{n}", n + 1
    cat = Step("op", "concat", args=args, inputs=(cls.inputs[0], last), outputs=(name,), name=name)
    return replace(cls, steps=(*cls.steps, cat), outputs=(name,))
