"""A torchvision built for another torch: the error says what it means and the install that
fixes it, with the version that goes with the installed torch."""

from __future__ import annotations

import pytest

from conftest import run_torchgen
from torchscaffold import torch_builds


@pytest.mark.parametrize(
    ("torch_version", "expected"),
    [("2.13.0", "0.28.0"), ("2.13.1+cpu", "0.28.1"), ("2.6.0+cu124", "0.21.0"), ("3.0", None)],
)
def test_matching_torchvision(torch_version: str, expected: str | None) -> None:
    assert torch_builds.matching_torchvision(torch_version) == expected


@pytest.mark.parametrize(
    ("versions", "error", "hint"),
    [
        (
            {"torch": "2.13.0+cpu", "torchvision": "0.28.0"},
            RuntimeError("operator torchvision::nms does not exist"),
            (
                "; this torchvision (0.28.0) was built for another torch than this one "
                "(2.13.0+cpu): install the one built for it, pip install --force-reinstall "
                "torchvision==0.28.0 from the index of torch's cpu builds"
            ),
        ),
        (
            {"torch": "2.13.0", "torchvision": "0.22.1"},
            OSError("libtorchvision.so: undefined symbol: _ZN3c104cuda"),
            (
                "; this torchvision (0.22.1) was built for another torch than this one (2.13.0): "
                "install the one built for it, pip install torchvision==0.28.0"
            ),
        ),
        ({"torch": "2.13.0", "torchvision": "0.28.0"}, ValueError("bad argument"), ""),
        ({"torch": "2.13.0"}, RuntimeError("operator torchvision::nms does not exist"), ""),
    ],
)
def test_the_hint_names_the_fix(monkeypatch, versions, error, hint) -> None:
    monkeypatch.setattr(torch_builds, "installed", versions.get)
    assert torch_builds.torchvision_hint(error) == hint


def test_commands_that_import_torchvision_say_it_in_one_line(tmp_path) -> None:
    """Where this machine's torchvision is built for another torch (it only imports through
    the tests' shim), `model --from` and `convert --to` say so and name the fix."""
    from reference import torchvision_shimmed

    if not torchvision_shimmed():
        pytest.skip("torchvision imports here: nothing to diagnose")
    import torch

    torch.save({"w": torch.zeros(1)}, tmp_path / "w.pt")
    for args in (
        ["model", "Net", "--from", "torchvision.models:resnet18", "-o", str(tmp_path / "n.py")],
        ["convert", str(tmp_path / "w.pt"), "--to", "torchvision.models:resnet18"],
    ):
        done = run_torchgen(*args, cwd=tmp_path)
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "torchvision::nms does not exist; this torchvision" in lines[0]
        assert "install the one built for it, pip install" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]
