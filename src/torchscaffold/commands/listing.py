"""``torchgen list [styles|presets|layers|inits|kinds]``: what exists, one line each."""

from __future__ import annotations

import click

from torchscaffold.cli import user_errors
from torchscaffold.errors import unknown


def _catalogs() -> dict[str, dict[str, str]]:
    from torchscaffold.catalog import ALL_OPS, LAYERS
    from torchscaffold.generate.model import STYLES
    from torchscaffold.inits import SCHEMES
    from torchscaffold.spec.presets import PRESETS

    catalogs = {
        "styles": STYLES,
        "presets": {k: p.describe() for k, p in PRESETS.items()},
        "layers": {k: t.help for k, t in LAYERS.items()},
        "ops": {k: o.help for k, o in sorted(ALL_OPS.items())},
        "inits": SCHEMES,
    }
    try:  # the dataset command may not be installed in a trimmed build
        from torchscaffold.generate.dataset import KINDS

        catalogs["kinds"] = KINDS
    except ImportError:  # pragma: no cover
        pass
    return catalogs


@click.command("list")
@click.argument("what", required=False)
@user_errors
def command(what: str | None) -> None:
    """Show the styles, presets, layers, init schemes and dataset kinds, one line each."""
    catalogs = _catalogs()
    if what is not None and what not in catalogs:
        raise unknown("list", what, catalogs)
    for title, entries in catalogs.items():
        if what not in (None, title):
            continue
        click.echo(f"{title}:")
        width = max(map(len, entries))
        for key, help in entries.items():
            click.echo(f"  {key:<{width}}  {help}")
