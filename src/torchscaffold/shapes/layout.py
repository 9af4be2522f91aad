"""Memory layout: which values ``view`` may reshape, decided before any code is written.

``x.transpose(1, 2).view(...)`` passes every shape rule and dies at the first forward (``view
size is not compatible with input tensor's size and stride``): ``view`` never copies, so it can
only merge dimensions that lie together in memory. The strides of each value are followed here
at the summary's sizes, as torch computes them, through the ops that make views (transpose,
permute, select, narrow, split, chunk, expand, squeeze, unsqueeze, view, reshape, flatten,
unflatten); a ``view`` that torch would refuse is refused, naming the step and the fix
(``reshape``, or ``contiguous`` first).

Where strides cannot be followed (an op on a non-contiguous value: torch keeps the input's
layout, or not), the value's layout is unknown and a ``view`` of it may only split dimensions,
which works whatever the strides; so after a parameter-free layer (``relu`` keeps its input's
layout). Layers with weights, blocks and ops on contiguous values give contiguous values, and so
do the class's inputs and tensors: a convolution of a permuted value may in fact answer in
channels-last order, which this does not follow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from torchscaffold.catalog.types import LayerType, OpType
from torchscaffold.errors import TorchgenError
from torchscaffold.shapes.resolved import ResolvedModel, RStep
from torchscaffold.shapes.values import NOMINAL_BATCH

# The batch at which strides are followed, the one the values were resolved at (1 would let
# any merge with it pass).
BATCH = NOMINAL_BATCH
Strides = tuple[int, ...]
# A value's layout: its strides (contiguous or not), CONTIGUOUS where its shape is unknown but
# its layout is, or None where neither is known.
CONTIGUOUS: Strides = ()
Layout = Strides | None

# The ops whose output is a view of their input, by how the strides follow.
SAME_STRIDES = ("narrow", "split", "chunk")  # sizes shrink, strides stay
RESHAPES = ("view", "reshape", "flatten", "unflatten")
COPIES_IF_NEEDED = ("reshape", "flatten")  # a view where possible, else a contiguous copy


def check_views(model: ResolvedModel) -> None:
    """Raise a one-line error for the first ``view`` that torch would refuse."""
    inputs = {i.name: (BATCH, *_sizes(i.shape)) for i in model.inputs}
    for cls in (*model.blocks, model.main):
        shapes = dict(inputs) if cls is model.main else {}
        layouts: dict[str, Layout] = {i: _contiguous(shapes.get(i)) for i in cls.inputs}
        layouts |= {t.name: CONTIGUOUS for t in cls.tensors}
        for step in cls.steps:
            _step(step, layouts, shapes, cls.name)


def _sizes(shape: Iterable[object]) -> tuple[int, ...]:
    return tuple(s if isinstance(s, int) else 1 for s in shape)


def _contiguous(shape: tuple[int, ...] | None) -> Strides:
    if shape is None:
        return CONTIGUOUS
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _step(
    step: RStep, layouts: dict[str, Layout], shapes: dict[str, tuple[int, ...]], where: str
) -> None:
    outs = list(step.full_shapes) or [(BATCH, *shape) for shape in step.out_shapes]
    ordered = all(_is_contiguous(layouts.get(v, CONTIGUOUS), shapes.get(v)) for v in step.inputs)
    if isinstance(step.entry, OpType) and step.inputs:
        first = step.inputs[0]
        results = _op(step, layouts.get(first, CONTIGUOUS), shapes.get(first), outs, ordered, where)
    elif isinstance(step.entry, LayerType) and step.entry.functional and not ordered:
        results = [None] * len(outs)  # a parameter-free layer (relu) may keep the layout
    else:
        results = [CONTIGUOUS] * len(outs)  # a layer with weights, a block, a group
    if step.when is not None:  # absent, its output is another value, of its own layout
        absent = layouts.get(step.otherwise or (step.inputs[0] if step.inputs else ""), None)
        results = [r if r == absent else None for r in results]
    for k, value in enumerate(step.outputs):
        if k < len(outs):
            shapes[value] = outs[k]
        layouts[value] = results[k] if k < len(results) else None


def _is_contiguous(layout: Layout, shape: tuple[int, ...] | None) -> bool:
    if layout is None:
        return False
    return layout == CONTIGUOUS or (shape is not None and layout == _contiguous(shape))


def _op(
    step: RStep,
    layout: Layout,
    shape: tuple[int, ...] | None,
    outs: list[tuple[int, ...]],
    ordered: bool,
    where: str,
) -> list[Layout]:
    """The layouts of an op's outputs (``ordered``: all its inputs are contiguous)."""
    entry = step.entry
    assert isinstance(entry, OpType)
    name, args = entry.name, dict(step.args)
    if (
        name in ("contiguous", "arange")
        or entry.has("fresh")
        or (ordered and not entry.has("view"))
    ):
        return [CONTIGUOUS] * len(outs)
    if not entry.has("view"):
        return [None] * len(outs)  # torch may keep a non-contiguous input's layout, or not
    if layout == CONTIGUOUS and shape is not None:
        layout = _contiguous(shape)
    if layout is None or shape is None or layout == CONTIGUOUS:
        # Strides unknown: a view may still split dimensions; the layout stays unknown (or, of
        # a contiguous value of unknown shape, becomes so after a view-making op).
        if name == "view" and layout is None and shape is not None and not _splits(shape, outs[0]):
            _refuse(step, where)
        contiguous = layout == CONTIGUOUS and name in (*RESHAPES, "squeeze", "unsqueeze")
        return [CONTIGUOUS if contiguous else None] * len(outs)
    if name in RESHAPES:
        found = _view_strides(shape, layout, outs[0])
        if found is None:
            if name in COPIES_IF_NEEDED:
                return [CONTIGUOUS]
            _refuse(step, where)
        return [found]
    if name in SAME_STRIDES:
        return [layout] * len(outs)
    return [_moved(name, args, shape, layout, outs[0])]


def _moved(
    name: str, args: dict, shape: tuple[int, ...], strides: Strides, out: tuple[int, ...]
) -> Layout:
    """The strides after transpose, permute, select, squeeze, unsqueeze or expand."""
    rank = len(shape)

    def dim(d: object) -> int:
        return int(d) % rank if isinstance(d, int) else -1

    if name == "transpose":
        a, b = dim(args.get("dim0")), dim(args.get("dim1"))
        moved = list(strides)
        moved[a], moved[b] = moved[b], moved[a]
        return tuple(moved)
    if name == "permute":
        dims = args.get("dims", ())
        return tuple(strides[dim(d)] for d in dims) if len(dims) == rank else None
    if name == "select":
        d = dim(args.get("dim"))
        return strides[:d] + strides[d + 1 :]
    if name == "squeeze":
        d = dim(args.get("dim"))
        return strides[:d] + strides[d + 1 :] if len(out) < rank else strides
    if name == "unsqueeze":
        d = args.get("dim")
        d = int(d) % (rank + 1) if isinstance(d, int) else rank
        inner = strides[d] * shape[d] if d < rank else 1
        return strides[:d] + (inner,) + strides[d:]
    if name == "expand":
        lead = len(out) - rank
        return (0,) * lead + tuple(
            0 if size == 1 and out[lead + i] != 1 else stride
            for i, (size, stride) in enumerate(zip(shape, strides))
        )
    return None


def _view_strides(old: tuple[int, ...], strides: Strides, new: tuple[int, ...]) -> Layout:
    """torch's computeStride: the strides of ``view(new)``, or None where it needs a copy."""
    if math.prod(old) != math.prod(new):
        return None
    if not old or math.prod(old) == 0:
        return _contiguous(new)
    out = [0] * len(new)
    view_d = len(new) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(old) - 1, -1, -1):
        tensor_numel *= old[d]
        if d == 0 or (old[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * chunk_base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = strides[d - 1]
                tensor_numel = view_numel = 1
    return tuple(out) if view_d == -1 else None


def _splits(old: tuple[int, ...], new: tuple[int, ...]) -> bool:
    """Whether ``new`` only splits dimensions of ``old`` (and adds or drops ones): a view that
    works whatever the strides."""
    old_sizes = [s for s in old if s != 1]
    new_sizes = [s for s in new if s != 1]
    k = 0
    for size in old_sizes:
        product = 1
        while product < size and k < len(new_sizes):
            product *= new_sizes[k]
            k += 1
        if product != size:
            return False
    return k == len(new_sizes)


def _refuse(step: RStep, where: str) -> None:
    raise TorchgenError(
        f"{where}, step {step.name!r} (view): its input is not laid out in order in memory (a "
        "transpose, permute or slice before it), and view cannot merge its dimensions; use "
        'op = "reshape" (it copies where needed), or op = "contiguous" first'
    )
