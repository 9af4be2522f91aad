"""``torchgen convert CHECKPOINT --to FILE.py[:Class]``."""

from __future__ import annotations

from pathlib import Path

import click

from torchscaffold.cli import user_errors


@click.command("convert")
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="FILE.py[:CLASS]",
    help="The class to load into: a file's class (default: its last nn.Module class) or "
    "MODULE:CALLABLE. A FILE.py is imported, which runs it as python FILE.py would.",
)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Where to write the converted state_dict  [default: CHECKPOINT's stem + "
    ".converted.pt, beside it].",
)
@click.option("--args", "args", metavar="JSON", help="Keyword arguments for the target class.")
@click.option(
    "--check",
    is_flag=True,
    help="Load the result with strict=True, and with --from-class compare outputs on a "
    "random input; nothing is written if that fails.",
)
@click.option(
    "--from-class",
    metavar="MODULE:CALLABLE",
    help="The class the checkpoint was saved from, e.g. torchvision.models:resnet18 or "
    "path/to/file.py:Net: --check compares outputs with it, and it puts a .safetensors "
    "file (sorted by name) in its model's order. A FILE.py is imported, which runs it.",
)
@click.option("--from-args", metavar="JSON", help="Keyword arguments for --from-class.")
@click.option("--dry-run", is_flag=True, help="Convert and report; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite an output file that exists and differs.")
@user_errors
def command(
    checkpoint: str,
    to: str,
    output: str | None,
    args: str | None,
    check: bool,
    from_class: str | None,
    from_args: str | None,
    dry_run: bool,
    force: bool,
) -> None:
    """Rewrite a checkpoint to load into another class (imports torch).

    Tensors are matched by order, shape, dtype and name, not by key: a checkpoint of one
    style loads into another, torchvision's into a generated ResNet. The input is a
    state_dict (.pt, .pth, .safetensors), bare or under "model"/"state_dict", read with
    weights_only=True (nothing in it is run); module. and _orig_mod. prefixes are
    stripped. The first tensor that does not fit is named, and nothing is written.
    Unlike the other commands, this one imports torch (and the target's file, which runs
    it as python FILE.py would). Only an nn.Module class, a function of your own code or
    one declared to return an nn.Module is called; the output is never one of its inputs.

    \b
    torchgen convert resnet18.pth --to res_net18.py --check \\
        --from-class torchvision.models:resnet18
    """
    from torchscaffold.generate.convert import ConvertRequest, convert, json_args

    req = ConvertRequest(
        checkpoint=Path(checkpoint),
        to=to,
        output=output,
        args=json_args(args, "--args") or {},
        check=check,
        from_class=from_class,
        from_args=json_args(from_args, "--from-args"),
    )
    conversion = convert(req)
    plan = conversion.plan
    written = plan.report(force=force) if dry_run else plan.apply(force=force)
    for line in (*conversion.report, *written):
        click.echo(line)
    if dry_run and plan.conflicts() and not force:
        click.echo("(dry run: the conflict above would stop the write without --force)")
    if conversion.check is not None:
        click.echo(conversion.check)
