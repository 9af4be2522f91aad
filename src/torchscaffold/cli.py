"""The ``torchgen`` command line: parse options, call a pipeline, print its report.

Nothing here (nor anything it imports at start-up) may import torch or black: ``--help`` and
generation must stay fast. Pipelines are imported inside the commands that need them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from torchscaffold import __version__
from torchscaffold.errors import TorchgenError


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a TorchgenError into click's one-line ``Error: ...`` and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TorchgenError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            # The user's file system (a full disk, a name too long, permissions), not a bug.
            from torchscaffold.paths import os_error

            raise click.ClickException(str(os_error(exc))) from None

    return wrapper


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """-o/--stdout/--dry-run/--force, shared by every generating command."""
    for decorator in reversed(
        [
            click.option(
                "-o",
                "--output",
                "output",
                # A plain string: click.Path would drop the trailing slash that says "a folder".
                metavar="PATH",
                default=None,
                help="Where to write: a file, or a folder (existing, or ending in /) for the "
                "default name.",
            ),
            click.option(
                "--stdout",
                "to_stdout",
                is_flag=True,
                help="Print the generated code instead of writing it.",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Print what would be written (create/identical/conflict/update); "
                "write nothing.",
            ),
            click.option("--force", is_flag=True, help="Overwrite files that exist and differ."),
        ]
    ):
        fn = decorator(fn)
    return fn


def emit(plan: Any, *, to_stdout: bool, dry_run: bool, force: bool) -> None:
    """Print, report or write a plan: the one exit of every generating command."""
    if to_stdout:
        for f in plan.files:
            if len(plan.files) > 1:
                click.echo(f"# ---- {f.path.name}")
            click.echo(f.content, nl=False)
        return
    if dry_run:
        for line in plan.report(force=force):
            click.echo(line)
        conflicts = plan.conflicts()
        if conflicts and not force:
            click.echo("(dry run: the conflicts above would stop the write without --force)")
        return
    for line in plan.apply(force=force):
        click.echo(line)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torchgen")
def main() -> None:
    """torchgen: generate PyTorch code that is correct, formatted and tested.

    \b
    torchgen model ResNet --preset resnet18 --style sequential
    torchgen dataset Images --kind files
    torchgen registry -o src/my_project
    torchgen new my-project
    """


def _commands() -> None:
    # Each command lives in its own module exposing ``command``; importing them is cheap (no
    # torch, no black).
    import importlib

    for name in COMMAND_MODULES:
        main.add_command(importlib.import_module(f"torchscaffold.commands.{name}").command)


COMMAND_MODULES: tuple[str, ...] = ("model", "listing", "registry", "dataset", "new", "convert")


_commands()

# The commands that format code: black's import is started in a helper process for them.
FORMATTING = frozenset({"model", "dataset", "registry", "new"})


def run() -> None:
    """The console entry point: ``main``, where the command formats code with black imported
    in a forked helper meanwhile (see ``formatter``)."""
    import gc

    # One short-lived command: the collector's default pace (a pass every 700 allocations)
    # made a 20,000-step model's parsing and formatting twice as slow, growing faster than
    # the file (bench/bench_scale.py); a tenth as many passes keeps it in step.
    gc.set_threshold(100_000, 50, 100)
    args = sys.argv[1:]
    if not (args[:1] and args[0] in FORMATTING and not {"-h", "--help"} & set(args)):
        main(prog_name="torchgen")
        return
    from torchscaffold import formatter

    formatter.start()
    try:
        main(prog_name="torchgen")
    finally:
        formatter.stop()


if __name__ == "__main__":  # pragma: no cover
    run()
