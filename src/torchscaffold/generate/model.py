"""The ``torchgen model`` pipeline: options -> IR -> shapes -> rendered, formatted text -> plan."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from torchscaffold import catalog, names, paths
from torchscaffold.catalog.types import LayerType
from torchscaffold.errors import TorchgenError, unknown
from torchscaffold.paths import output_file
from torchscaffold.plan import Plan, PlannedFile
from torchscaffold.render import code, forward, header, inline, refuse_rebound, render_python
from torchscaffold.shapes import ResolvedModel, resolve
from torchscaffold.shapes.layout import check_views
from torchscaffold.shapes.resolved import RClass, RStep
from torchscaffold.spec.ir import Model
from torchscaffold.spec.loader import load_spec
from torchscaffold.spec.options import finalize
from torchscaffold.spec.presets import DEFAULT_PRESET, build_preset

STYLES: dict[str, str] = {
    "explicit": "every layer an attribute (self.conv1 = ...); parameter-free ops as F calls",
    "add_module": "self.add_module(name, layer); repeated blocks in a loop, fetched with getattr",
    "sequential": "one nn.Sequential, named via OrderedDict (or --numbered); forward calls it",
    "modulelist": "layers in an nn.ModuleList; forward loops over it",
    "moduledict": "layers in an nn.ModuleDict keyed by name; forward loops over its values",
    "nested": "attributes; groups and stages as nn.Sequential, dotted names as nn.ModuleDict: "
    "torchvision's and nanoGPT's layout, so their presets load the published weights",
}


@dataclass(frozen=True)
class ModelRequest:
    """Everything ``torchgen model`` was asked, validated."""

    name: str
    style: str = "explicit"
    numbered: bool = False
    preset: str | None = None
    spec: Path | None = None
    in_channels: int | None = None
    input_size: tuple[int, ...] | None = None
    num_classes: int | None = None
    init: str | None = None
    source: str | None = None  # --from MODULE:CALLABLE
    source_args: str | None = None  # its --args JSON, as given
    input_shape: str | None = None  # --input-shape, as given
    # The description lifted from --from (generate.eject), in place of a preset or a spec.
    lifted: Model | None = field(default=None, compare=False, repr=False)

    def command(self, path: Path | None = None, root: Path | None = None) -> str:
        """The canonical command line for the header of the file at ``path``: run from that
        file's folder (or from ``root``, a project's, where torchgen commands run), it makes
        the file again. The spec's path is relative to that folder, so the line is the same
        on every machine that has the same layout."""
        parts = ["torchgen model", self.name, f"--style {self.style}"]
        if self.numbered:
            parts.append("--numbered")
        if self.preset:
            parts.append(f"--preset {self.preset}")
        if self.source:
            parts.append(f"--from {shlex.quote(self.source)}")
        if self.source_args:
            parts.append(f"--args {shlex.quote(self.source_args)}")
        if self.input_shape:
            parts.append(f"--input-shape {self.input_shape}")
        if self.spec:
            spec = self.spec
            if path is not None:
                base = root if root is not None else path.parent
                spec = Path(os.path.relpath(paths.resolve(spec), paths.resolve(base)))
            parts.append(f"--spec {shlex.quote(spec.as_posix())}")
        if self.in_channels is not None:
            parts.append(f"--in-channels {self.in_channels}")
        if self.input_size is not None:
            parts.append(f"--input-size {'x'.join(map(str, self.input_size))}")
        if self.num_classes is not None:
            parts.append(f"--num-classes {self.num_classes}")
        if self.init:
            parts.append(f"--init {self.init}")
        if path is not None and path.name != f"{names.snake_case(self.name)}.py":
            where = path.name if root is None else os.path.relpath(paths.resolve(path), root)
            parts.append(f"-o {shlex.quote(Path(where).as_posix())}")
        return " ".join(parts)


def validate(req: ModelRequest) -> None:
    names.class_name(req.name, taken=frozenset(catalog.LAYERS))
    if req.style not in STYLES:
        raise unknown("style", req.style, STYLES)
    if req.numbered and req.style != "sequential":
        raise TorchgenError("--numbered only applies to --style sequential")
    if req.preset and req.spec:
        raise TorchgenError("give --preset or --spec, not both")
    if req.source and (req.preset or req.spec):
        raise TorchgenError("give --from or --preset/--spec, not both")
    if req.init is not None:
        from torchscaffold.inits import check_scheme

        check_scheme(req.init)


def describe(req: ModelRequest) -> Model:
    """The IR for the request, with sizes applied."""
    validate(req)
    if req.lifted is not None:
        model = req.lifted
    elif req.spec is not None:
        model = load_spec(req.spec, req.name)
    else:
        model = build_preset(req.preset or DEFAULT_PRESET, req.name)
    model = finalize(
        model, in_channels=req.in_channels, input_size=req.input_size, num_classes=req.num_classes
    )
    for block in model.blocks:
        if block.name == model.name:
            raise TorchgenError(f"the model cannot be named like its block {block.name!r}")
    return model


def container(cls: RClass, base: str) -> str:
    """The attribute the list styles keep a class's modules in: ``base`` unless one of the
    class's own attributes has it (a model ejected with a ``layers`` of its own), then the
    first of ``base2``, ``base3``... that is free. A constructor parameter of that name (the
    ResNets' ``layers=(3, 4, 6, 3)``) is a local of __init__, not an attribute, unless
    forward reads it (stored)."""
    taken = {t.name for t in cls.tensors} | set(cls.stored)
    for step in cls.steps:
        taken.update({step.name, step.name.split(".")[0], step.name.replace(".", "_")})
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def _every_step(resolved: ResolvedModel) -> Iterator[RStep]:
    """Every step of every class, and of their groups and sequences."""

    def walk(steps: tuple[RStep, ...]) -> Iterator[RStep]:
        for step in steps:
            yield step
            yield from walk(step.members)

    for cls in (*resolved.blocks, resolved.main):
        yield from walk(cls.steps)


def passed_by_every_call(resolved: ResolvedModel) -> dict[str, frozenset[str]]:
    """Per block class, the keyword arguments that every one of its calls passes."""
    passed: dict[str, frozenset[str]] = {}
    for step in _every_step(resolved):
        for inst in (*step.instances, *((step.loop,) if step.loop else ())):
            given = frozenset(k for k, _ in inst.keywords)
            passed[inst.block] = passed.get(inst.block, given) & given
    return passed


def render_model(
    resolved: ResolvedModel,
    req: ModelRequest,
    *,
    path: Path,
    registry_import: str | None = None,
    registry_decorator: str | None = None,
    init_call: str | None = None,
    summary_module: str | None = None,
    root: Path | None = None,
) -> str:
    explicit = req.style == "explicit"
    counted = req.style == "add_module"
    passed = passed_by_every_call(resolved)
    plans = [
        forward.plan(
            c,
            container(c, "body"),
            functional_layers=explicit,
            counted=counted,
            passed=passed.get(c.name, frozenset()),
        )
        for c in resolved.blocks
    ]
    plans.append(
        forward.plan(
            resolved.main,
            container(resolved.main, "layers"),
            functional_layers=explicit,
            counted=counted,
        )
    )
    source = render_python(
        "model/module.py.j2",
        compact=True,
        rewrite=inline.forward_temporaries,
        header=header(req.command(path, root)),
        model=resolved,
        plans=plans,
        style=req.style,
        numbered=req.numbered,
        filename=path.name,
        model_shapes=model_shapes(resolved),
        code=code,
        fw=forward,
        needs_ordered_dict=forward.uses_ordered_dict(plans, req.style, req.numbered),
        needs_functional=forward.uses_functional(plans, explicit=req.style == "explicit"),
        init=req.init,
        init_call=init_call,
        layer_classes=layer_classes(resolved),
        padded=padded(resolved),
        registry_import=registry_import,
        registry_decorator=registry_decorator,
        summary_module=summary_module,
    )
    for name in (resolved.name, *(b.name for b in resolved.blocks)):
        refuse_rebound(name, (source,), "class name")
    return source


def layer_classes(resolved: ResolvedModel) -> list[str]:
    """The ``torch.nn`` classes the model's layers are (``nn.Linear``...): its init loop names
    only these."""
    return sorted(
        {
            f"nn.{step.entry.name}"
            for step in _every_step(resolved)
            if step.kind == "layer" and isinstance(step.entry, LayerType)
        }
    )


def padded(resolved: ResolvedModel) -> bool | None:
    """Whether the model's embeddings have a padding row to zero: all of them (True), none
    (False), or some, or one that a parameter sets (None: the init loop asks each)."""
    found: set[object] = set()
    for step in _every_step(resolved):
        if step.kind == "layer" and step.entry.name in ("Embedding", "EmbeddingBag"):
            v = dict(step.args).get("padding_idx")
            found.add(None if code.symbolic(v) else code.plain(v) is not None)
    return found.pop() if len(found) == 1 else None


def model_shapes(resolved: ResolvedModel) -> str:
    """The model docstring's line on shapes: ``(N, 3, 224, 224)`` -> ``(N, 1000)``..."""

    def shape(dims: tuple[int, ...]) -> str:
        return "``(N, " + ", ".join(map(str, dims)) + ")``"

    ins = ", ".join(shape(i.shape) for i in resolved.inputs)
    outs = ", ".join(shape(o) for o in resolved.output_shapes)
    lengths = ", ".join(f"{k} = {v}" for k, v in resolved.lengths)
    at = f" ({lengths})" if lengths else ""
    return (
        f"Shape: {ins} -> {outs} with the default arguments{at}; "
        f"{resolved.total_params:,} parameters."
    )


def summary_table(resolved: ResolvedModel) -> str:
    """Each layer with its output shape and parameter count, and the total: no torch needed."""
    rows = [("input", "", _shape(resolved.input_shape), "")]
    rows += [(r.name, r.type, _shape(r.out_shape), f"{r.params:,}") for r in resolved.rows]
    rows.append(("total", "", _shape(resolved.output_shape), f"{resolved.total_params:,}"))
    headers = ("layer", "type", "output shape", "params")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(r) for r in rows]
    return "\n".join([line(headers), rule, *body[:-1], rule, body[-1]])


def _shape(shape: tuple[int, ...]) -> str:
    return repr(tuple(shape))


def plan_model(req: ModelRequest, output: Path | None) -> tuple[Plan, ResolvedModel]:
    """Render the whole file in memory; nothing touches the disk here."""
    resolved = resolve(describe(req))
    check_views(resolved)
    path = output_file(req.name, output)
    text = render_model(resolved, req, path=path)
    return Plan((PlannedFile(path, text),)), resolved
