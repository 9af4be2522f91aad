"""Readable names for the values of a lifted forward.

torch.fx names a node after what it calls and numbers the repeats (``layer1_1`` for the output
of ``self.layer1``, ``relu_1``, ``getitem_3``): unique, but not what a person writes. A value
takes its step's name where that is free (a group's output is called like the group,
``layer1``), else the fx name without its number; otherwise it keeps the fx name. Only local
names change: module attributes, and so ``state_dict`` keys, stay the original's.
"""

from __future__ import annotations

import builtins
import itertools
import keyword
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass, replace
from typing import Any

from torchscaffold import names
from torchscaffold.shapes.scope import DISCARD
from torchscaffold.spec.expr import Expr, Size
from torchscaffold.spec.ir import Block, Step

_NUMBERED = re.compile(r"^(.*?)(?:_\d+)+$")


def reads(steps: Iterable[Step]) -> Counter:
    """How many times ``steps`` (and their groups' bodies) read each value: as inputs, as
    ``otherwise``, as a layer's keyword (a mask), or through a size in an argument."""
    count: Counter = Counter()
    todo: list[Any] = list(steps)
    while todo:
        item = todo.pop()
        if isinstance(item, Step):
            count.update(item.inputs or ())
            count.update(v for v in (item.otherwise,) if v)
            count.update(v for _, v in item.call if isinstance(v, str))
            todo += [*item.body, *(v for _, v in (*item.args, *item.first, *item.call))]
        elif isinstance(item, tuple):
            todo += item
        elif isinstance(item, Expr):
            count.update(item.values())
    return count


def tidy_values(block: Block) -> Block:
    """``block`` with its forward's values renamed (see the module docstring)."""
    values = [v for s in block.steps for v in (s.outputs or ())]
    taken = set(values) | set(block.inputs) | _names_of_the_class(block)
    mapping: dict[str, str] = {}
    read = {v for s in block.steps for v in (*(s.inputs or ()), s.otherwise) if v}
    read |= set(block.outputs or (block.steps[-1].outputs or () if block.steps else ()))
    for step in block.steps:
        for value in step.outputs or ():
            if value == DISCARD and value not in read:
                continue  # an output left unread (an attention's weights), not a value
            for candidate in _candidates(step, value):
                if candidate == value and _usable(value):
                    break
                if candidate not in taken and _usable(candidate):
                    mapping[value] = candidate
                    taken.discard(value)
                    taken.add(candidate)
                    break
    if not mapping:
        return block
    outputs = None if block.outputs is None else tuple(mapping.get(v, v) for v in block.outputs)
    return replace(
        block,
        steps=tuple(renamed(s, mapping) for s in block.steps),
        outputs=outputs,
    )


def _candidates(step: Step, value: str) -> Iterator[str]:
    out = []
    if step.kind == "group" and step.name and len(step.outputs or ()) == 1:
        out.append(step.name)
    match = _NUMBERED.match(value)
    if match and match.group(1):
        out.append(match.group(1))
    out.append(value)
    # Where fx's own name is none a person can use (``self``, ``_``, ``_0`` after a module
    # named so): the step's name (a writable attribute), then numbered forms of it.
    base = (step.name or "").replace(".", "_") or "out"
    yield from out
    yield base
    yield from (f"{base}_{n}" for n in itertools.count(1))


def _usable(name: str) -> bool:
    return (
        name.isidentifier()
        and not name.startswith("_")
        and not keyword.iskeyword(name)
        and not hasattr(builtins, name)
        and name not in names.GENERATED_LOCALS
        and name not in names.VALUE_LOOPS
        and name not in names.RESERVED_CLASS_NAMES
    )


def _names_of_the_class(block: Block) -> set[str]:
    """Names a value must not take: the constructor's parameters and lets, the tensors."""
    return (
        {k for k, _ in block.params} | {k for k, _ in block.lets} | {t.name for t in block.tensors}
    )


def renamed(step: Step, mapping: dict[str, str]) -> Step:
    def name(v: str | None) -> str | None:
        return None if v is None else mapping.get(v, v)

    def names_of(vs: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if vs is None else tuple(mapping.get(v, v) for v in vs)

    return replace(
        step,
        inputs=names_of(step.inputs),
        outputs=names_of(step.outputs),
        otherwise=name(step.otherwise),
        args=tuple((k, _value(v, mapping)) for k, v in step.args),
        first=tuple((k, _value(v, mapping)) for k, v in step.first),
        # A layer's forward keyword names a value (a mask) or is a flag.
        call=tuple(
            (k, mapping.get(v, v) if isinstance(v, str) else _value(v, mapping))
            for k, v in step.call
        ),
        body=tuple(renamed(s, mapping) for s in step.body),
    )


def _value(v: Any, mapping: dict[str, str]) -> Any:
    """An argument with the values its expressions read (``x.size(1)``) renamed."""
    if isinstance(v, tuple):
        return tuple(_value(item, mapping) for item in v)
    if isinstance(v, Size) and v.value is not None:
        return replace(v, value=mapping.get(v.value, v.value))
    if isinstance(v, Expr) and is_dataclass(v):
        return replace(v, **{f.name: _value(getattr(v, f.name), mapping) for f in fields(v)})
    return v
