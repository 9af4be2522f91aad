"""``torchgen new PATH``: scaffold a whole project."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from torchscaffold.cli import user_errors
from torchscaffold.errors import TorchgenError


@click.command("new")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--package", metavar="NAME", help="The import package  [default: PATH's name, e.g. my_proj]"
)
@click.option(
    "--style",
    metavar="STYLE",
    default="explicit",
    show_default=True,
    help="explicit | add_module | sequential | modulelist | moduledict | nested",
)
@click.option(
    "--preset",
    metavar="NAME",
    help="See `torchgen list presets`.  [default: tiny; transformer_classifier for "
    "--kind sequence]",
)
@click.option(
    "--kind",
    metavar="KIND",
    default="tensor",
    show_default=True,
    help="The dataset: tensor | csv | files | images | iterable | sequence (token ids; see "
    "`torchgen list kinds`).",
)
@click.option(
    "--labels",
    metavar="FILE.csv",
    help="--kind images: the images' classes come from this labels CSV (columns file, "
    "label; configurable) instead of class sub-folders.",
)
@click.option(
    "--init",
    "init",
    metavar="SCHEME",
    help="Weight init of the model (see `torchgen list inits`), or none.  "
    "[default: the preset's, see `torchgen list presets`]",
)
@click.option(
    "--model", metavar="CLASS", default="Net", show_default=True, help="The model's class name."
)
@click.option(
    "--dataset",
    metavar="CLASS",
    default="TrainingData",
    show_default=True,
    help="The dataset's class name.",
)
@click.option(
    "--precision",
    metavar="P",
    default="fp32",
    show_default=True,
    help="train.precision: fp32 | bf16 | fp16 (fp16 on CUDA only).",
)
@click.option(
    "--strategy",
    metavar="S",
    default="ddp",
    show_default=True,
    help="train.strategy under torchrun: ddp | fsdp (FSDP2).",
)
@click.option(
    "--loss",
    metavar="NAME",
    default="cross_entropy",
    show_default=True,
    help="loss.name: cross_entropy | mse | bce_with_logits.",
)
@click.option(
    "--trainer",
    metavar="T",
    default="plain",
    show_default=True,
    help="plain (the project's own train.py) | lightning (PyTorch Lightning: "
    "LightningModule, LightningDataModule, LightningCLI).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be written (create/identical/conflict); write nothing.",
)
@click.option("--force", is_flag=True, help="Generate into a non-empty PATH, overwriting.")
@user_errors
def command(
    path: Path,
    package: str | None,
    style: str,
    preset: str | None,
    kind: str,
    labels: str | None,
    init: str | None,
    model: str,
    dataset: str,
    precision: str,
    strategy: str,
    loss: str,
    trainer: str,
    dry_run: bool,
    force: bool,
) -> None:
    """Scaffold a project at PATH: a package with registries, a model, a dataset, a checked
    config, train.py (schedule, clipping, accumulation, fp32/bf16/fp16, metrics.csv,
    best/last checkpoints, exact --resume, DDP or FSDP under torchrun), evaluate, predict,
    export and plot entry points, and tests.

    \b
    torchgen new my-project
    torchgen new my-project --style sequential --preset mlp --kind csv
    torchgen new my-project --kind sequence
    torchgen new my-project --trainer lightning
    torchgen new my-project --kind images --labels labels.csv
    """
    from torchscaffold.generate.scaffold import NewRequest, check_target, plan_new, settings_for

    req = NewRequest(
        path,
        package,
        style,
        preset,
        kind,
        init,
        model,
        dataset,
        precision,
        strategy,
        loss,
        trainer,
        labels,
    )
    plan = plan_new(req)
    if dry_run:
        for line in plan.report(force=force):
            click.echo(line)
        try:
            check_target(req.root, plan, force=force)
        except TorchgenError as exc:
            click.echo(f"(dry run: the write would stop: {exc})")
        return
    check_target(req.root, plan, force=force)
    report = plan.apply(force=force)  # a disk error rolls back: nothing of the project is left
    for line in report:
        click.echo(line)
    package_name = settings_for(req).package
    click.echo(f"\nNext: cd {shlex.quote(str(path))}")
    if trainer == "lightning":
        train = f"{package_name}.cli fit --config configs/default.yaml"
    else:
        train = f"{package_name}.train --config configs/default.toml"
    click.echo(f'  pip install -e ".[test]" && python -m {train}')
    click.echo("  python -m pytest -q")
