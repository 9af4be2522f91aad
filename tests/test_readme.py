"""The README stays true: its CLI reference is today's `torchgen --help`, the files and
commands it names exist, and its tour runs as written from the repository root."""

from __future__ import annotations

import re

from conftest import ROOT


def cli_help() -> str:
    """`torchgen --help` as an 80-column terminal shows it (the README's copy)."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "torchscaffold", "--help"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    ).stdout


def test_cli_reference_is_current():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("$ torchgen --help\n", 1)[1].split("```", 1)[0]
    assert block.strip() == cli_help().strip()


def test_linked_files_exist():
    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
    for script in re.findall(r"python (bench/\S+\.py)", readme):
        assert (ROOT / script).exists(), script


def test_what_it_counts_and_lists_is_the_catalog_and_the_presets():
    from torchscaffold import catalog
    from torchscaffold.spec.presets import PRESETS

    readme = (ROOT / "README.md").read_text()
    assert f"{len(catalog.LAYERS)} layers and {len(catalog.ALL_OPS)} ops" in readme
    section = readme.split("- **Presets**", 1)[1].split("\n- **", 1)[0]
    named = set(re.findall(r"`([a-z0-9_]+)`", section))
    for family in re.findall(r"`([a-z]+)((?:\d+/)+\d+)`", section):  # `vgg11/13/16/19`
        named |= {family[0] + n for n in family[1].split("/")}
    assert set(PRESETS) <= named, set(PRESETS) - named


def test_the_tour_runs_in_a_fresh_folder_as_written(tmp_path):
    """Each line of the tour, in order, in an empty folder, through the real console entry
    point (a fresh interpreter, so an earlier line's files can shadow a later line's names as
    they would for a user); the README's spec examples exist."""
    import shlex
    import subprocess
    import sys

    from conftest import run_torchgen

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A 30-second tour", 1)[1]
    tour = section.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in tour.splitlines()]
    assert lines and all(line.split()[0] in ("torchgen", "python") for line in lines)
    for line in lines:
        program, *args = shlex.split(line)
        if program == "torchgen":
            done = run_torchgen(*args, cwd=tmp_path)
        else:
            done = subprocess.run(
                [sys.executable, *args],
                check=False,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert done.returncode == 0, f"{line}: {done.stderr}"
    assert (tmp_path / "my-project" / "src" / "my_project" / "train.py").is_file()
    for example in re.findall(r"`(docs/examples/[^`]*)`", section):
        assert (ROOT / example).exists(), example
