"""A class's forward as a graph: the names its steps get, and the order they run in.

A step without a name is named after what it calls (``conv1``, ``conv2``, ``bn1``, ``add``), and
its output after itself; a step without inputs reads the previous step's first output. Steps
then run in the order they are written, except where a step reads a value written further down:
the graph is sorted (stably), and a value that nothing computes, or a cycle, is an error.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

from torchscaffold import catalog, names
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.names import snake_case
from torchscaffold.spec.ir import Step

# Attribute names the templates use for containers, per kind of class: a step named without
# being given a name avoids them; a step given one takes it, and the container gives way
# (generate.model.container picks another name).
MODEL_CONTAINERS = frozenset({"layers"})
BLOCK_CONTAINERS = frozenset({"body", "after"})
DISCARD = "_"


def base_name(step: Step) -> str:
    if step.kind == "layer":
        return catalog.layer(step.target).base_name
    if step.kind == "block":
        return snake_case(step.target)
    if step.kind == "op":
        return step.target
    return step.name or "group"


def scope_names(
    steps: tuple[Step, ...], where: str, reserved: frozenset[str] = frozenset()
) -> list[str]:
    """The name of each step: the user's, else conv1, conv2, bn1, ... (bare if single)."""
    counts = Counter(base_name(s) for s in steps if s.name is None)
    seen: Counter[str] = Counter()
    # A derived name never takes one given (or derived) elsewhere: blocks InvertedResidual and
    # InvertedResidual4 would both be inverted_residual4.
    used = {value_of(s.name) for s in steps if s.name is not None}
    result = []
    for step in steps:
        if step.name is not None:
            result.append(step.name)
            continue
        b = base_name(step)
        seen[b] += 1
        # A bare name that is an nn.Module method (a block called Double: double) is numbered.
        bare_ok = counts[b] == 1 and b not in names.NN_MODULE_ATTRS and b not in reserved
        name = b if bare_ok and b not in used else f"{b}{seen[b]}"
        while name in used:
            seen[b] += 1
            name = f"{b}{seen[b]}"
        used.add(name)
        result.append(name)
    for name, n in Counter(value_of(r) for r in result).items():
        if n > 1:
            raise TorchgenError(f"{where}: the name {name!r} is used twice; give the steps names")
    spaces = {r.rsplit(".", 1)[0] for r in result if "." in r}
    for name in result:
        if name in spaces:
            raise TorchgenError(f"{where}: {name!r} names both a step and a namespace")
    return result


def value_of(step_name: str) -> str:
    """The value a step's output is named after it: ``transformer.wte`` gives ``transformer_wte``."""
    return step_name.replace(".", "_")


@dataclass(frozen=True)
class Wired:
    """A step with its name, and the values it reads and writes."""

    index: int  # where it is written
    step: Step
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def wire(
    steps: tuple[Step, ...], names: list[str], inputs: tuple[str, ...], where: str
) -> list[Wired]:
    """Each step's inputs and outputs, explicit or implied by the order they are written in."""
    wired = []
    previous: tuple[str, ...] = inputs[:1]
    for i, (step, name) in enumerate(zip(steps, names)):
        ins = step.inputs if step.inputs is not None else previous
        outs = step.outputs if step.outputs is not None else (value_of(name),)
        if not ins and step.kind != "op":
            raise TorchgenError(f"{where}, step {name!r}: it reads no value")
        wired.append(Wired(i, step, name, tuple(ins), tuple(outs)))
        firsts = [o for o in outs if o != DISCARD]
        previous = tuple(firsts[:1]) or previous
    return wired


def reads(w: Wired) -> tuple[str, ...]:
    """The values a step needs: its inputs, and what stands for its output where it is absent
    (``otherwise``)."""
    return w.inputs if w.step.otherwise is None else (*w.inputs, w.step.otherwise)


def order(wired: list[Wired], inputs: tuple[str, ...], where: str) -> list[Wired]:
    """The steps in an order where every value is computed before it is read: as written where
    possible (a stable topological sort). Errors name the step and the value."""
    producer: dict[str, Wired] = {}
    for w in wired:
        for out in w.outputs:
            if out == DISCARD:
                continue
            if out in inputs:
                raise TorchgenError(
                    f"{where}, step {w.name!r}: {out!r} is an input of the class; values are "
                    f"named once (call it {out}2)"
                )
            if out in producer:
                raise TorchgenError(
                    f"{where}: the value {out!r} is computed by both {producer[out].name!r} and "
                    f"{w.name!r}; values are named once (call the second {out}2)"
                )
            producer[out] = w
    known = set(producer) | set(inputs)
    for w in wired:
        for value in reads(w):
            if value not in known:
                hint = did_you_mean(value, sorted(known)) or (
                    f"; the values are {', '.join(sorted(known))}"
                )
                raise TorchgenError(f"{where}, step {w.name!r}: no step computes {value!r}{hint}")
    waiting = {w.index: {producer[v].index for v in reads(w) if v in producer} for w in wired}
    readers: dict[int, list[int]] = {w.index: [] for w in wired}
    for index, deps in waiting.items():
        for dep in deps:
            readers[dep].append(index)
    ready = [i for i, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    done: list[Wired] = []
    by_index = {w.index: w for w in wired}
    while ready:
        i = heapq.heappop(ready)
        done.append(by_index[i])
        for r in readers[i]:
            waiting[r].discard(i)
            if not waiting[r]:
                heapq.heappush(ready, r)
    if len(done) < len(wired):
        raise TorchgenError(f"{where}: {_cycle(waiting, by_index, producer)}")
    return done


def _cycle(waiting: dict[int, set[int]], by_index: dict[int, Wired], producer: dict) -> str:
    stuck = {i for i, deps in waiting.items() if deps}
    start = min(stuck)
    path = [start]
    while True:
        following = min(waiting[path[-1]] & stuck)
        if following in path:
            loop = path[path.index(following) :] + [following]
            names = [by_index[i].name for i in loop]
            return "the steps form a cycle: " + " -> ".join(reversed(names))
        path.append(following)
