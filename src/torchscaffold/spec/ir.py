"""The model description every style renders from: frozen dataclasses, no torch.

Argument values are literals (int, float, bool, str, tuples) or, for integer arguments, the name of
a model or block parameter (``out_features = "num_classes"``) that the generated code keeps as a
variable. Shapes are per sample, without the batch dimension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ArgItems = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Layer:
    """One ``torch.nn`` layer: ``type`` is the class name in the catalog."""

    type: str
    args: ArgItems = ()
    name: str | None = None  # attribute name; derived from the type when None


@dataclass(frozen=True)
class BlockCall:
    """``repeat`` instances of a custom block. ``first`` overrides arguments of the first
    instance only (ResNet stages downsample in their first block)."""

    block: str
    args: ArgItems = ()
    repeat: int = 1
    first: ArgItems = ()
    name: str | None = None  # instance (or, repeated, stage) name; derived from the block when None


@dataclass(frozen=True)
class Group:
    """A named run of layers: a nested ``nn.Sequential`` in the sequential style, a name prefix
    in the flat ones (``features``, ``classifier``)."""

    name: str
    body: tuple[Layer | BlockCall, ...]


Node = Layer | BlockCall | Group


@dataclass(frozen=True)
class Block:
    """A custom ``nn.Module`` class: a body of layers, optionally residual.

    A residual block computes ``after(body(x) + shortcut(x))``; with ``projection`` the shortcut
    becomes a 1x1 convolution (or linear) plus norm whenever the body changes the shape.
    """

    name: str
    body: tuple[Layer | BlockCall, ...]
    params: tuple[tuple[str, int], ...] = ()  # constructor keywords and their defaults
    residual: bool = False
    projection: bool = True
    after: tuple[Layer, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Model:
    name: str
    input_shape: tuple[int, ...]
    body: tuple[Node, ...]
    blocks: tuple[Block, ...] = ()
    # Constructor keywords with defaults, e.g. (("in_channels", 3), ("num_classes", 1000)).
    params: tuple[tuple[str, int], ...] = ()
    # The parameter that is the input's feature dimension (channels, or features for 1-D input);
    # its default must equal that dimension of input_shape.
    input_param: str | None = None
    doc: str = ""

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    def leading_layer(self, node: Node) -> Layer:
        """The layer that first sees ``node``'s input, looking into groups and blocks."""
        while not isinstance(node, Layer):
            node = node.body[0] if isinstance(node, Group) else self.block(node.block).body[0]
        return node
