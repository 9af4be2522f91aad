"""``torchgen new PATH``: the plan of a whole project, rendered in memory before anything is
written.

The model and the dataset are planned exactly as ``torchgen model`` and ``torchgen dataset``
plan them inside the project, so running those commands in a fresh project changes nothing.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchscaffold import names, paths
from torchscaffold.errors import TorchgenError, unknown
from torchscaffold.plan import Plan, PlannedFile
from torchscaffold.render import header, render, render_python
from torchscaffold.workspace import NO_INIT, Project, Settings, setting_choices

if TYPE_CHECKING:
    from torchscaffold.shapes import ResolvedModel

# Kinds whose samples are flat feature vectors: the config reshapes them to the model's input
# (data.input_shape).
FLAT_KINDS = frozenset({"csv", "iterable"})
# Kinds whose synthetic data is made in memory: no files under data.<split>.root.
IN_MEMORY_KINDS = frozenset({"tensor", "sequence"})
# Kinds whose samples are token ids ({"input_ids": (L,)} padded by pad_collate): the model takes
# int64 ids (and a bool mask) and classifies each sequence; every other kind needs a float input.
TOKEN_KINDS = frozenset({"sequence"})
# Kinds of image files: the model takes (C, H, W) images of one of these channel counts (Pillow's
# "L" and "RGB").
IMAGE_KINDS = frozenset({"images"})
IMAGE_CHANNELS = (1, 3)
# The model of a token kind when --preset is not given (the other kinds': Settings.preset).
TOKEN_PRESET = "transformer_classifier"
# The fields of a padded token batch that a model input of this dtype reads (data.inputs).
TOKEN_FIELDS = {"int64": "input_ids", "bool": "attention_mask"}
# The kinds a Lightning project takes (map-style datasets of float samples).
LIGHTNING_KINDS = ("tensor", "csv", "files")
# train.precision -> Lightning's Trainer(precision=...).
LIGHTNING_PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}
# PEP 508 project names: letters, digits and . _ -, starting and ending alphanumeric.
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\Z")


_DEFAULTS = Settings(package="")
# The options of ``torchgen new``, in the order its canonical command lists them.
OPTIONS = (
    "package",
    "style",
    "preset",
    "kind",
    "init",
    "model",
    "dataset",
    "precision",
    "strategy",
    "loss",
    "trainer",
    "labels",
)

# The project's own files, relative to its root, and their templates; "{package}" is the package.
TEXT_FILES = {  # rendered as they are
    "pyproject.toml": "project/pyproject.toml.j2",
    "README.md": "project/README.md.j2",
    ".gitignore": "project/gitignore.j2",
    "configs/default.toml": "project/configs/default.toml.j2",
}
# The modules of the package, each one template under templates/project/: what a user runs
# (``python -m <pkg>.<module>``), then what they share.
ENTRY_POINTS = ("train", "evaluate", "predict", "export", "plot")
LIBRARY_MODULES = ("config", "cli", "runtime", "losses", "checkpoint", "summary")
PROJECT_TESTS = ("test_train", "test_config", "test_checkpoint", "test_entry_points")
SYNTHETIC = "src/{package}/data/synthetic.py"
# Token ids are drawn differently from features: the token kinds' synthetic data.
SYNTHETIC_TOKENS = "project/synthetic_sequence.py.j2"
PYTHON_FILES = {  # rendered, then formatted by black
    "src/{package}/__init__.py": "project/package_init.py.j2",
    SYNTHETIC: "project/synthetic.py.j2",
    "tests/conftest.py": "project/tests/conftest.py.j2",
    **{f"src/{{package}}/{m}.py": f"project/{m}.py.j2" for m in ENTRY_POINTS + LIBRARY_MODULES},
    **{f"tests/{t}.py": f"project/tests/{t}.py.j2" for t in PROJECT_TESTS},
}


# The Lightning flavor: the same registries, model, data, losses and summary; its own
# training (a LightningModule and a LightningDataModule), CLI (LightningCLI), config (YAML,
# checked by LightningCLI against the signatures) and tests. Shared code comes from the
# same templates and macros (templates/project/_shared.j2), never copies.
LIGHTNING_TEXT_FILES = {
    **{k: v for k, v in TEXT_FILES.items() if not k.startswith("configs/")},
    "README.md": "project/lightning/README.md.j2",
    "configs/default.yaml": "project/lightning/default.yaml.j2",
}
LIGHTNING_MODULES = ("lightning", "cli", "config", "predict", "export")
LIGHTNING_PYTHON_FILES = {
    "src/{package}/__init__.py": "project/package_init.py.j2",
    SYNTHETIC: "project/synthetic.py.j2",
    "src/{package}/losses.py": "project/losses.py.j2",
    "src/{package}/summary.py": "project/summary.py.j2",
    **{f"src/{{package}}/{m}.py": f"project/lightning/{m}.py.j2" for m in LIGHTNING_MODULES},
    "tests/conftest.py": "project/lightning/tests/conftest.py.j2",
    "tests/test_lightning.py": "project/lightning/tests/test_lightning.py.j2",
}


@dataclass(frozen=True)
class NewRequest:
    """Everything ``torchgen new`` was asked."""

    path: Path
    package: str | None = None
    # The defaults are [tool.torchgen]'s, defined once in project.Settings.
    style: str = _DEFAULTS.style
    preset: str | None = None  # the kind's default: default_preset()
    kind: str = _DEFAULTS.kind
    init: str | None = None  # the preset's reference init
    model: str = _DEFAULTS.model
    dataset: str = _DEFAULTS.dataset
    precision: str = _DEFAULTS.precision
    strategy: str = _DEFAULTS.strategy
    loss: str = _DEFAULTS.loss
    trainer: str = _DEFAULTS.trainer
    # --kind images: the synthetic data and the config's example read a labels CSV of this
    # name (file,label) instead of class folders.
    labels: str | None = None

    @property
    def root(self) -> Path:
        return paths.resolve(paths.check_file_name(self.path))

    @property
    def project_name(self) -> str:
        return self.root.name

    def command(self) -> str:
        """The canonical command for headers: the project's name, not its path, and only the
        options that differ from the defaults (so that it is reproducible and short)."""
        argv = ["torchgen", "new", self.project_name]
        defaults = NewRequest(self.path, preset=default_preset(self.kind))
        for option in OPTIONS:
            value = getattr(self, option)
            if value is not None and value != getattr(defaults, option):
                argv += [f"--{option}", value]
        return shlex.join(argv)


def default_preset(kind: str) -> str:
    """The model when --preset is not given: a token classifier for a token kind."""
    return TOKEN_PRESET if kind in TOKEN_KINDS else _DEFAULTS.preset


def default_package(project_name: str) -> str:
    """``my-proj`` -> ``my_proj``: what Python can import."""
    return re.sub(r"[-.\s]+", "_", project_name).lower()


def settings_for(req: NewRequest) -> Settings:
    """Validate the request; return what ``[tool.torchgen]`` will record."""
    from torchscaffold.spec.presets import PRESETS

    if not _PROJECT_NAME.match(req.project_name):
        raise TorchgenError(
            f"invalid project name {req.project_name!r}: use letters, digits, '-', '_' or '.'"
        )
    package = req.package or default_package(req.project_name)
    names.package_name(package, new_at=req.root)
    preset = req.preset or default_preset(req.kind)
    for option, choices in setting_choices().items():
        value = preset if option == "preset" else getattr(req, option)
        if option == "init" and value is None:
            continue  # the preset's reference init
        if value not in choices:
            raise unknown("init scheme" if option == "init" else option, value, choices)
    if req.labels is not None:
        check_labels(req.labels, req.kind)
    names.class_name(req.model, what="model name")
    names.class_name(req.dataset, what="dataset name")
    return Settings(
        package=package,
        style=req.style,
        preset=preset,
        kind=req.kind,
        init=req.init or PRESETS[preset].init or NO_INIT,
        model=req.model,
        dataset=req.dataset,
        precision=req.precision,
        strategy=req.strategy,
        loss=req.loss,
        trainer=req.trainer,
    )


def check_labels(labels: str, kind: str) -> None:
    """``--labels``: a CSV file name for the images kind, relative to the image data."""
    if kind not in IMAGE_KINDS:
        raise TorchgenError(
            f"--labels names the labels CSV of image files: it needs --kind images, "
            f"not --kind {kind}"
        )
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*\.csv", labels):
        raise TorchgenError(
            f"--labels {labels!r}: expected a CSV file name such as labels.csv (letters, "
            "digits, '.', '_', '-'), written beside the images"
        )


def check_target(root: Path, plan: Plan, *, force: bool) -> None:
    """PATH must be a new or empty directory, or this very project generated before (its
    ``pyproject.toml`` identical: running the same command again is a no-op), unless --force."""
    found = paths.kind(root)
    if found not in (None, "dir"):
        raise TorchgenError(f"{root} exists and is not a directory")
    if force or found is None or not any(root.iterdir()):
        return
    statuses = {f.path: status for status, f in plan.statuses()}
    if statuses.get(root / "pyproject.toml") == "identical":
        conflicts = plan.conflicts()
        if conflicts:
            raise TorchgenError(
                f"{conflicts[0].path} already exists and differs; use --force to overwrite"
            )
        return
    raise TorchgenError(f"{root} is not empty; use --force to generate into it anyway")


def plan_new(req: NewRequest) -> Plan:
    """Every file of the project, rendered and formatted; nothing touches the disk."""
    from torchscaffold.generate.dataset import IMAGE_EXTENSIONS, import_block
    from torchscaffold.generate.in_project import (
        Generated,
        dataset_in_project,
        model_in_project,
        wiring_files,
    )
    from torchscaffold.generate.model import ModelRequest, describe
    from torchscaffold.generate.registry import plan_registry
    from torchscaffold.shapes import resolve
    from torchscaffold.train_schema import FREE_TABLES, sections

    settings = settings_for(req)
    if paths.kind(req.root) not in (None, "dir"):
        raise TorchgenError(f"{req.path} exists and is not a directory")
    project = Project(req.root, settings)
    model_req = ModelRequest(
        settings.model, settings.style, preset=settings.preset, init=settings.init_scheme
    )
    resolved = resolve(describe(model_req))
    check_fit(settings, resolved)
    model = model_in_project(model_req, resolved, project, planned=True)
    data = dataset_in_project(settings.dataset, settings.kind, project, planned=True)
    dataset_module = names.snake_case(settings.dataset)
    context: dict[str, Any] = {
        "header": header(req.command()),
        "project": req.project_name,
        "package": settings.package,
        "settings": settings.items(),
        "style": settings.style,
        "preset": settings.preset,
        "kind": settings.kind,
        "flat": settings.kind in FLAT_KINDS,
        "on_disk": settings.kind not in IN_MEMORY_KINDS,
        "tokens": settings.kind in TOKEN_KINDS,
        "labels": req.labels,
        "images": settings.kind in IMAGE_KINDS,
        "image_suffixes": ", ".join(IMAGE_EXTENSIONS[:5]),
        "image_extensions": list(IMAGE_EXTENSIONS),
        # What a token model reads of a padded batch, in the order of its arguments.
        "token_fields": [TOKEN_FIELDS.get(i.dtype, i.name) for i in resolved.inputs],
        "vocab_size": resolved.integer_input,
        "model": settings.model,
        "model_module": names.snake_case(settings.model),
        "dataset": settings.dataset,
        "dataset_module": dataset_module,
        "input_shape": list(resolved.input_shape),
        "num_classes": dict(resolved.params).get("num_classes", resolved.output_shape[-1]),
        "toml": toml_value,
        "sections": sections(
            precision=settings.precision, strategy=settings.strategy, loss=settings.loss
        ),
        "free_tables": FREE_TABLES,
        "precision": settings.precision,
        "strategy": settings.strategy,
        "loss": settings.loss,
        "trainer": settings.trainer,
        "lightning_precision": LIGHTNING_PRECISIONS[settings.precision],
    }
    text_files, python_files = own_tables(settings)
    files = [
        PlannedFile(path, render(template, **context))
        for path, template in _own_files(project, text_files)
    ]
    files += [
        PlannedFile(path, render_python(template, import_block=import_block, **context))
        for path, template in _own_files(project, python_files)
    ]
    files += plan_registry(
        project.package_dir,
        command=req.command(),
        default_scheme=settings.init_scheme or "kaiming",
        subpackages=True,
    ).files
    # data/synthetic.py is planned above; data/__init__.py imports it with the dataset.
    synthetic = Generated((), project.data_dir, ("synthetic", "make_synthetic"))
    files += [*model.files, *data.files, *wiring_files([model, data, synthetic])]
    return Plan(tuple(sorted(files, key=lambda f: str(f.path.relative_to(project.root)))))


def own_tables(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """The project's own text and Python files (path -> template) for its trainer and kind."""
    if settings.trainer == "lightning":
        return LIGHTNING_TEXT_FILES, LIGHTNING_PYTHON_FILES
    if settings.kind in TOKEN_KINDS:
        return TEXT_FILES, {**PYTHON_FILES, SYNTHETIC: SYNTHETIC_TOKENS}
    return TEXT_FILES, PYTHON_FILES


def check_fit(settings: Settings, resolved: ResolvedModel) -> None:
    """The model must read the dataset's samples: token ids for a token kind (and classify
    each sequence: one output per class), floats for the others."""
    preset, kind = settings.preset, settings.kind
    if settings.trainer == "lightning" and kind not in LIGHTNING_KINDS:
        raise TorchgenError(
            f"--trainer lightning does not take --kind {kind} yet: use "
            f"{' | '.join(LIGHTNING_KINDS)}, or --trainer plain"
        )
    first = resolved.inputs[0]
    if kind in TOKEN_KINDS:
        if first.dtype != "int64":
            raise TorchgenError(
                f"--preset {preset} takes {first.dtype} input, not token ids: --kind {kind} "
                f"needs a token classifier, e.g. --preset {TOKEN_PRESET} (its default)"
            )
        if len(resolved.output_shape) != 1:
            shape = "(" + ", ".join(map(str, resolved.output_shape)) + ")"
            raise TorchgenError(
                f"--preset {preset} gives {shape} per sequence (a per-token model): --kind "
                f"{kind} trains a classifier of whole sequences, e.g. --preset {TOKEN_PRESET}"
            )
    elif first.dtype != "float32":
        raise TorchgenError(
            f"--preset {preset} takes {first.dtype} token ids, but --kind {kind} gives "
            f"float samples: use --kind sequence"
        )
    elif kind in IMAGE_KINDS:
        shape = tuple(first.shape)
        if len(shape) != 3 or shape[0] not in IMAGE_CHANNELS or shape[1] != shape[2]:
            raise TorchgenError(
                f"--preset {preset} takes input of shape {shape}, not square images of "
                f"{' or '.join(map(str, IMAGE_CHANNELS))} channels (C, H, W): --kind {kind} "
                "needs an image model, e.g. --preset tiny or cnn"
            )


def infrastructure(project: Project) -> list[Path]:
    """The project's own modules: a model or dataset generated later must not take their place
    (``torchgen dataset Synthetic`` would replace ``data/synthetic.py``)."""
    own = [path for path, _ in _own_files(project, own_tables(project.settings)[1])]
    return [*own, project.data_dir / "loader.py"]  # planned with the datasets


def _own_files(project: Project, table: dict[str, str]) -> list[tuple[Path, str]]:
    return [
        (project.root / relative.format(package=project.package), template)
        for relative, template in table.items()
    ]


def toml_value(value: object) -> str:
    """A TOML literal for a str, bool, int, float or list of them (JSON agrees with TOML on
    these, strings included, as long as they are printable)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, (bool, int, float, str)):
        return json.dumps(value)
    raise TypeError(f"no TOML literal for {value!r}")  # pragma: no cover - a generator bug
