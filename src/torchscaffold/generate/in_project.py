"""Generating into a package: ``torchgen model`` and ``torchgen dataset`` inside a project.

Inside a scaffolded project (no ``-o``, or ``-o`` its ``models/`` / ``data/`` folder) a model
goes to ``src/<pkg>/models/<snake>.py``, registered with ``@MODELS.register()``, imported by
``models/__init__.py`` and tested by ``tests/models/test_<snake>.py``; a dataset likewise under
``data/``. The project's ``[tool.torchgen]`` table supplies the defaults.

Anywhere else, a file written into a package that holds a ``registry.py`` is registered there,
and a model's ``--init`` calls the package's ``initializers.py`` instead of an inline copy.
"""

from __future__ import annotations

import keyword
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchscaffold import names, paths
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.model import ModelRequest, describe, render_model
from torchscaffold.paths import output_file
from torchscaffold.plan import Plan, PlannedFile
from torchscaffold.render import header, refuse_rebound, render, render_python
from torchscaffold.shapes import ResolvedModel, resolve
from torchscaffold.shapes.layout import check_views
from torchscaffold.spec.presets import PRESETS
from torchscaffold.workspace import (
    NO_INIT,
    Project,
    Registries,
    defines_class,
    find_registries,
    wire_import,
)

# The docstring of a package __init__.py that torchgen creates, per subpackage.
PACKAGE_DOCS = {
    "models": "The project's models, each registered in MODELS.",
    "data": "The project's datasets, each registered in DATASETS.",
}


@dataclass(frozen=True)
class Generated:
    """Files for one generated module, and the import that wires it into its package."""

    files: tuple[PlannedFile, ...]
    package_dir: Path | None = None  # whose __init__.py imports it (inside a project)
    wiring: tuple[str, str] | None = None  # (module, name) for that import


# -- models ----------------------------------------------------------------------------------------


def model_request(
    project: Project | None,
    *,
    name: str,
    style: str | None = None,
    preset: str | None = None,
    spec: Path | None = None,
    init: str | None = None,
    **options: Any,
) -> ModelRequest:
    """The request, with the project's defaults where the command line gave none.
    ``options``: the other ``ModelRequest`` fields (``numbered``, sizes)."""
    if project is not None:
        settings = project.settings
        style = style or settings.style
        if preset is None and spec is None and options.get("source") is None:
            preset = settings.preset
        if init is None:
            init = settings.init_scheme
    elif init is None and preset in PRESETS:
        # A published architecture starts from its reference's init (nanoGPT's, torchvision's),
        # as its constructor does there.
        init = PRESETS[preset].init
    if init == NO_INIT:
        init = None
    return ModelRequest(name, style or "explicit", preset=preset, spec=spec, init=init, **options)


def plan_model_here(
    req: ModelRequest, output: str | None, project: Project | None
) -> tuple[Plan, ResolvedModel]:
    """``torchgen model``: in the project, into a package with a registry, or standalone."""
    resolved = resolve(describe(req))
    check_views(resolved)
    if project is not None and _into(output, project.models_dir):
        generated = model_in_project(req, resolved, project, output)
        return Plan(generated.files + wiring_files([generated])), resolved
    path = output_file(req.name, output)
    text = _render_model(req, resolved, path, find_registries(path.parent))
    return Plan((PlannedFile(path, text),)), resolved


def model_in_project(
    req: ModelRequest,
    resolved: ResolvedModel,
    project: Project,
    output: str | None = None,
    *,
    planned: bool = False,
) -> Generated:
    """The model, its test, and its import for ``models/__init__.py``. ``planned``: the
    registries are part of the same change (``torchgen new``), not on disk yet."""
    path = output_file(req.name, output or str(_default_file(req.name, project.models_dir)))
    module = _module_name(path, "model", project)
    _refuse_duplicate_class(req.name, path, "model")
    # The project's one summary (projects made before it had none: theirs in the file).
    has_summary = planned or (project.package_dir / "summary.py").is_file()
    summary_module = f"{project.package}.summary" if has_summary else None
    text = _render_model(
        req, resolved, path, project.registries(planned=planned), summary_module, project.root
    )
    test = render_python(
        "project/tests/test_model.py.j2",
        header=header(req.command(path, project.root)),
        package=project.package,
        module=module,
        name=req.name,
        inputs=resolved.inputs,
        output_shape=resolved.output_shape,
        summary_module=summary_module,
    )
    refuse_rebound(req.name, (text, test), "model name")
    files = (
        PlannedFile(path, text),
        PlannedFile(project.tests_dir / "models" / f"test_{module}.py", test),
    )
    return Generated(files, project.models_dir, (module, req.name))


def _render_model(
    req: ModelRequest,
    resolved: ResolvedModel,
    path: Path,
    registries: Registries | None,
    summary_module: str | None = None,
    root: Path | None = None,
) -> str:
    """``root``: the project's, from which the header's command runs (its paths relative
    to it); else the file's folder."""
    if registries is None:
        return render_model(resolved, req, path=path, summary_module=summary_module)
    imports = [f"from {registries.module} import MODELS"]
    init_call = None
    if req.init is not None and registries.initializers is not None:
        # The package's registered scheme, not an inline copy of it.
        imports.insert(0, f"from {registries.initializers} import initialize")
        init_call = f'initialize(self, "{req.init}")'
    return render_model(
        resolved,
        req,
        path=path,
        registry_import="\n".join(imports),
        registry_decorator="@MODELS.register()",
        init_call=init_call,
        summary_module=summary_module,
        root=root,
    )


# -- datasets --------------------------------------------------------------------------------------


def dataset_kind(project: Project | None, kind: str | None) -> str:
    if kind is not None:
        return kind
    return project.settings.kind if project is not None else "tensor"


def plan_dataset_here(name: str, kind: str, output: str | None, project: Project | None) -> Plan:
    """``torchgen dataset``: in the project, into a package with a registry, or standalone."""
    from torchscaffold.generate.dataset import plan_dataset

    if project is not None and _into(output, project.data_dir):
        generated = dataset_in_project(name, kind, project, output)
        return Plan(generated.files + wiring_files([generated]))
    path = output_file(name, output)
    registries = find_registries(path.parent)
    registry_module = registries.module if registries is not None else None
    return plan_dataset(name, kind, path, registry_module=registry_module)


def dataset_in_project(
    name: str, kind: str, project: Project, output: str | None = None, *, planned: bool = False
) -> Generated:
    """The dataset, its test, and its import for ``data/__init__.py`` (``planned``: as for
    ``model_in_project``)."""
    from torchscaffold.generate.dataset import command_line, import_block, plan_dataset, validate

    validate(name, kind)
    path = output_file(name, output or str(_default_file(name, project.data_dir)))
    module = _module_name(path, "dataset", project)
    _refuse_duplicate_class(name, path, "dataset")
    registries = project.registries(planned=planned)
    registry_module = registries.module if registries is not None else None
    loader_module = f"{project.package}.data.loader"
    (dataset,) = plan_dataset(
        name, kind, path, registry_module=registry_module, loader_module=loader_module
    ).files
    test = render_python(
        "project/tests/test_dataset.py.j2",
        header=header(command_line(name, kind)),
        package=project.package,
        module=module,
        name=name,
        kind=kind,
        import_block=import_block,
        trainer=project.settings.trainer,
    )
    refuse_rebound(name, (dataset.content, test), "dataset name")
    files = (dataset, PlannedFile(project.tests_dir / "data" / f"test_{module}.py", test))
    loader = project.data_dir / "loader.py"
    if planned or not loader.is_file():  # the loader code every dataset module imports
        text = render_python(
            "project/data_loader.py.j2",
            header=header(command_line(name, kind)),
            package=project.package,
            loader_module=None,  # the shared macros: this file is where the loader lives
        )
        files += (PlannedFile(loader, text),)
    return Generated(files, project.data_dir, (module, name))


# -- shared ----------------------------------------------------------------------------------------


def wiring_files(generated: Iterable[Generated]) -> tuple[PlannedFile, ...]:
    """One ``__init__.py`` per package, importing every module generated into it: the file as
    it is on disk (the user's lines kept) or a fresh one, with the new imports added."""
    by_package: dict[Path, list[tuple[str, str]]] = {}
    for g in generated:
        if g.package_dir is not None and g.wiring is not None:
            by_package.setdefault(g.package_dir, []).append(g.wiring)
    files = []
    for package_dir, wirings in by_package.items():
        path = package_dir / "__init__.py"
        if paths.kind(path) is not None:
            source = paths.read_text(path, "package file")
        else:
            source = render(
                "project/subpackage_init.py.j2", doc=PACKAGE_DOCS.get(package_dir.name, "")
            )
        for module, name in wirings:
            source = wire_import(source, module, name, path=path)
        files.append(PlannedFile(path, source, editable=True))
    return tuple(files)


def _into(output: str | None, directory: Path) -> bool:
    """Whether ``-o`` (or its absence) means: the project's own place for this module."""
    if output is None:
        return True
    target = Path(output)
    if not (output.endswith(("/", os.sep)) or paths.is_dir(target)):
        target = target.parent
    return paths.resolve(target) == paths.resolve(directory)


def _default_file(name: str, directory: Path) -> Path:
    # A file path, not the directory: the directory may not exist yet (torchgen new).
    return directory / f"{names.snake_case(name)}.py"


def _module_name(path: Path, what: str, project: Project) -> str:
    module = path.stem
    if path.suffix != ".py" or not module.isidentifier() or keyword.iskeyword(module):
        raise TorchgenError(f"invalid {what} module name {path.name!r}: not an importable name")
    from torchscaffold.generate.scaffold import infrastructure

    target = paths.resolve(path)
    if any(target == paths.resolve(own) for own in infrastructure(project)):
        raise TorchgenError(
            f"invalid {what} module {path.name!r}: the project's own module has that name; "
            "choose another NAME"
        )
    return module


def _refuse_duplicate_class(name: str, path: Path, what: str) -> None:
    """A class of that name in another module of the package would clash in the registry."""
    names.class_name(name, what=f"{what} name")
    if not paths.is_dir(path.parent):
        return
    for other in sorted(path.parent.glob("*.py")):
        if other.name == path.name or other.name == "__init__.py" or not paths.is_file(other):
            continue
        try:
            source = paths.read_text(other)
        except TorchgenError:
            continue
        if defines_class(source, name):
            raise TorchgenError(f"{what} {name!r} already exists in {other}; choose another NAME")
