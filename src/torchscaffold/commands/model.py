"""``torchgen model NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from torchscaffold.cli import emit, output_options, user_errors
from torchscaffold.commands import _parse
from torchscaffold.errors import TorchgenError


@click.command("model")
@click.argument("name")
@click.option(
    "--style",
    metavar="STYLE",
    help="explicit | add_module | sequential | modulelist | moduledict | nested  "
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
    "--from",
    "source",
    metavar="MODULE:CALLABLE",
    help="Eject an existing model (imports torch): a class or factory, e.g. "
    "torchvision.models:resnet50 or path/to/file.py:MyNet, traced with torch.fx and lifted into "
    "a description; the result is checked to compute what the original computes. A FILE.py is "
    "imported, which runs it as python FILE.py would.",
)
@click.option("--args", "source_args", metavar="JSON", help="--from: its keyword arguments.")
@click.option(
    "--input-shape",
    metavar="DIMS",
    help="--from: one sample's input, e.g. 3x32x32, or a token count  [default: from its first "
    "layer: 3x224x224 for a convolution, 16 token ids for an Embedding]",
)
@click.option(
    "--weights",
    metavar="OUT.pt",
    help="--from: also write the original's current weights converted for the generated class.",
)
@click.option(
    "--emit-spec",
    metavar="FILE.toml",
    help="--from: also write the lifted description, to edit and generate from with --spec.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Import the result with torch, run it and compare it with the prediction and an "
    "independent evaluation of the description, at the default arguments and with each "
    "integer argument changed and each flag flipped; nothing is written if it differs.",
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
    source: str | None,
    source_args: str | None,
    input_shape: str | None,
    weights: str | None,
    emit_spec: str | None,
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

    With --from MODULE:CALLABLE it ejects an existing model instead: traced with torch.fx,
    lifted into a description (layers, ops, one class per class of the original) and
    rendered in any style; --weights converts its weights, --emit-spec writes the
    description. This path imports torch (and the module); the others never do.
    """
    from torchscaffold.generate.in_project import model_request, plan_model_here
    from torchscaffold.generate.model import summary_table
    from torchscaffold.workspace import find_project

    project = find_project()
    if source is not None:  # sizes of a real tensor: bounded before anything is built
        _parse.example_size(input_shape, "--input-shape")
        _parse.example_size(input_size, "--input-size")
        _parse.example_size(in_channels, "--in-channels")
    if source is None:
        given = {"--args": source_args, "--input-shape": input_shape, "--weights": weights}
        given["--emit-spec"] = emit_spec
        for option, value in given.items():
            if value is not None:
                raise TorchgenError(f"{option} needs --from MODULE:CALLABLE")
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
        source=source,
        source_args=source_args,
        input_shape=input_shape,
    )
    if source is not None:
        _eject(req, output, project, weights, emit_spec, to_stdout, dry_run, force)
        return
    plan, resolved = plan_model_here(req, output, project)
    plan = plan.with_inputs(spec)
    report = None
    if check:  # before anything is written: a model that fails its check is not written
        from torchscaffold.check import check_model
        from torchscaffold.generate.model import describe

        report = check_model(
            plan.files[0].content, resolved, plan.files[0].path, description=describe(req)
        )
    emit(plan, to_stdout=to_stdout, dry_run=dry_run, force=force)
    if not to_stdout:
        click.echo(summary_table(resolved))
    if report is not None:
        click.echo(report, err=to_stdout)


def _eject(
    req: Any,
    output: str | None,
    project: Any,
    weights: str | None,
    emit_spec: str | None,
    to_stdout: bool,
    dry_run: bool,
    force: bool,
) -> None:
    """``--from``: lift, render, convert and check, then write every file or none."""
    from torchscaffold.generate.eject import eject
    from torchscaffold.generate.model import summary_table
    from torchscaffold.weights.target import source_file

    ejected = eject(req, output=output, project=project, weights=weights, emit_spec=emit_spec)
    plan = ejected.plan.with_inputs(source_file(req.source))
    if to_stdout:  # the code only: the weights are binary
        click.echo(plan.files[0].content, nl=False)
        click.echo(ejected.check, err=True)
        return
    emit(plan, to_stdout=False, dry_run=dry_run, force=force)
    click.echo(summary_table(ejected.resolved))
    for note in ejected.notes:
        click.echo(f"note: {note}")
    click.echo(ejected.check)
