"""The ``torchgen convert`` pipeline: read -> unwrap -> match -> assemble -> check -> plan.

Each step is a function of ``torchscaffold.weights``, tested alone; this module puts them in
order. Nothing is written here: the plan writes the converted file atomically, once everything
(the match, the optional check) has succeeded.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchscaffold import paths
from torchscaffold.errors import TorchgenError
from torchscaffold.plan import Plan, PlannedFile
from torchscaffold.weights import checkpoint, compare, inputs, target
from torchscaffold.weights.match import Entry, Match, Misfit, match

if TYPE_CHECKING:
    import torch
    from torch import nn

# The default output, beside the checkpoint: resnet18.pth -> resnet18.converted.pt
SUFFIX = ".converted.pt"
NOTHING = "; nothing was written"


@dataclass(frozen=True)
class ConvertRequest:
    """Everything ``torchgen convert`` was asked."""

    checkpoint: Path
    to: str  # FILE.py[:Class] or MODULE:CALLABLE
    output: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    check: bool = False
    from_class: str | None = None
    from_args: Mapping[str, Any] | None = None  # None: not given


@dataclass(frozen=True)
class Conversion:
    plan: Plan
    report: tuple[str, ...]  # what was read and matched, one line each
    check: str | None = None  # the --check's one-line report


def json_args(text: str | None, option: str) -> dict[str, Any] | None:
    """``--args '{"num_classes": 10}'`` -> keyword arguments; None when not given."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TorchgenError(f"{option} is not valid JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise TorchgenError(f'{option} must be a JSON object of keyword arguments, like {{"n": 1}}')
    return value


def output_path(checkpoint: Path, output: str | None) -> Path:
    """``-o`` as given (a folder gets the default name), or ``STEM.converted.pt`` beside the
    checkpoint."""
    default = checkpoint.stem + SUFFIX
    if output is None:
        path = checkpoint.parent / default
    elif output.endswith(("/", os.sep)) or paths.is_dir(Path(output)):
        path = Path(output) / default
    else:
        path = Path(output)
    return paths.check_file_name(path)


def convert(req: ConvertRequest) -> Conversion:
    """Everything in memory; the returned plan writes the one file."""
    if req.from_args is not None and req.from_class is None:
        raise TorchgenError("--from-args needs --from-class")
    output = output_path(req.checkpoint, req.output)
    for named in (req.to, req.from_class):  # before reading the checkpoint imports torch
        if named is not None:
            _file_exists(named)
    weights = checkpoint.unwrap(checkpoint.read(req.checkpoint), req.checkpoint)
    factory = target.find(req.to)
    model = target.build(factory, dict(req.args), "meta", "--args")
    source = target.find(req.from_class) if req.from_class is not None else None
    if not checkpoint.keeps_order(req.checkpoint):
        weights = _in_order(req, weights, model, source)
    try:
        state, matched, listing = rekey(weights.state, model, factory.label)
    except Misfit as exc:
        raise TorchgenError(
            f"{req.checkpoint} does not fit {factory.label}: {exc}{NOTHING}"
        ) from None
    content = serialize(state)
    report = (_read_line(req.checkpoint, weights), _match_line(factory, matched, listing))
    check = None
    if req.check:
        try:
            check = _check(req, factory, model, content, weights, source)
        except TorchgenError as exc:
            raise TorchgenError(f"{exc}{NOTHING}") from None
    plan = Plan((PlannedFile(output, content),)).with_inputs(
        req.checkpoint, factory.path, source.path if source is not None else None
    )
    return Conversion(plan, report, check)


def _file_exists(named: str) -> None:
    """A ``FILE.py[:NAME]`` that names no file: refused at once (``target.find`` says the
    same, but only after the checkpoint is read, with torch imported)."""
    where, _ = target.split(named)
    if (where.endswith(".py") or "/" in where) and not paths.is_file(Path(where)):
        raise TorchgenError(f"{where}: no such file")


def _in_order(
    req: ConvertRequest,
    weights: checkpoint.Weights,
    model: nn.Module,
    source: target.Factory | None,
) -> checkpoint.Weights:
    """A safetensors file's tensors in their model's order: the target's, where the file has
    the target's keys (a subset: a tied weight may be saved once), else its own class's."""
    keys = list(model.state_dict())
    if set(weights.state) <= set(keys):
        return checkpoint.in_order(weights, keys, req.checkpoint, "the target")
    if source is None:
        raise TorchgenError(
            f"{req.checkpoint}: a safetensors file keeps its tensors sorted by name, not in "
            "the model's order, and its keys are not the target's: name the class it was "
            "saved from with --from-class MODULE:CALLABLE"
        )
    built = target.build(source, dict(req.from_args or {}), "meta", "--from-args")
    return checkpoint.in_order(weights, list(built.state_dict()), req.checkpoint, source.label)


def rekey(
    state: Mapping[str, torch.Tensor], model: nn.Module, label: str
) -> tuple[dict[str, torch.Tensor], Match, list[Entry]]:
    """``state`` under ``model``'s keys (built on the meta device will do): the match and the
    assembly, the heart of the conversion. Raises ``Misfit`` naming the first misfit."""
    listing = target.entries(model, label)
    matched = match(checkpoint.entries(state), listing)
    return checkpoint.assemble(matched, state), matched, listing


def serialize(state: dict[str, torch.Tensor]) -> bytes:
    """``torch.save`` into memory: the plan writes the bytes atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _check(
    req: ConvertRequest,
    factory: target.Factory,
    meta_model: nn.Module,
    content: bytes,
    weights: checkpoint.Weights,
    source: target.Factory | None,
) -> str:
    import torch

    converted = torch.load(io.BytesIO(content), weights_only=True)  # the file as written
    built = compare.Built(factory, req.args, "--args", converted)
    if source is None:
        return compare.check(built, None, None)
    original = compare.Built(source, req.from_args or {}, "--from-args", weights.state)
    return compare.check(built, original, examples(factory, meta_model))


def examples(factory: target.Factory, meta_model: nn.Module) -> list[inputs.Example] | None:
    """The input ``--check`` compares on: the one a generated file's ``__main__`` block builds,
    else a guess from the first layer; each tried on the meta device first."""
    meta_model.eval()
    candidates = []
    if factory.path is not None:
        found = inputs.from_main_block(paths.read_text(factory.path), factory.name)
        if found is not None:
            candidates.append(found)
    candidates += inputs.guesses(meta_model)
    return next((c for c in candidates if inputs.runs(meta_model, c)), None)


def _read_line(path: Path, weights: checkpoint.Weights) -> str:
    where = [f"under {'/'.join(map(repr, weights.within))}"] if weights.within else []
    if weights.stripped:
        where.append(f"{' and '.join(map(repr, weights.stripped))} stripped")
    if weights.left:
        where.append(f"left out: {', '.join(weights.left)}")
    if weights.ordered_by:
        where.append(f"in the order of {weights.ordered_by}'s state_dict")
    detail = f" ({'; '.join(where)})" if where else ""
    return f"read       {path}: {len(weights.state)} tensors{detail}"


def _match_line(factory: target.Factory, matched: Match, listing: list[Entry]) -> str:
    tensors = len({e.slot for e in listing})
    notes = [f"{tensors} tensors"]
    if tensors < len(listing):
        notes.append(f"{len(listing)} keys: tied weights count once")
    if matched.filled:
        notes.append(f"{len(matched.filled)} num_batches_tracked set to 0")
    return f"matched    {factory.label} by order, shape, dtype and name ({'; '.join(notes)})"
