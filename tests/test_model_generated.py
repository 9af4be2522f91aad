"""Every style x every preset: generate, import, instantiate, run forward and backward.

Big presets (VGG's 4096-wide classifier holds ~120M parameters) run forward/backward on the meta
device, which checks every shape and the autograd graph without allocating weights; the smaller
presets (and one VGG) also run on real tensors, and all styles are proven to be one network.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import assert_lint_clean, import_file
from torchscaffold.model_gen import STYLES, ModelRequest, plan_model
from torchscaffold.spec.presets import PRESETS

VARIANTS = [(s, False) for s in STYLES] + [("sequential", True)]
VARIANT_IDS = [f"{s}{'-numbered' if n else ''}" for s, n in VARIANTS]
# Small inputs keep the real runs fast; the shapes still pass through every layer.
REAL_SIZES = {"tiny": None, "mlp": None, "cnn": None, "resnet18": "64", "resnet34": "64"}


def _generate(out: Path, preset: str, style: str, numbered: bool, size: str | None = None):
    name = "Net"
    req = ModelRequest(
        name=name,
        style=style,
        numbered=numbered,
        preset=preset,
        input_size=tuple(int(v) for v in size.split("x")) if size else None,
    )
    suffix = f"{preset}_{style}{'_numbered' if numbered else ''}{'_' + size if size else ''}"
    plan, resolved = plan_model(req, out / f"{suffix}.py")
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


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_forward_backward_on_meta(generated, torch, preset, style, numbered):
    path, resolved = generated[(preset, style, numbered)]
    module = import_file(path)
    with torch.device("meta"):
        model = module.Net()
        x = torch.randn(2, *resolved.input_shape, requires_grad=True)
    y = model(x)
    assert tuple(y.shape) == (2, *resolved.output_shape)
    y.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == resolved.total_params


def _real(tmp_path, torch, preset, style, numbered, size):
    path, resolved = _generate(tmp_path, preset, style, numbered, size)
    model = import_file(path).Net()
    x = torch.randn(2, *resolved.input_shape)
    return model, x, resolved


@pytest.mark.parametrize("preset", list(REAL_SIZES))
@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_forward_backward_real(tmp_path, torch, preset, style, numbered):
    model, x, resolved = _real(tmp_path, torch, preset, style, numbered, REAL_SIZES[preset])
    y = model(x)
    assert tuple(y.shape) == (2, *resolved.output_shape)
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == resolved.total_params


def test_one_vgg_runs_for_real(tmp_path, torch):
    model, x, resolved = _real(tmp_path, torch, "vgg11", "explicit", False, "32")
    y = model(x)
    assert tuple(y.shape) == (2, 1000)
    y.sum().backward()
    assert sum(p.numel() for p in model.parameters()) == resolved.total_params == 132_863_336


@pytest.mark.parametrize("preset", ["tiny", "mlp", "cnn", "resnet18"])
def test_all_styles_are_the_same_network(tmp_path, torch, preset):
    size = REAL_SIZES[preset]
    models = []
    for style, numbered in VARIANTS:
        model, x, _ = _real(tmp_path, torch, preset, style, numbered, size)
        models.append(model.eval())
    reference = models[0]
    ref_params = list(reference.parameters())
    ref_buffers = list(reference.buffers())
    torch.manual_seed(1)
    with torch.no_grad():
        for p in ref_params:
            p.normal_(0, 0.05)
        expected = reference(x)
        for other in models[1:]:
            params = list(other.parameters())
            assert [p.shape for p in params] == [p.shape for p in ref_params]
            for dst, src in zip(params, ref_params):
                dst.copy_(src)
            for dst, src in zip(other.buffers(), ref_buffers):
                dst.copy_(src)
            assert torch.equal(other(x), expected)


def test_published_parameter_counts(generated):
    # torchvision's numbers for the same architectures.
    expected = {
        "vgg11": 132_863_336,
        "vgg13": 133_047_848,
        "vgg16": 138_357_544,
        "vgg19": 143_667_240,
        "resnet18": 11_689_512,
        "resnet34": 21_797_672,
    }
    for preset, count in expected.items():
        assert generated[(preset, "explicit", False)][1].total_params == count


@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_torch_export(generated, torch, style, numbered):
    path, resolved = generated[("tiny", style, numbered)]
    model = import_file(path).Net().eval()
    x = torch.randn(2, *resolved.input_shape)
    exported = torch.export.export(model, (x,))
    assert torch.allclose(exported.module()(x), model(x))


def test_regenerating_is_byte_identical(tmp_path, generated):
    """Every preset in every style (fast: regenerating hits the formatting cache)."""
    for (preset, style, numbered), (path, _) in generated.items():
        again, _ = _generate(tmp_path, preset, style, numbered)
        assert again.read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("preset", ["tiny", "mlp", "cnn"])
def test_running_the_file_prints_a_summary(generated, preset):
    import subprocess
    import sys

    path, resolved = generated[(preset, "explicit", False)]
    done = subprocess.run(
        [sys.executable, str(path)], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"-> output (2, {resolved.output_shape[0]})" in done.stdout
    assert f"{resolved.total_params:,}" in done.stdout
