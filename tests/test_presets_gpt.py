"""The gpt2 preset against nanoGPT's GPT (karpathy/nanoGPT, model.py, in tests/nanogpt.py):
GPTConfig, a LayerNorm with an optional bias, CausalSelfAttention through
scaled_dot_product_attention, MLP, Block, and GPT with the token embedding tied to the head.

The preset's depth (12 blocks) is its structure; the other sizes are constructor arguments, so
the comparisons run GPT-2's 12 layers at a small width and vocabulary, and the full size on the
meta device.
"""

from __future__ import annotations

import math

import pytest

from conftest import import_file
from torchscaffold.generate.model import ModelRequest, plan_model
from torchscaffold.spec.presets import PRESETS

SMALL = {"vocab_size": 100, "block_size": 32, "n_head": 2, "n_embd": 64}
N_LAYER = 12


@pytest.fixture(scope="module")
def nanogpt(torch):
    """nanoGPT's GPTConfig and GPT (tests/nanogpt.py, its model.py trimmed to the modules)."""
    import nanogpt

    return nanogpt.GPTConfig, nanogpt.GPT


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The preset in a named style and in one that names its layers by position, and with its
    reference init."""
    out = tmp_path_factory.mktemp("gpt2")
    modules = {}
    for key, style, init in (
        ("explicit", "explicit", None),
        ("modulelist", "modulelist", None),
        ("nested", "nested", None),
        ("init", "explicit", "gpt2"),
    ):
        plan, resolved = plan_model(
            ModelRequest("Gpt", style=style, preset="gpt2", init=init), out / f"gpt_{key}.py"
        )
        plan.apply()
        modules[key] = (import_file(plan.files[0].path), resolved)
    return modules


def _seed(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


def _pair(torch, nanogpt, module, **overrides):
    GPTConfig, GPT = nanogpt
    torch.manual_seed(0)
    reference = GPT(GPTConfig(n_layer=N_LAYER, **{**SMALL, **overrides}))
    ours = module.Gpt(**{**SMALL, **overrides})
    return reference, ours


@pytest.mark.parametrize("style", ["explicit", "modulelist"])
def test_parameters_in_nanogpt_order_and_shapes(torch, nanogpt, generated, style):
    reference, ours = _pair(torch, nanogpt, generated[style][0])
    expected = [tuple(p.shape) for p in reference.parameters()]
    assert [tuple(p.shape) for p in ours.parameters()] == expected
    # The tie: one tensor that two layers hold, listed once (where nanoGPT lists it: first).
    held = list(ours.named_parameters(remove_duplicate=False))
    assert len(held) == len(expected) + 1
    assert held[0][1] is held[-1][1]  # the token embedding's weight is the head's
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )


@pytest.mark.parametrize("style", ["explicit", "modulelist"])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_same_logits_after_copying_parameters(torch, nanogpt, generated, style, dropout):
    """Identical logits for every position (nanoGPT's with targets) and the last one (without);
    with dropout > 0 in eval mode too, so no dropout is left on at inference (attention's
    included)."""
    reference, ours = _pair(torch, nanogpt, generated[style][0], dropout=dropout)
    with torch.no_grad():
        for src, dst in zip(reference.parameters(), ours.parameters(), strict=True):
            dst.copy_(src)
    reference.eval()
    ours.eval()
    idx = torch.randint(0, SMALL["vocab_size"], (3, 20), generator=_seed(1))
    with torch.no_grad():
        logits = ours(idx)
        full, _ = reference(idx, targets=idx)
        last, _ = reference(idx)
    assert logits.shape == (3, 20, SMALL["vocab_size"])
    assert torch.equal(logits, full)
    # nanoGPT's inference shortcut multiplies one row by the head: the same to rounding.
    assert torch.allclose(logits[:, -1:], last, atol=1e-6)


def test_training_gradients_match(torch, nanogpt, generated):
    reference, ours = _pair(torch, nanogpt, generated["explicit"][0])
    with torch.no_grad():
        for src, dst in zip(reference.parameters(), ours.parameters(), strict=True):
            dst.copy_(src)
    idx = torch.randint(0, SMALL["vocab_size"], (2, 16), generator=_seed(2))
    targets = torch.roll(idx, -1, dims=1)
    _, loss = reference(idx, targets=targets)
    loss.backward()
    logits = ours(idx)
    ours_loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    ours_loss.backward()
    assert torch.equal(ours_loss, loss)
    for a, b in zip(reference.parameters(), ours.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_full_size_matches_gpt2_small_on_meta(torch, nanogpt, generated):
    """The class's defaults are GPT-2 small: 124,439,808 parameters with the tie counted once,
    in nanoGPT's order and shapes (built on the meta device: no memory, no init)."""
    GPTConfig, GPT = nanogpt
    module, resolved = generated["explicit"]
    with torch.device("meta"):
        reference = GPT(GPTConfig(1024, 50257, n_layer=12, n_head=12, n_embd=768))
        ours = module.Gpt()
    expected = [tuple(p.shape) for p in reference.parameters()]
    assert [tuple(p.shape) for p in ours.parameters()] == expected
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters()) == 124_439_808
    assert resolved.total_params == count
    with torch.device("meta"):
        logits = ours(torch.randint(0, 50257, (2, 1024)))  # the whole context fits
    assert logits.shape == (2, 1024, 50257)


def test_the_input_is_token_ids_of_any_length(generated):
    _, resolved = generated["explicit"]
    (idx,) = resolved.inputs
    assert (idx.name, idx.dtype, idx.varying) == ("idx", "int64", ("seq",))
    assert dict(resolved.lengths) == {"seq": 64}  # the demo's short sequence


def _std(t) -> float:
    return t.detach().double().std().item()


def test_reference_init(torch, nanogpt, generated):
    """The preset's init (gpt2) draws what nanoGPT's does: normal(0.02) weights and
    embeddings, zero biases, c_proj weights at 0.02 / sqrt(2 n_layer)."""
    assert PRESETS["gpt2"].init == "gpt2"
    sizes = {**SMALL, "n_embd": 256, "vocab_size": 2048}
    torch.manual_seed(0)
    ours = generated["init"][0].Gpt(**sizes)
    reference, _ = _pair(torch, nanogpt, generated["explicit"][0], **sizes)
    scaled = 0.02 / math.sqrt(2 * N_LAYER)
    named = dict(reference.named_parameters())
    for (name, p), q in zip(named.items(), ours.parameters(), strict=True):
        if name.endswith("bias") and "ln" not in name:
            assert torch.all(q == 0), name
        elif "ln" in name:
            assert torch.equal(q, p), name  # ones and zeros
        else:
            std = scaled if name.endswith("c_proj.weight") else 0.02
            assert _std(p) == pytest.approx(std, rel=0.05), name
            assert _std(q) == pytest.approx(std, rel=0.05), name


def test_the_nested_style_loads_nanogpt_weights_by_name(torch, nanogpt, generated):
    """``--style nested`` lays GPT-2 out as nanoGPT does (transformer.wte, transformer.h.0...):
    the same state_dict keys in the same order, so a nanoGPT checkpoint loads strictly."""
    reference, ours = _pair(torch, nanogpt, generated["nested"][0])
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval(), reference.eval()
    idx = torch.randint(0, SMALL["vocab_size"], (2, 16), generator=_seed(1))
    with torch.no_grad():
        logits, _ = reference(idx, idx)  # nanoGPT returns every position's logits with targets
        assert torch.allclose(ours(idx), logits, atol=1e-5)
