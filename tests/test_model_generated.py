"""Every preset in every style: generate, lint, import, run forward and backward, compare the
summary with torch, and prove the styles one network equal to an independent evaluation.

Big presets run forward/backward on the meta device, which checks every shape and the autograd
graph without allocating weights. The runs on real tensors use small builds of each family (a
smaller input, or smaller constructor numbers): the same classes and the same code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import assert_lint_clean, import_file
from network import VARIANTS, assert_one_network, generate_all
from torchscaffold.generate.model import ModelRequest, plan_model
from torchscaffold.interpret import random_inputs
from torchscaffold.spec.dump import dump
from torchscaffold.spec.presets import PRESETS, build_preset

VARIANT_IDS = [f"{s}{'-numbered' if n else ''}" for s, n in VARIANTS]
# Small builds for the runs on real tensors: an input size, constructor defaults changed.
SMALL: dict[str, dict[str, Any]] = {
    "tiny": {},
    "mlp": {},
    "cnn": {},
    "vgg11": {"input_size": (32, 32)},
    # 32x32: the last stage's map is 1x1, the smallest input every stride still divides.
    "resnet18": {"input_size": (32, 32)},
    # Bottleneck stages at depths (1, 2, 1, 1): a first block and a loop, a quarter the work.
    "resnet50": {"input_size": (32, 32), "params": {"layers": (1, 2, 1, 1)}},
    "resnext50_32x4d": {"input_size": (32, 32), "params": {"layers": (1, 2, 1, 1)}},
    "mobilenet_v2": {"input_size": (32, 32)},
    "vit_b_16": {
        "input_size": (32, 32),
        "params": {"image_size": 32, "hidden_dim": 64, "mlp_dim": 128, "num_heads": 4},
    },
    "unet": {"input_size": (16, 16)},
    "gpt2": {"params": {"vocab_size": 100, "block_size": 64, "n_head": 2, "n_embd": 32}},
    "lstm_classifier": {},
    "transformer_classifier": {},
}
# Published parameter counts of the same architectures: torchvision's; milesial's Pytorch-UNet;
# nanoGPT's GPT-2 small with the tied weight counted once (tests/test_presets_*.py build them).
PUBLISHED = {
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "mobilenet_v2": 3_504_872,
    "vit_b_16": 86_567_656,
    "unet": 31_037_698,
    "gpt2": 124_439_808,
}


def _generate(out: Path, preset: str, style: str, numbered: bool) -> tuple[Path, Any]:
    req = ModelRequest(name="Net", style=style, numbered=numbered, preset=preset)
    label = f"{preset}_{style}{'_numbered' if numbered else ''}"
    plan, resolved = plan_model(req, out / f"{label}.py")
    plan.apply()
    return plan.files[0].path, resolved


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """All presets in all styles at their published sizes, generated once."""
    out = tmp_path_factory.mktemp("models")
    return {
        (preset, style, numbered): _generate(out, preset, style, numbered)
        for preset in PRESETS
        for style, numbered in VARIANTS
    }


def test_generated_files_are_lint_clean(generated):
    assert_lint_clean(*(path for path, _ in generated.values()))


def test_regenerating_is_byte_identical(tmp_path, generated):
    for (preset, style, numbered), (path, _) in generated.items():
        again, _ = _generate(tmp_path, preset, style, numbered)
        assert again.read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_forward_backward_on_meta(generated, torch, preset, style, numbered):
    path, resolved = generated[(preset, style, numbered)]
    module = import_file(path)
    with torch.device("meta"):
        model = module.Net()
        inputs = random_inputs(resolved)
    y = model(*inputs)
    assert tuple(y.shape) == (2, *resolved.output_shape)
    y.float().sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == resolved.total_params


@pytest.mark.parametrize("preset", list(PRESETS))
def test_summary_table_agrees_with_torch(generated, torch, preset):
    """Every row of torchgen's table that is a module (a layer, a block, a stage of repeated
    blocks) against what the generated summary() measures with torch: parameters and output
    shape; then the total and the model's output (on the meta device: no weights needed)."""
    path, resolved = generated[(preset, "explicit", False)]
    module = import_file(path)
    with torch.device("meta"):
        model = module.Net()
        inputs = random_inputs(resolved)
        measured = module.summary(model, *inputs)
        y = model(*inputs)
    for row in resolved.rows:
        key = re.escape(row.name.replace(".", "_"))  # the explicit style's attribute
        # A stage is one nn.Sequential: its blocks are stage.0, stage.1 ...
        parts = [m for m in measured if re.fullmatch(rf"{key}(\.\d+)?", m[0])]
        if not parts:  # an op, or a parameter-free layer the explicit style calls as F.*
            assert row.params == 0, row
            continue
        assert sum(count for *_, count in parts) == row.params, row
        assert parts[-1][2] == row.out_shape, row
    assert sum(p.numel() for p in model.parameters()) == resolved.total_params
    assert tuple(y.shape[1:]) == resolved.output_shape


@pytest.mark.parametrize("preset", list(PUBLISHED))
def test_published_parameter_counts(generated, preset):
    assert generated[(preset, "explicit", False)][1].total_params == PUBLISHED[preset]


@pytest.mark.parametrize("preset", list(SMALL))
def test_every_style_is_one_network_that_trains_and_exports(tmp_path, torch, preset):
    small = SMALL[preset]
    request: dict[str, Any] = {"name": "Net", "input_size": small.get("input_size")}
    if "params" in small:  # the same classes at smaller numbers: a spec with other defaults
        model = build_preset(preset, "Net")
        params = tuple((k, small["params"].get(k, v)) for k, v in model.main.params)
        spec = tmp_path / f"{preset}.toml"
        spec.write_text(dump(replace(model, main=replace(model.main, params=params))))
        request["spec"] = spec
    else:
        request["preset"] = preset
    generated = generate_all(tmp_path, **request)
    assert_one_network(generated)


def test_running_the_files_prints_their_summaries(generated):
    """``python FILE.py`` runs its demo: a forward pass on random input and a summary. One
    interpreter for all (torch imports once); U-Net's demo is 256x256, proven above smaller."""
    presets = ["tiny", "mlp", "cnn", "gpt2", "lstm_classifier", "transformer_classifier"]
    files = [generated[(p, "explicit", False)] for p in presets]
    script = "import runpy, sys\nfor path in sys.argv[1:]:\n    runpy.run_path(path, run_name='__main__')\n"
    done = subprocess.run(
        [sys.executable, "-c", script, *(str(path) for path, _ in files)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for _, resolved in files:
        assert f"-> output {(2, *resolved.output_shape)}" in done.stdout
        assert f"{resolved.total_params:,}" in done.stdout
