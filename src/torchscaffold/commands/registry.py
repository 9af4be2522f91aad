"""``torchgen registry``: a Registry class and registry-decorated weight-init functions."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from torchscaffold import paths
from torchscaffold.cli import emit, output_options, user_errors
from torchscaffold.errors import TorchgenError
from torchscaffold.inits import DEFAULT_SCHEME, SCHEMES


def _scheme_help() -> str:
    return "Scheme initialize() applies by default: " + ", ".join(SCHEMES) + "."


@click.command("registry")
@click.option(
    "--init",
    "default_scheme",
    default=DEFAULT_SCHEME,
    show_default=True,
    metavar="SCHEME",
    help=_scheme_help(),
)
@output_options
@user_errors
def command(
    default_scheme: str, output: str | None, to_stdout: bool, dry_run: bool, force: bool
) -> None:
    """Write registry.py (MODELS, DATASETS, INITIALIZERS) and initializers.py into a package.

    \b
    torchgen registry -o src/my_project
    torchgen registry --dry-run
    """
    from torchscaffold.generate.registry import plan_registry  # renders with black: import lazily

    out_dir = Path(output) if output is not None else Path(".")
    if paths.kind(out_dir) not in (None, "dir"):
        raise TorchgenError(
            f"{out_dir} is a file; -o takes the directory for registry.py and " "initializers.py"
        )
    argv = ["torchgen", "registry"]
    if default_scheme != DEFAULT_SCHEME:
        argv += ["--init", default_scheme]
    plan = plan_registry(out_dir, command=shlex.join(argv), default_scheme=default_scheme)
    emit(plan, to_stdout=to_stdout, dry_run=dry_run, force=force)
