"""The model description every style renders from: frozen dataclasses, no torch.

A class (the model, or a custom block) is its constructor parameters and a forward: a list of
steps over named values. A step calls a layer, a block or an op on some values and names what it
returns. A chain needs no names at all: a step without ``inputs`` reads the previous step's
output, and a step's output is named after the step (``conv1``), so today's lists of layers are
graphs with one path.

Argument values are literals (int, float, bool, str, tuples) or ``Expr`` trees over the class's
parameters (``"channels * 4"``). Shapes of inputs are per sample, without the batch dimension; a
string in one names a dimension that varies (a sequence length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torchscaffold.spec.expr import Expr

ArgItems = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Step:
    """One statement of a forward.

    ``kind``: ``layer`` (``target`` a catalog layer), ``op`` (a catalog op), ``block`` (a
    custom block, ``repeat`` times in a chain; ``first`` overrides arguments of the first), or
    ``group`` (a named chain of ``body`` steps: an ``nn.Sequential`` in the sequential style,
    a name prefix in the others).
    """

    kind: str
    target: str = ""
    args: ArgItems = ()
    inputs: tuple[str, ...] | None = None  # None: the previous step's output (or the input)
    outputs: tuple[str, ...] | None = None  # None: one value, named like the step
    name: str | None = None  # module attribute; derived from the target when None
    repeat: int | Expr = 1  # a number, or an expression of the parameters (a depth)
    first: ArgItems = ()
    instance_names: str | None = None  # a stage's member names, "encoder_layer_{i}"; else 0, 1..
    call: ArgItems = ()  # keyword arguments of the layer's forward (masks, flags)
    when: str | None = None  # a boolean parameter or ``let``: the step exists only if true
    otherwise: str | None = None  # what its output is when it does not (default: its input)
    body: tuple[Step, ...] = ()  # a group's steps


@dataclass(frozen=True)
class Tensor:
    """A learned tensor (``nn.Parameter``) or a buffer of the class: a class token, a position
    embedding, a causal mask. ``init`` is how it starts: zeros, ones, normal (std 0.02, or
    ``std``), tril (ones on and below the diagonal: a causal mask), or a number (every entry
    that constant: a layer scale's 1e-6)."""

    name: str
    shape: tuple[Any, ...]  # ints or Exprs over the parameters
    init: str | float = "zeros"
    std: float = 0.02
    buffer: bool = False
    persistent: bool = True
    dtype: str = "float32"  # a buffer's: int64 for an index (Swin's relative_position_index)


@dataclass(frozen=True)
class Block:
    """A class: the model's own, or a custom block (``nn.Module`` subclasses both).

    ``residual``: forward is ``after(steps(x) + shortcut(x))``, the shortcut projecting (a 1x1
    convolution or a linear, plus norm) where the steps change the shape, unless
    ``projection`` is false.
    """

    name: str
    steps: tuple[Step, ...]
    inputs: tuple[str, ...] = ("x",)
    outputs: tuple[str, ...] | None = None  # None: the last step's output
    params: tuple[tuple[str, Any], ...] = ()  # constructor keywords and their defaults
    lets: tuple[tuple[str, Expr], ...] = ()  # values computed from the parameters
    tensors: tuple[Tensor, ...] = ()
    ties: tuple[tuple[str, str], ...] = ()  # (module path, module path): the same weight
    residual: bool = False
    projection: bool = True
    after: tuple[Step, ...] = ()
    shortcut: str = "shortcut"  # the projection's attribute (torchvision calls it downsample)
    doc: str = ""


@dataclass(frozen=True)
class Input:
    """One input of the model, per sample: ``("seq",)`` with ``dtype = "int64"`` is a batch of
    token-id sequences of varying length."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"  # float32 | int64 | bool


@dataclass(frozen=True)
class Model:
    name: str
    inputs: tuple[Input, ...]
    main: Block  # the model's own class (its name is the model's)
    blocks: tuple[Block, ...] = ()
    # A length for each variable input dimension: what the summary, checks and demo use.
    lengths: tuple[tuple[str, int], ...] = ()
    # The parameter that is the first input's feature size (``in_channels``/``in_features``),
    # set by spec.options.finalize; its default equals that dimension of the input.
    input_param: str | None = None
    doc: str = ""

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def params(self) -> tuple[tuple[str, Any], ...]:
        return self.main.params

    @property
    def input_shape(self) -> tuple[int | str, ...]:
        """The first input's per-sample shape (most models have one input)."""
        return self.inputs[0].shape
