"""Reading a checkpoint without running it, and finding its ``state_dict``.

``read`` is ``torch.load(weights_only=True)`` (or safetensors): tensors and plain values only, so
a file that would run code when unpickled is refused, never executed. ``unwrap`` finds the
weights in what was read: a bare ``state_dict``, or one under ``model`` / ``state_dict`` (a
training checkpoint: a project's of ``torchgen new``, nanoGPT's, Lightning's, timm's), with the
``module.`` prefix of DataParallel/DDP and the ``_orig_mod.`` of ``torch.compile`` taken off.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchscaffold import paths
from torchscaffold.errors import TorchgenError, first_line
from torchscaffold.weights.match import Entry, Match

if TYPE_CHECKING:
    import torch

# Where training checkpoints keep the model's weights, in the order they are looked for:
# ours and nanoGPT's ("model"), Lightning's and timm's ("state_dict"), PyTorch's tutorial's.
WRAPPERS = ("model", "state_dict", "model_state_dict")
# Wrapped in wrapped in...: a few levels are real; a pickle can also hold a dict inside itself.
MAX_DEPTH = 4
# A leading ``module.`` on every key: DataParallel / DistributedDataParallel.
PARALLEL = "module."
# A ``_orig_mod`` component anywhere: torch.compile of the model or of a submodule.
COMPILED = "_orig_mod"


@dataclass(frozen=True)
class Weights:
    """A checkpoint's ``state_dict`` and how it was found."""

    state: dict[str, torch.Tensor]
    within: tuple[str, ...] = ()  # the wrapper keys followed: ("model",)
    left: tuple[str, ...] = ()  # what the wrappers also held (optimizer, epoch...), not kept
    stripped: tuple[str, ...] = ()  # prefixes taken off the keys: ("module.",)
    ordered_by: str | None = None  # the class whose order a safetensors file was put in


def read(path: Path) -> Any:
    """What ``path`` holds, loaded with ``weights_only=True``; each failure one line."""
    found = paths.kind(path)
    if found is None:
        raise TorchgenError(f"{path}: no such checkpoint")
    if found != "file":
        raise TorchgenError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise TorchgenError(f"{path}: empty file, not a checkpoint")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on old formats
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        imported = re.search(r"GLOBAL (\S+)", str(exc))
        if imported:
            raise TorchgenError(
                f"{path}: refused, not loaded: it would import {imported.group(1)} (only "
                "tensors and plain values load, weights_only=True; save model.state_dict())"
            ) from None
        raise TorchgenError(
            f"{path}: corrupt or not a torch checkpoint (refused by the weights-only "
            "unpickler: nothing in it was run)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a truncated zip, a stray pickle opcode...
        raise TorchgenError(f"{path}: truncated or corrupt ({first_line(exc)})") from None


def _read_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise TorchgenError(
            f"{path}: reading .safetensors needs the safetensors package "
            "(pip install safetensors)"
        ) from None
    try:
        return load_file(path, device="cpu")
    except Exception as exc:  # noqa: BLE001 - SafetensorError and its relatives
        raise TorchgenError(
            f"{path}: not a readable safetensors file ({first_line(exc)})"
        ) from None


def unwrap(obj: Any, path: Path) -> Weights:
    """The ``state_dict`` in what ``read`` returned, with its keys' prefixes stripped."""
    import torch

    within: list[str] = []
    left: tuple[str, ...] = ()
    for _ in range(MAX_DEPTH):
        if not isinstance(obj, Mapping):
            raise TorchgenError(f"{path}: not a state_dict but a {type(obj).__name__}")
        if not obj:
            raise TorchgenError(f"{path}: an empty dict, no weights in it")
        odd = next((k for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
        if odd is None:
            break
        wrapper = next((w for w in WRAPPERS if isinstance(obj.get(w), Mapping)), None)
        if wrapper is None:
            raise TorchgenError(
                f"{path}: not a state_dict: {odd!r} holds a {type(obj[odd]).__name__}, and "
                f"there is no {' or '.join(map(repr, WRAPPERS))} entry of weights"
            )
        within.append(wrapper)
        left = tuple(str(k) for k in obj if k != wrapper)
        obj = obj[wrapper]
    else:
        raise TorchgenError(f"{path}: no state_dict within {MAX_DEPTH} levels of wrapping")
    bad = next((k for k in obj if not isinstance(k, str)), None)
    if bad is not None:
        raise TorchgenError(f"{path}: not a state_dict: the key {bad!r} is not a string")
    for key, tensor in obj.items():
        _has_data(tensor, key, path)
    state, stripped = strip_prefixes(dict(obj))
    if len(state) != len(obj):
        prefixes = " and ".join(map(repr, stripped))
        raise TorchgenError(f"{path}: keys collide without the prefix {prefixes}")
    return Weights(state, tuple(within), left, stripped)


def _has_data(tensor: torch.Tensor, key: str, path: Path) -> None:
    """A dense tensor with its values: a meta tensor has none (the file written would hold no
    weights), and a sparse, quantized or nested one is not what a layer's state holds."""
    import torch

    if tensor.is_meta:
        raise TorchgenError(
            f"{path}: {key!r} is a meta tensor: a shape without values, nothing to convert "
            "(save the state_dict of a model built on a real device)"
        )
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.is_nested:
        kind = (
            "quantized"
            if tensor.is_quantized
            else "nested" if tensor.is_nested else (str(tensor.layout).removeprefix("torch."))
        )
        raise TorchgenError(
            f"{path}: {key!r} is a {kind} tensor; convert moves dense tensors only "
            "(save it .to_dense() first)"
        )


def keeps_order(path: Path) -> bool:
    """Whether the file lists its tensors in the model's order: ``torch.save`` keeps the
    ``state_dict``'s order, safetensors sorts them (by dtype, then by name)."""
    return path.suffix != ".safetensors"


def in_order(weights: Weights, keys: Sequence[str], path: Path, label: str) -> Weights:
    """The weights in the order of ``keys`` (a class's ``state_dict`` keys); a key of the file
    that ``keys`` lacks is an error, since its place is then unknown."""
    place = {key: i for i, key in enumerate(keys)}
    unknown = next((k for k in weights.state if k not in place), None)
    if unknown is not None:
        raise TorchgenError(
            f"{path}: {unknown!r} is not a key of {label}'s state_dict, so its place in the "
            "model's order is unknown"
        )
    state = dict(sorted(weights.state.items(), key=lambda item: place[item[0]]))
    return dataclasses.replace(weights, state=state, ordered_by=label)


def strip_prefixes(state: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Take off ``_orig_mod.`` components and a ``module.`` that leads every key."""
    stripped: list[str] = []
    if any(COMPILED in k.split(".") for k in state):
        stripped.append(f"{COMPILED}.")
        state = {".".join(p for p in k.split(".") if p != COMPILED): v for k, v in state.items()}
    while state and all(k.startswith(PARALLEL) for k in state):
        if PARALLEL not in stripped:
            stripped.append(PARALLEL)
        state = {k.removeprefix(PARALLEL): v for k, v in state.items()}
    return state, tuple(stripped)


def entries(state: Mapping[str, torch.Tensor]) -> list[Entry]:
    """The checkpoint's listing for ``match``: keys that share memory are one (tied) tensor."""
    slots: dict[object, int] = {}
    found = []
    for key, tensor in state.items():
        slot = slots.setdefault(_storage(tensor), len(slots))
        found.append(Entry(key, tuple(tensor.shape), dtype_name(tensor.dtype), slot))
    return found


def _storage(tensor: torch.Tensor) -> object:
    """What identifies a tensor's memory: two keys with the same are one tensor saved twice."""
    if tensor.numel() == 0 or tensor.device.type == "meta":
        return id(tensor)
    return (
        tensor.untyped_storage().data_ptr(),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tensor.stride(),
        tensor.dtype,
    )


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def assemble(matched: Match, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The converted ``state_dict``: the target's keys, in its order, with the source's tensors
    (as they are: same values, same dtype; tied keys share one tensor)."""
    import torch

    for keys, sources in matched.ties:
        first = state[sources[0]]
        for other in sources[1:]:
            if not torch.equal(first, state[other]):
                raise TorchgenError(
                    f"the target ties {' and '.join(map(repr, keys))} (one tensor), but the "
                    f"checkpoint's {sources[0]!r} and {other!r} differ"
                )
    converted = {
        target: state[source] if source is not None else torch.tensor(0, dtype=torch.long)
        for target, source in matched.pairs
    }
    for keys, sources in matched.ties:  # equal values: save them as the one tensor they are
        converted.update((key, state[sources[0]]) for key in keys)
    return converted
