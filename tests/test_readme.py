"""The README stays true: its CLI reference is today's `torchgen --help`, and the files and
commands it names exist."""

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
