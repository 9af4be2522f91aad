"""The torchvision presets are torchvision's networks, layer for layer.

For each: the same parameters and buffers in the same order and shapes (so weights copy over by
position), a summary table that agrees with what torch builds, identical outputs after copying
torchvision's parameters in (eval mode, on a reduced input where the architecture allows), and
the default init its reference's constructor applies (the same statistics, tensor by tensor).

One style runs against torchvision (sequential: it nests containers the most); the style tests
in test_model_generated.py prove every style is the same network. Each model is built once per
test, at its full width: shapes on the meta device, numbers on small inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import import_file
from reference import torchvision_models
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.model import ModelRequest, plan_model
from torchscaffold.render import forward
from torchscaffold.shapes import ResolvedModel
from torchscaffold.spec.presets import PRESETS

STYLE = "sequential"
# preset -> (torchvision's constructor, the input size of the numeric comparison). ViT's
# position embedding fixes its input size: both are built with image_size at that size.
CASES = {
    "resnet18": ("resnet18", 64),
    "resnet34": ("resnet34", 64),
    "resnet50": ("resnet50", 64),
    "resnet101": ("resnet101", 64),
    "resnet152": ("resnet152", 64),
    "resnext50_32x4d": ("resnext50_32x4d", 64),
    "mobilenet_v2": ("mobilenet_v2", 64),
    "vgg11": ("vgg11", 32),
    "vgg16": ("vgg16", 32),
    "vit_b_16": ("vit_b_16", 32),
}
RESIZED = {"vit_b_16": "image_size"}  # a constructor argument, in both, for the input size
SAMPLE = 200_000  # values per tensor whose statistics are compared


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, tuple[type, ResolvedModel]]:
    """Each preset in one style, with its reference's init, generated once."""
    out = tmp_path_factory.mktemp("torchvision")
    classes = {}
    for preset in CASES:
        req = ModelRequest("Net", style=STYLE, preset=preset, init=PRESETS[preset].init)
        plan, resolved = plan_model(req, out / f"{preset}.py")
        plan.apply()
        classes[preset] = (import_file(Path(plan.files[0].path)).Net, resolved)
    return classes


def _shapes(tensors) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in tensors]


@pytest.mark.parametrize("preset", list(CASES))
def test_same_parameters_and_summary_as_torchvision(generated, torch, preset):
    tv_name, _ = CASES[preset]
    net, resolved = generated[preset]
    with torch.device("meta"):
        ours = net()
        reference = getattr(torchvision_models(), tv_name)()
        x = torch.empty(2, *resolved.input_shape)
    assert _shapes(ours.parameters()) == _shapes(reference.parameters())
    assert _shapes(ours.buffers()) == _shapes(reference.buffers())
    # The summary table: its total and output shape are torch's ...
    assert resolved.total_params == sum(p.numel() for p in reference.parameters())
    assert (2, *resolved.output_shape) == tuple(reference(x).shape)
    # ... and so is each row: the module the sequential style builds for it.
    plan = forward.plan(resolved.main, "layers")
    steps = resolved.main.steps
    modules = {s.name for s in steps if s.kind != "op"}  # an op is a call: no module
    modules |= {f"{s.name}.{m.name}" for s in steps for m in s.members if m.kind != "op"}
    outputs: dict[str, tuple[int, ...]] = {}
    hooks = []
    for row in (r for r in resolved.rows if r.name in modules):
        module = ours.get_submodule(forward.locate(plan, row.name, numbered=False))
        assert sum(p.numel() for p in module.parameters()) == row.params, row.name

        def record(m, args, out, name=row.name):
            outputs[name] = tuple(out.shape[1:])

        hooks.append(module.register_forward_hook(record))
    ours(x)
    for hook in hooks:
        hook.remove()
    rows = {r.name: r.out_shape for r in resolved.rows if r.name in outputs}
    assert outputs == rows


def _same_draw(a, b) -> None:
    """Two tensors initialised alike: equal where constant, else the same distribution (mean,
    std, and the share beyond two std that tells a normal from a uniform draw)."""
    a, b = a.detach().flatten(), b.detach().flatten()
    if bool((b == b[0]).all()):
        assert bool((a == b[0]).all())
        return
    # Draws are independent: a strided sample of a big tensor has the same statistics.
    a, b = a[:: max(1, a.numel() // SAMPLE)].double(), b[:: max(1, b.numel() // SAMPLE)].double()
    n = b.numel()
    std_a, std_b = a.std().item(), b.std().item()
    assert std_a == pytest.approx(std_b, rel=0.05 + 4 / n**0.5)
    assert abs(a.mean().item() - b.mean().item()) <= 6 * std_b / n**0.5
    if n >= 10_000:
        tails = [(t.abs() > 2 * s).double().mean().item() for t, s in ((a, std_a), (b, std_b))]
        assert tails[0] == pytest.approx(tails[1], abs=0.01)


# resnet101/152 are resnet50's classes, init and code at other depths (test_presets_depth
# proves resnet50 at layers=(3, 4, 23, 3) is torchvision's resnet101): their full-size init
# statistics, the slowest cases here, prove nothing more.
DEEPER = ("resnet101", "resnet152")


@pytest.mark.parametrize("preset", [p for p in CASES if p not in DEEPER])
def test_same_init_and_outputs_as_torchvision(generated, torch, preset):
    tv_name, size = CASES[preset]
    net, _ = generated[preset]
    kwargs = {RESIZED[preset]: size} if preset in RESIZED else {}
    torch.manual_seed(0)
    ours = net(**kwargs).eval()
    torch.manual_seed(0)
    reference = getattr(torchvision_models(), tv_name)(**kwargs).eval()
    params, ref_params = list(ours.parameters()), list(reference.parameters())
    assert _shapes(params) == _shapes(ref_params)
    # The generated init_weights draws as torchvision's constructor does.
    for i, (mine, theirs) in enumerate(zip(params, ref_params)):
        try:
            _same_draw(mine, theirs)
        except AssertionError as exc:
            name = list(dict(reference.named_parameters()))[i]
            raise AssertionError(f"{preset}: {name} is initialised differently") from exc
    # Away from the init where it is the same everywhere (norms, biases, a zero head or class
    # token: swapped or dropped, they would not show), then copied over by position.
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in ref_params:
            if p.dim() <= 1 or bool((p == p.flatten()[0]).all()):
                p.add_(torch.randn(p.shape, generator=generator), alpha=0.05)
        for b in reference.buffers():
            if b.is_floating_point():  # batch norm statistics that are not the identity
                b.copy_(torch.rand(b.shape, generator=generator) + 0.5)
        for mine, theirs in zip(params, ref_params):
            mine.copy_(theirs)
        for mine, theirs in zip(ours.buffers(), reference.buffers(), strict=True):
            mine.copy_(theirs)
        x = torch.randn(2, 3, size, size, generator=generator)
        expected = reference(x)
        got = ours(x)
    assert expected.abs().max() > 1e-3
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("preset", list(CASES))
def test_the_nested_style_loads_torchvision_weights_by_name(tmp_path, torch, preset):
    """``--style nested`` lays a preset out as torchvision does: the same state_dict keys in
    the same order, so its published weights load with strict=True and give the same outputs."""
    tv_name, size = CASES[preset]
    plan, _ = plan_model(ModelRequest("Net", style="nested", preset=preset), tmp_path / "n.py")
    plan.apply()
    kwargs = {RESIZED[preset]: size} if preset in RESIZED else {}
    torch.manual_seed(0)
    reference = getattr(torchvision_models(), tv_name)(**kwargs).eval()
    with torch.device("meta"):  # every tensor comes from the checkpoint: no init to pay for
        ours = import_file(tmp_path / "n.py").Net(**kwargs).eval()
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [384, 160])
def test_input_size_sets_vits_image_size(tmp_path, torch, size):
    """``--input-size`` of a model with an ``image_size`` parameter builds it for that size
    (ViT's position embedding grows with it), as torchvision's ``vit_b_16(image_size=...)``."""
    req = ModelRequest("Net", style=STYLE, preset="vit_b_16", input_size=(size,))
    plan, resolved = plan_model(req, tmp_path / "vit.py")
    plan.apply()
    net = import_file(Path(plan.files[0].path)).Net
    with torch.device("meta"):
        ours = net()
        reference = torchvision_models().vit_b_16(image_size=size)
        out = ours(torch.empty(2, 3, size, size))
    assert _shapes(ours.parameters()) == _shapes(reference.parameters())
    assert resolved.total_params == sum(p.numel() for p in reference.parameters())
    assert tuple(out.shape) == (2, *resolved.output_shape)


def test_input_size_of_a_square_only_model_must_be_square(tmp_path):
    req = ModelRequest("Net", style=STYLE, preset="vit_b_16", input_size=(384, 320))
    with pytest.raises(TorchgenError, match="square images"):
        plan_model(req, tmp_path / "vit.py")
    assert not (tmp_path / "vit.py").exists()
