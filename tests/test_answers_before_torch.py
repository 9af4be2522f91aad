"""The commands that import torch (convert, model --from) answer a mistake in their arguments
before they import it: a missing file, a bad option, bad JSON. Checked with ``-X importtime``
in a fresh interpreter (torch's import takes seconds, tens of them on a busy machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    (["convert", "nope.pt", "--to", "torchvision.models:resnet18"], "nope.pt: no such checkpoint"),
    (["convert", "{empty}", "--to", "nope.py:Net"], "nope.py: no such file"),
    (["convert", "{empty}", "--to", "x:Y", "--from-class", "sub/nope.py"], "sub/nope.py: no such"),
    (["convert", "{empty}", "--to", "x:Y", "--args", "{bad"], "--args is not valid JSON"),
    (["model", "Net", "--from", "nope.py:Net"], "nope.py: no such file"),
]


@pytest.mark.parametrize(("args", "message"), CASES)
def test_a_mistake_is_answered_before_torch_loads(
    tmp_path: Path, args: list[str], message: str
) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    done = subprocess.run(
        [
            *[sys.executable, "-X", "importtime", "-m", "torchscaffold"],
            *[arg.replace("{empty}", str(empty)) for arg in args],
        ],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in done.stderr.splitlines() if not line.startswith("import time")]
    assert done.returncode == 1 and len(errors) == 1, errors
    assert errors[0].startswith(f"Error: {message}"), errors
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "torch" not in imported
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.pt"]
