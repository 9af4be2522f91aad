"""Depth is an argument, as in the references: the presets built at other depths are the
references built with the same arguments — gpt2's ``n_layer`` (nanoGPT's GPTConfig), vit_b_16's
``num_layers`` (torchvision's VisionTransformer), the ResNets' ``layers`` (torchvision's
``ResNet(block, layers)``: resnet50 with ``layers=(3, 4, 23, 3)`` is resnet101).

In every style the parameters come in the reference's order and shapes (on the meta device); in
the nested style the reference's state_dict loads strictly and the outputs are the same.
"""

from __future__ import annotations

import pytest

from conftest import import_file
from reference import torchvision_models
from torchscaffold.generate.model import ModelRequest, plan_model

STYLES = ["explicit", "add_module", "sequential", "modulelist", "moduledict", "nested"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(preset, style) -> the generated class, built lazily and once."""
    out = tmp_path_factory.mktemp("depth")
    cache: dict[tuple[str, str], type] = {}

    def get(preset: str, style: str) -> type:
        if (preset, style) not in cache:
            path = out / f"{preset}_{style}.py"
            plan, _ = plan_model(ModelRequest("Net", style=style, preset=preset), path)
            plan.apply()
            cache[preset, style] = import_file(path).Net
        return cache[preset, style]

    return get


def _shapes(module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


def _same_network(torch, ours, reference, x) -> None:
    """Strict load of the reference's state_dict, then the same outputs."""
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval(), reference.eval()
    with torch.no_grad():
        expected = reference(x)
        expected = expected[0] if isinstance(expected, tuple) else expected
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)


GPT_SMALL = {"vocab_size": 100, "block_size": 32, "n_head": 2, "n_embd": 32}


@pytest.mark.parametrize("n_layer", [1, 3])
def test_gpt2_at_other_depths_is_nanogpts_gpt(torch, generated, n_layer):
    import nanogpt

    reference = nanogpt.GPT(nanogpt.GPTConfig(n_layer=n_layer, **GPT_SMALL))
    for style in STYLES:
        ours = generated("gpt2", style)(n_layer=n_layer, **GPT_SMALL)
        assert _shapes(ours) == _shapes(reference), style
    ours = generated("gpt2", "nested")(n_layer=n_layer, **GPT_SMALL)
    idx = torch.randint(0, GPT_SMALL["vocab_size"], (2, 16))
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval(), reference.eval()
    with torch.no_grad():
        logits, _ = reference(idx, idx)  # with targets: every position's logits
        torch.testing.assert_close(ours(idx), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_vit_at_other_depths_is_torchvisions(torch, generated, num_layers):
    tv = torchvision_models()
    from torchvision.models.vision_transformer import VisionTransformer

    kwargs = {"image_size": 32, "num_layers": num_layers}
    reference = VisionTransformer(
        patch_size=16, num_heads=12, hidden_dim=768, mlp_dim=3072, **kwargs
    )
    assert tv is not None
    for style in STYLES:
        with torch.device("meta"):
            ours = generated("vit_b_16", style)(**kwargs)
        assert _shapes(ours) == _shapes(reference), style
    ours = generated("vit_b_16", "nested")(**kwargs)
    _same_network(torch, ours, reference, torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(
    ("preset", "layers", "reference_name"),
    [
        ("resnet50", (3, 4, 23, 3), "resnet101"),
        ("resnet18", (3, 4, 6, 3), "resnet34"),
    ],
)
def test_resnet_layers_are_torchvisions(torch, generated, preset, layers, reference_name):
    reference = getattr(torchvision_models(), reference_name)()
    for style in STYLES:
        with torch.device("meta"):
            ours = generated(preset, style)(layers=layers)
        assert _shapes(ours) == _shapes(reference), style
    ours = generated(preset, "nested")(layers=layers)
    _same_network(torch, ours, reference, torch.randn(1, 3, 64, 64))
