"""A sample of the model zoos through ``torchgen model NAME --from``: each one either ejects
(the command's check passed; the file imports and loads its weights strictly) or refuses in
one ``Error:`` line with nothing written: never a traceback, never a file that does not
compile. Small inputs keep it fast; ``bench/bench_eject_zoo.py`` runs the whole zoos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import import_file, run_cli, tree_snapshot
from reference import torchvision_models

TESTS = Path(__file__).resolve().parent
FACTORY = f"""
import sys

sys.path.insert(0, {str(TESTS)!r})
from reference import _torchvision

_torchvision()


def make(name, library="torchvision"):
    if library == "timm":
        import timm

        return timm.create_model(name, pretrained=False)
    import torchvision

    return torchvision.models.get_model(name)
"""

# What each shows: names with dashes (regnet), a class named with an underscore (mnasnet),
# eval identities (efficientnet's StochasticDepth), a window mask built by item assignment
# and a map padded to whole windows (swin_t at 64x64). DenseNet's list is
# tests/test_eject_lifting.py's; the refusals are tests/test_eject_writes.py's and others.
TORCHVISION = [
    ("regnet_x_400mf", "exact"),
    ("mnasnet0_5", "exact"),
    ("efficientnet_b0", "exact"),
    ("swin_t", "exact"),
]
TIMM = [("resnet10t", None), ("mobilenetv3_small_050", None), ("vit_tiny_patch16_224", None)]


def eject_or_refuse(tmp_path: Path, name: str, library: str, *extra: str):
    (tmp_path / "zoo_models.py").write_text(FACTORY)
    before = tree_snapshot(tmp_path)
    result = run_cli(
        "model", "Net", "--from", "zoo_models.py:make",
        "--args", json.dumps({"name": name, "library": library}),
        "-o", "net.py", "--weights", "net.pt", *extra, cwd=tmp_path,
    )  # fmt: skip
    if result.exit_code == 0:
        assert "check: outputs equal the original's" in result.output
        generated = import_file(tmp_path / "net.py").Net()
        import torch

        generated.load_state_dict(torch.load(tmp_path / "net.pt"), strict=True)
        return "exact"
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert tree_snapshot(tmp_path) == before
    return lines[0]


@pytest.mark.parametrize(("name", "expected"), TORCHVISION)
def test_torchvision_sample(torch, tmp_path, name, expected):
    torchvision_models()
    outcome = eject_or_refuse(tmp_path, name, "torchvision", "--input-size", "64")
    assert expected in outcome


@pytest.mark.parametrize(("name", "expected"), TIMM)
def test_timm_sample_never_crashes(torch, tmp_path, name, expected):
    torchvision_models()
    pytest.importorskip("timm")
    size = "224" if "vit" in name else "64"  # a ViT's position embedding fixes its input
    eject_or_refuse(tmp_path, name, "timm", "--input-size", size)
