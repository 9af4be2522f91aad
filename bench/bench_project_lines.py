"""How many lines does a generated project make its user own? Lines per file of
``torchgen new`` (the default project, or the options given), as this checkout generates it,
and as another git revision did (``--against REV``: that revision's src/ and templates/ are
unpacked into a temporary folder and run there).

    python bench/bench_project_lines.py [--against REV] [-- NEW_OPTIONS ...]
    python bench/bench_project_lines.py --against HEAD~3 -- --trainer lightning

Counts every line (blank lines and docstrings included: a reader owns them too), per file,
for the package (``src/``), the tests, and the rest (config, README, pyproject).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".toml", ".md", ".yaml"}


def generate(source: Path, target: Path, options: Sequence[str]) -> None:
    """``torchgen new target`` with the torchscaffold found under ``source/src``."""
    code = "import sys; from torchscaffold.cli import run; sys.argv[0] = 'torchgen'; run()"
    subprocess.run(
        [sys.executable, "-c", code, "new", str(target), *options],
        env={"PYTHONPATH": str(source / "src"), "TORCHGEN_NO_FORK": "1", "PATH": ""},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def unpack(revision: str, into: Path) -> Path:
    """The src/ and templates/ of ``revision``, as files under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "src", "templates"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def count(project: Path) -> dict[str, int]:
    """Lines per file of the project, by path relative to it (the package's name as
    ``PKG``, so that projects generated under different names compare)."""
    package = next((project / "src").iterdir()).name
    lines = {}
    for path in sorted(project.rglob("*")):
        if path.is_file() and path.suffix in SUFFIXES:
            relative = str(path.relative_to(project)).replace(f"src/{package}/", "src/PKG/")
            lines[relative] = len(path.read_text(encoding="utf-8").splitlines())
    return lines


def group(path: str) -> str:
    return "src" if path.startswith("src/") else "tests" if path.startswith("tests/") else "other"


def table(columns: dict[str, dict[str, int]]) -> str:
    """One row per file, one column per generated project, subtotals per group."""
    names = list(columns)
    paths = sorted({p for c in columns.values() for p in c}, key=lambda p: (group(p), p))
    width = max(len(p) for p in paths) + 2
    head = f"{'file':<{width}}" + "".join(f"{n:>12}" for n in names)
    rows = [head, "-" * len(head)]

    def cells(values: Sequence[int | None]) -> str:
        return "".join(f"{'-' if v is None else v:>12}" for v in values)

    for part in ("src", "tests", "other"):
        for path in (p for p in paths if group(p) == part):
            rows.append(f"{path:<{width}}" + cells([columns[n].get(path) for n in names]))
        totals = [sum(v for p, v in columns[n].items() if group(p) == part) for n in names]
        rows.append(f"{'  total ' + part:<{width}}" + cells(totals))
        rows.append("")
    rows.append(f"{'total':<{width}}" + cells([sum(columns[n].values()) for n in names]))
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="a git revision to compare with")
    parser.add_argument("options", nargs="*", help="options of torchgen new (after --)")
    args = parser.parse_args(argv)
    columns = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.against:
            old = unpack(args.against, root / "old")
            generate(old, root / "before" / "proj", args.options)
            columns[args.against] = count(root / "before" / "proj")
        generate(REPO, root / "after" / "proj", args.options)
        columns["this tree"] = count(root / "after" / "proj")
    print(f"torchgen new proj {' '.join(args.options)}".rstrip())
    print(table(columns))


if __name__ == "__main__":
    main()
