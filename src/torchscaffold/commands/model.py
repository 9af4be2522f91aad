"""``torchgen model NAME``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from torchscaffold.cli import emit, output_options, user_errors
from torchscaffold.commands import _parse


@click.command("model")
@click.argument("name")
@click.option(
    "--style",
    metavar="STYLE",
    help="explicit | add_module | sequential | modulelist | moduledict  "
    "[default: explicit, or the project's]",
)
@click.option("--numbered", is_flag=True, help="sequential: plain nn.Sequential(*layers).")
@click.option(
    "--preset", metavar="NAME", help="A published architecture (see `torchgen list presets`)."
)
@click.option(
    "--spec",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A model description in TOML (see docs/spec-format.md).",
)
@click.option(
    "--in-channels", metavar="N", help="Input channels (or features), e.g. 1 for grayscale."
)
@click.option("--input-size", metavar="HxW", help="Spatial input size: 224 or 224x224.")
@click.option("--num-classes", metavar="N", help="Output classes of the final layer.")
@click.option(
    "--init",
    "init",
    metavar="SCHEME",
    help="Weight init: kaiming | kaiming_conv | vit | gpt2 | xavier | trunc_normal | orthogonal "
    "| default | kaiming_uniform (see `torchgen list inits`), or none.  [default: a preset's "
    "reference init, or the project's]",
)
@click.option(
    "--check",
    is_flag=True,
    help="Import the result with torch, run a forward pass and "
    "compare the parameter count with the prediction.",
)
@output_options
@user_errors
def command(
    name: str,
    style: str | None,
    numbered: bool,
    preset: str | None,
    spec: Path | None,
    in_channels: str | None,
    input_size: str | None,
    num_classes: str | None,
    init: str | None,
    check: bool,
    output: str | None,
    to_stdout: bool,
    dry_run: bool,
    force: bool,
) -> None:
    """Generate an nn.Module class NAME (CamelCase) in the chosen style.

    Without --preset or --spec you get a small residual CNN (the `tiny` preset). Inside a
    project made by `torchgen new`, the model goes to its models/ package, registered and
    tested, and the project's [tool.torchgen] options are the defaults.
    """
    from torchscaffold.generate.in_project import model_request, plan_model_here
    from torchscaffold.generate.model import summary_table
    from torchscaffold.workspace import find_project

    project = find_project()
    req = model_request(
        project,
        name=name,
        style=style,
        numbered=numbered,
        preset=preset,
        spec=spec,
        in_channels=_parse.positive_int(in_channels, "--in-channels"),
        input_size=_parse.size(input_size, "--input-size"),
        num_classes=_parse.positive_int(num_classes, "--num-classes"),
        init=init,
    )
    plan, resolved = plan_model_here(req, output, project)
    report = None
    if check:  # before anything is written: a model that fails its check is not written
        from torchscaffold.check import check_model
        from torchscaffold.workspace import import_root

        root = import_root(plan.files[0].path.parent)
        if root is not None and str(root) not in sys.path:
            # A registered model imports its package's registry: make that importable.
            sys.path.insert(0, str(root))
        report = check_model(plan.files[0].content, resolved)
    emit(plan, to_stdout=to_stdout, dry_run=dry_run, force=force)
    if not to_stdout:
        click.echo(summary_table(resolved))
    if report is not None:
        click.echo(report, err=to_stdout)
