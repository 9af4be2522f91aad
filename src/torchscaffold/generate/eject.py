"""The ``torchgen model NAME --from MODULE:CALLABLE`` pipeline: build -> choose an input -> lift
-> render (as any description) -> convert the weights -> check -> plan.

Everything is in memory until the plan is applied: the generated file, the converted weights
(``--weights``) and the lifted description (``--emit-spec``) are written together or not at
all, and only once the generated class, loaded with the converted weights, computes what the
original computes. Imports torch.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchscaffold import paths
from torchscaffold.eject.arguments import Value
from torchscaffold.errors import TorchgenError, first_line
from torchscaffold.generate.convert import json_args, rekey, serialize
from torchscaffold.generate.in_project import plan_model_here
from torchscaffold.generate.model import ModelRequest
from torchscaffold.plan import Plan, PlannedFile
from torchscaffold.shapes import ResolvedModel
from torchscaffold.spec.ir import Model
from torchscaffold.weights import target
from torchscaffold.weights.compare import ATOL, RTOL
from torchscaffold.weights.match import Misfit

if TYPE_CHECKING:
    import torch
    from torch import nn

    from torchscaffold.eject.model import Lifted
    from torchscaffold.workspace import Project

BATCH = 2
IMAGE_SIZE = 224  # torchvision's classifiers' input, and what a first convolution is given
TOKENS = 16  # the length of the token ids a model whose first layer is an Embedding is given


@dataclass(frozen=True)
class Ejected:
    plan: Plan
    resolved: ResolvedModel
    check: str  # the one-line report of the comparison with the original
    notes: tuple[str, ...]


def eject(
    req: ModelRequest,
    *,
    output: str | None,
    project: Project | None,
    weights: str | None = None,
    emit_spec: str | None = None,
) -> Ejected:
    from torchscaffold.eject.model import lift_model

    assert req.source is not None
    if req.preset or req.spec:
        raise TorchgenError("give --from or --preset/--spec, not both")
    if ":" not in req.source:
        raise TorchgenError(
            f"--from {req.source!r}: name the callable, MODULE:CALLABLE or path/to/file.py:Class"
        )
    kwargs = json_args(req.source_args, "--args") or {}
    factory = target.find(req.source)
    original = target.build(factory, kwargs, "cpu", "--args").eval()
    example = example_input(original, req)
    lifted = lift_model(original, req.name, example)
    kept = _kept_arguments(lifted.model, original, factory, kwargs, req, example)
    while True:
        model = _with(lifted.model, kept)
        spec = _loads(model, factory.label)
        # The sizes chose the example; the lifted description already has its shape.
        req = replace(req, lifted=model, in_channels=None, input_size=None)
        try:
            plan, resolved = plan_model_here(req, output, project)
        except TorchgenError:
            raise
        except Exception as exc:  # noqa: BLE001 - a file that does not parse, a render bug
            raise TorchgenError(
                f"cannot eject {factory.label}: {first_line(exc)} (a torchgen bug: please "
                "report it); nothing was written"
            ) from None
        source = plan.files[0]
        state, check, wrong = _convert_and_check(
            source, req.name, original, example, factory.label, lifted, kept, req
        )
        if not wrong:
            break
        # An argument whose other value builds another network than the original's: the
        # class keeps the sizes at this one (never a parameter that builds something wrong).
        kept = [k for k in kept if k.name not in wrong]
    extra: list[PlannedFile] = []
    if weights is not None:
        extra.append(PlannedFile(_file(weights, ".pt", "--weights"), serialize(state)))
    if emit_spec is not None:
        extra.append(PlannedFile(_file(emit_spec, ".toml", "--emit-spec"), spec))
    return Ejected(Plan(plan.files + tuple(extra)), resolved, check, lifted.notes)


# Builds the original with one argument changed, on a device.
Build = Callable[..., "nn.Module"]


@dataclass(frozen=True)
class Kept:
    """A constructor argument kept as a parameter: its value, the model lifted with it kept,
    and the value the generated class is checked at (against the original built with it)."""

    name: str
    value: Value
    model: Model
    checked: Value
    build: Build


def _kept_arguments(
    model: Model,
    original: nn.Module,
    factory: target.Factory,
    kwargs: dict[str, Any],
    req: ModelRequest,
    example: list[torch.Tensor],
) -> list[Kept]:
    """The factory's integer arguments whose sizes the lift can write as expressions of them
    (eject.arguments): the model is built and lifted again at another value of each."""
    from torchscaffold.eject import arguments

    def by_factory(name: str) -> Build:
        return lambda v, device="cpu": target.build(
            factory, {**kwargs, name: v}, device, "--args"
        ).eval()

    values = arguments.integers(factory.make, kwargs)
    builds = {name: by_factory(name) for name in values}
    if arguments.passes_on(factory.make):
        # resnet18(**kwargs): the arguments of the class it builds, built through the class.
        cls = type(original)
        bound = arguments.recorded(lambda: target.build(factory, kwargs, "meta", "--args"), cls)
        if bound is not None:
            for name, value in arguments.class_integers(bound, set(values)).items():
                values[name] = value
                builds[name] = _through(cls, bound, name, factory.label)
    kept = []
    for name, value in list(values.items())[: arguments.MOST]:
        build = builds[name]
        moved, checked = arguments.other_values(value)
        lifted = _lift_at(build, moved, req, example)
        if lifted is None:
            continue
        found = arguments.keep(model, lifted, name, value, moved)
        if found is not None:
            kept.append(Kept(name, value, found, checked, build))
    return kept


def _lift_at(
    build: Build, value: Value, req: ModelRequest, example: list[torch.Tensor]
) -> Model | None:
    """The model built at ``value`` and lifted: on the meta device first, where its forward
    computes nothing (what moves is the shapes), else on the CPU (a forward that reads its
    values); None where that value is refused or sizes the input."""
    from torchscaffold.eject.model import lift_model

    for device in ("meta", "cpu"):
        try:
            other = build(value, device)
            again = example_input(other, req)
            if [x.shape for x in again] != [x.shape for x in example]:
                return None  # it sizes the input: that is the input's own parameter
            return lift_model(other, req.name, [x.to(device) for x in again]).model
        except TorchgenError:  # another value the model refuses (heads that must divide)
            if device == "cpu":
                return None
        except Exception:  # what the meta device cannot run: on the CPU then
            if device == "cpu":
                raise
    return None


def _through(cls: type, bound: Any, name: str, label: str) -> Build:
    from torchscaffold.eject import arguments

    def build(value: Value, device: str = "cpu") -> nn.Module:
        import torch

        what = f"could not build {label}'s {cls.__name__}({name}={value})"
        with target.user_code(what), torch.device(device):
            return arguments.rebuild(cls, bound, name, value).eval()

    return build


def _with(model: Model, kept: list[Kept]) -> Model:
    """``model`` with every argument of ``kept`` that combines with the others."""
    from torchscaffold.eject import arguments

    out = model
    for k in kept:
        out = arguments.combine(model, out, k.model) or out
    return out


def _loads(model: Model, label: str) -> str:
    """The lifted description as ``--emit-spec`` writes it, checked to load again: a lift that
    breaks a rule of the format is one line, never a broken file."""
    from torchscaffold.spec.dump import dump
    from torchscaffold.spec.loader import load_toml, parse_spec

    try:
        spec = dump(model)
        parse_spec(load_toml(spec, Path("lifted.toml")), model.name)
    except (TorchgenError, ValueError) as exc:
        raise TorchgenError(
            f"cannot eject {label}: its description breaks a rule of the format ({exc}; a "
            "torchgen bug: please report it); nothing was written"
        ) from None
    return spec


def _file(text: str, suffix: str, option: str) -> Path:
    path = paths.check_file_name(Path(text))
    if path.suffix != suffix:
        raise TorchgenError(f"{option} {text!r}: give a {suffix} file")
    return path


def example_input(model: nn.Module, req: ModelRequest) -> list[torch.Tensor]:
    """The input the model is traced and checked on: ``--input-shape`` (per sample), else
    from its first layer: token ids for an Embedding, a 224x224 image (or ``--in-channels``,
    ``--input-size``) for a convolution, features for a Linear."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(0)
    layers = (nn.Embedding, nn.modules.conv._ConvNd, nn.Linear)
    first = next((m for m in model.modules() if isinstance(m, layers)), None)
    shape = _parse_shape(req.input_shape) if req.input_shape else None
    if isinstance(first, nn.Embedding):
        length = shape or (TOKENS,)
        return [torch.randint(0, first.num_embeddings, (BATCH, *length), generator=generator)]
    if shape is None and isinstance(first, nn.modules.conv._ConvNd):
        spatial = req.input_size or (IMAGE_SIZE,)
        if len(spatial) == 1:
            spatial = spatial * len(first.kernel_size)
        shape = (req.in_channels or first.in_channels, *spatial)
    elif shape is None and isinstance(first, nn.Linear):
        shape = (req.in_channels or first.in_features,)
    if shape is None:
        raise TorchgenError(
            f"cannot tell what input {type(model).__name__} takes (its first layer is not an "
            "Embedding, a convolution or a Linear): give --input-shape, e.g. 3x32x32"
        )
    return [torch.randn((BATCH, *shape), generator=generator)]


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise TorchgenError(
            f"--input-shape {text!r}: give the sizes of one sample, e.g. 3x224x224 or 16"
        )
    return dims


def _rekeyed(
    original: nn.Module, generated: nn.Module, label: str, called: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    """The original's tensors under the generated class's keys. The generated class declares
    its modules in the order the forward calls them; the original, in the order its
    constructor made them (a U-Net's ``ups`` before ``upconvs``, called the other way round):
    where that order does not match, the tensors are taken in the order of the calls."""
    state = original.state_dict()
    try:
        return rekey(state, generated, label)[0]
    except Misfit:
        rank = {path: n for n, path in enumerate(called)}

        def order(key: str) -> int:
            owner = key.rpartition(".")[0]
            while owner not in rank and owner:
                owner = owner.rpartition(".")[0]
            return rank.get(owner, len(rank))

        again = {key: state[key] for key in sorted(state, key=order)}
        return rekey(again, generated, label)[0]


def _convert_and_check(
    source: PlannedFile,
    name: str,
    original: nn.Module,
    example: list[torch.Tensor],
    label: str,
    lifted: Lifted,
    kept: list[Kept],
    req: ModelRequest,
) -> tuple[dict[str, torch.Tensor], str, set[str]]:
    """The original's weights under the generated class's keys, and the proof that, loaded
    with them, it computes what the original computes; the kept arguments whose other value
    (``Kept.checked``) builds a class that computes otherwise than the original built so."""
    from torchscaffold.check import generated_class
    from torchscaffold.weights.compare import _difference

    assert isinstance(source.content, str)
    wrong: set[str] = set()
    try:
        with generated_class(source.content, name, source.path) as cls:
            state, got, expected = _run_both(
                cls(), original, example, label, lifted.called, expected=lifted.output
            )
            for k in kept:
                other = k.build(k.checked)
                # One sample will do: what the argument moves is the network, not the batch.
                again = [x[:1] for x in example_input(other, req)]
                try:
                    _, a, b = _run_both(
                        cls(**{k.name: k.checked}), other, again, label, lifted.called
                    )
                except Exception:  # noqa: BLE001 - whatever the other value breaks
                    a, b = [], [None]
                if not _equal(a, b):
                    wrong.add(k.name)
    except Misfit as exc:  # pragma: no cover - the lift keeps the original's tensors
        raise TorchgenError(f"the lifted {name} does not hold {label}'s tensors: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a lift torch disagrees with: one line, as --check
        raise TorchgenError(
            f"check failed: the lifted {name} raised {type(exc).__name__}: {first_line(exc)}; "
            "nothing was written"
        ) from None
    shapes = [tuple(t.shape) for t in got], [tuple(t.shape) for t in expected]
    worst = max((_difference(a, b) for a, b in zip(got, expected)), default=0.0)
    on = ", ".join(str(tuple(x.shape)) for x in example)
    if not _equal(got, expected):
        raise TorchgenError(
            f"check failed: the lifted {name} computes other outputs than {label} on {on} "
            f"(shapes {shapes[0]} and {shapes[1]}, difference up to {worst:.3g}); nothing was "
            "written"
        )
    check = f"check: outputs equal the original's (max abs diff {worst:.1e}) on {on}"
    if kept and not wrong:
        also = ", ".join(f"{k.name}={k.checked}" for k in kept)
        check += f", and at {also}"
    return state, check, wrong


def _run_both(
    generated: nn.Module,
    original: nn.Module,
    example: list[torch.Tensor],
    label: str,
    called: tuple[str, ...],
    expected: Any = None,
) -> tuple[dict[str, torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """The generated class loaded with the original's weights (as the file will hold them),
    and both outputs on ``example`` (the original's ``expected`` where the lift saw it)."""
    import torch

    from torchscaffold.weights.compare import _tensors

    generated.eval()
    state = _rekeyed(original, generated, label, called)
    buffer = io.BytesIO()
    torch.save(state, buffer)  # as the file will be: the check loads what is written
    buffer.seek(0)
    generated.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    with torch.no_grad():
        got = _tensors(generated(*[x.clone() for x in example]))
        if expected is None:
            expected = original(*[x.clone() for x in example])
    return state, got, _tensors(expected)


def _equal(got: list, expected: list) -> bool:
    import torch

    return len(got) == len(expected) and all(
        a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=RTOL, atol=ATOL)
        for a, b in zip(got, expected)
    )
