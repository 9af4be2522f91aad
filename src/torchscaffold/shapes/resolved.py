"""What shape inference hands to rendering: the description resolved, style-free.

Every argument is final (inferred sizes filled in, in-place switched off where it would be
wrong), every value has its shape, every class its signature. Fields that hold one instance's
numbers are left out of equality: two instances of a block must agree on the code, not on the
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchscaffold.catalog.types import LayerType, OpType
from torchscaffold.spec.expr import Expr, Lit

Shape = tuple[int, ...]
# An argument's value: an Expr (sizes, parameters), a literal (float, bool, str, None) or a tuple
# of those.
ArgValue = Any


@dataclass(frozen=True)
class RInstance:
    """One construction of a block: ``Block(*positional, **keywords)`` in the caller's terms."""

    block: str
    positional: tuple[Expr, ...]  # the block's input sizes (in_channels, ...)
    keywords: tuple[tuple[str, ArgValue], ...]
    in_shape: Shape = field(compare=False, default=())
    out_shape: Shape = field(compare=False, default=())
    params: int = field(compare=False, default=0)


@dataclass(frozen=True)
class RStep:
    """One resolved statement of a forward.

    ``kind``: ``layer``, ``op``, ``block`` (``instances``, several for a repeated stage), ``group``
    (a named chain of ``members``), or ``sequence`` (an ``nn.Sequential`` of ``members`` that every
    style writes as one: a residual block's projection).
    """

    kind: str
    name: str  # the attribute (layers, blocks, groups) or, for ops, the value's default name
    entry: LayerType | OpType | None = None
    block: str | None = None
    # Every argument it has, as values (a layer's given and inferred ones, an op's given ones);
    # render.code.written/op_args choose what a call writes.
    args: tuple[tuple[str, ArgValue], ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # "_" where an output is discarded
    call: tuple[tuple[str, ArgValue], ...] = ()  # a layer's forward keywords
    call_values: tuple[str, ...] = ()  # which of those name values (masks) rather than literals
    instances: tuple[RInstance, ...] = ()
    # A stage (a repeated block): its number of instances as code writes it (a number or an
    # expression of the parameters), and, where they follow one expression of the loop index
    # (shapes.stage.INDEX), the instance every one from ``loop_start`` on is.
    count: Expr | None = None
    loop: RInstance | None = None
    loop_start: int = 0
    instance_names: str | None = None  # "encoder_layer_{i}": the stage's members' names
    members: tuple[RStep, ...] = ()
    when: Expr | None = None
    otherwise: str | None = None
    functional: bool = False  # a parameter-free layer the explicit style calls as a function
    named: bool = False  # its outputs were named in the description (kept as variable names)
    given_name: bool = False  # its name was given (not derived from what it calls)
    reads: tuple[str, ...] = ()  # values its arguments read the size of (x.size(0))
    label: str | None = None  # the chain it belongs to (a residual block's "body", "after")
    # One instance's numbers: per-sample output shapes (batch left out), parameters.
    out_shapes: tuple[Shape, ...] = field(compare=False, default=())
    # The same outputs whole, the batch where it sits (the nominal one, or a size in its place:
    # a block's batch times its windows): the layout check follows strides on them.
    full_shapes: tuple[Shape, ...] = field(compare=False, default=())
    params: int = field(compare=False, default=0)

    @property
    def owns_module(self) -> bool:
        return self.kind in ("layer", "block", "group", "sequence")

    @property
    def repeat(self) -> int:
        return len(self.instances)

    @property
    def stage(self) -> bool:
        """A repeated block: several instances, or as many as a parameter says."""
        return self.kind == "block" and (
            self.repeat > 1 or (self.count is not None and not isinstance(self.count, Lit))
        )

    @property
    def looped(self) -> bool:
        """Written as a loop: the depth is a parameter, or the loop builds two or more."""
        if not self.stage or self.loop is None:
            return False
        return not isinstance(self.count, Lit) or self.repeat - self.loop_start >= 2


@dataclass(frozen=True)
class RTensor:
    name: str
    shape: tuple[Expr, ...]
    init: str | float  # a name (zeros, ones, normal, tril) or a constant
    std: float
    buffer: bool
    persistent: bool
    numel: int = field(compare=False, default=0)
    dtype: str = "float32"


@dataclass(frozen=True)
class RClass:
    """A class to generate: the model's own, or a block's (the same for all its instances)."""

    name: str
    doc: str
    signature: tuple[tuple[str, Any], ...]  # (name, default); REQUIRED_PARAM for input sizes
    auto: tuple[tuple[str, str, int], ...]  # input-size parameters: (name, input, axis)
    lets: tuple[tuple[str, Expr], ...]  # computed in __init__, in order
    stored: tuple[str, ...]  # parameters and lets forward reads: self.name = name
    tensors: tuple[RTensor, ...]
    steps: tuple[RStep, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    ties: tuple[tuple[str, str], ...] = ()
    residual: bool = False
    residual_norm: str | None = None  # the residual branch's last norm (zero-init target)
    # Conditions on the parameters under which the code is not the description's (a rule
    # selected on a parameter, see catalog.symbolic): __init__ refuses them.
    refuse: tuple[Expr, ...] = ()
    # Per input and output, the dims as the docstring shows them: "N", "in_channels", "...".
    in_doc: tuple[tuple[str, ...], ...] = field(compare=False, default=())
    out_doc: tuple[tuple[str, ...], ...] = field(compare=False, default=())
    output_aliases_input: bool = field(compare=False, default=False)


REQUIRED_PARAM = None  # the default of a signature entry that has none (an input size)


@dataclass(frozen=True)
class Resolved:
    """One resolved instance of a class: its code, its outputs (in its own names), its
    parameter count, and how to read its names in the caller's terms."""

    cls: RClass
    outputs: tuple[Any, ...]  # shapes.values.Val
    params: int
    lets: tuple[tuple[str, Expr], ...]
    placeholders: tuple[tuple[str, int, int], ...]  # (input, axis, value) of spatial sizes
    sizes: tuple[tuple[str, str, int], ...]  # every input-size name bound: (name, input, axis)


@dataclass(frozen=True)
class RInput:
    name: str
    shape: Shape  # per sample, variable dimensions at their spec length
    dtype: str
    vocab: int | None  # for integer ids: the smallest embedding table they index
    varying: tuple[str | None, ...]  # per dimension: the name of a variable one, else None


@dataclass(frozen=True)
class SummaryRow:
    name: str
    type: str
    out_shape: Shape
    params: int


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    doc: str
    inputs: tuple[RInput, ...]
    output_shapes: tuple[Shape, ...]
    main: RClass
    blocks: tuple[RClass, ...]  # dependencies first
    total_params: int
    rows: tuple[SummaryRow, ...]
    lengths: tuple[tuple[str, int], ...] = ()

    # The single-input, single-output view most callers want.
    @property
    def input_shape(self) -> Shape:
        return self.inputs[0].shape

    @property
    def output_shape(self) -> Shape:
        return self.output_shapes[0]

    @property
    def integer_input(self) -> int | None:
        return self.inputs[0].vocab if self.inputs[0].dtype == "int64" else None

    @property
    def params(self) -> tuple[tuple[str, Any], ...]:
        return tuple((n, v) for n, v in self.main.signature if v is not REQUIRED_PARAM)

    @property
    def classes(self) -> tuple[RClass, ...]:
        return (*self.blocks, self.main)
