"""``torchgen dataset NAME --kind KIND``."""

from __future__ import annotations

import click

from torchscaffold.cli import emit, output_options, user_errors


@click.command("dataset")
@click.argument("name")
@click.option(
    "--kind",
    metavar="KIND",
    # Kept literal so --help never imports the generator; tests check it against KINDS.
    help="tensor | csv | files | images | iterable | sequence (see `torchgen list kinds`).  "
    "[default: tensor, or the project's]",
)
@output_options
@user_errors
def command(
    name: str, kind: str | None, output: str | None, to_stdout: bool, dry_run: bool, force: bool
) -> None:
    """Generate a Dataset class NAME (CamelCase) of the given kind, with build_dataloader().

    One self-contained file: the dataset, its collate function where it needs one, and a
    DataLoader builder that seeds workers, shards for torch.distributed and pickles for
    every start method. `python FILE.py` iterates a synthetic instance with 2 workers.
    Inside a project made by `torchgen new`, it goes to the data/ package, registered
    and tested.
    """
    from torchscaffold.generate.in_project import dataset_kind, plan_dataset_here
    from torchscaffold.workspace import find_project

    project = find_project()
    plan = plan_dataset_here(name, dataset_kind(project, kind), output, project)
    emit(plan, to_stdout=to_stdout, dry_run=dry_run, force=force)
