"""A torch.nn layer's constructor arguments, read back from the instance's attributes.

torch keeps most arguments under their own names (``in_channels``, ``kernel_size``, ``eps``); a
few only as what they made (``bias`` is ``self.bias is not None``). The argument the catalog
infers from the input's shape (``in_channels``, ``num_features``) is left out, so that one block
class serves inputs of any width, as a hand-written one does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchscaffold import catalog
from torchscaffold.catalog.types import REQUIRED

if TYPE_CHECKING:
    from torch import nn

MISSING = object()


def _made(attribute: str) -> Any:
    return lambda m: getattr(m, attribute, None) is not None


def _same_as_embed(attribute: str) -> Any:
    def read(m: nn.Module) -> Any:
        value = getattr(m, attribute)
        return None if value == m.embed_dim else value

    return read


# Arguments torch does not keep under their own name, by layer (all layers: "*").
READERS: dict[str, dict[str, Any]] = {
    "MultiheadAttention": {
        "bias": _made("in_proj_bias"),
        "add_bias_kv": _made("bias_k"),
        "kdim": _same_as_embed("kdim"),
        "vdim": _same_as_embed("vdim"),
    },
    "PReLU": {"init": lambda m: MISSING},  # the weights carry it
}
KINDS_SIZE = ("size", "padding", "opt_size")


def layer_args(module: nn.Module, type_name: str) -> tuple[tuple[str, Any], ...] | str:
    """The arguments that differ from the catalog's defaults, or a reason they cannot be read."""
    import torch

    entry = catalog.layer(type_name)
    readers = READERS.get(type_name, {})
    out = []
    for arg in entry.args:
        if arg.name == entry.inferred and not _keeps_inferred(module, type_name):
            continue
        if arg.name in readers:
            value = readers[arg.name](module)
        else:
            value = getattr(module, arg.name, MISSING)
            if isinstance(value, torch.Tensor) or (value is None and arg.kind == "bool"):
                value = value is not None  # bias: a tensor or None
        if value is MISSING:
            if arg.required:
                return f"its {arg.name} cannot be read from the instance"
            continue
        value = _plain(value, arg.kind)
        if arg.default is not REQUIRED and value == _plain(arg.default, arg.kind):
            continue
        if (
            arg.name == "stride"
            and arg.kind == "opt_size"
            and value == _plain(getattr(module, "kernel_size", None), arg.kind)
        ):
            continue  # a pooling layer's stride defaults to its kernel
        out.append((arg.name, value))
    return tuple(out)


def _keeps_inferred(module: nn.Module, type_name: str) -> bool:
    """LayerNorm over more than the last dimension: the inference would take only the last."""
    return type_name in ("LayerNorm", "RMSNorm") and len(module.normalized_shape) > 1


def _plain(value: Any, kind: str) -> Any:
    """Tuples for lists, one number for a tuple of equal sizes (``(3, 3)`` -> 3)."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple) and kind in KINDS_SIZE and value and len(set(value)) == 1:
        return value[0]
    return value
