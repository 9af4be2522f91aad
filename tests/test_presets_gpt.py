"""The gpt2 preset against nanoGPT's GPT (karpathy/nanoGPT, model.py), rewritten below with its
structure: GPTConfig, a LayerNorm with an optional bias, CausalSelfAttention through
scaled_dot_product_attention, MLP, Block, and GPT with the token embedding tied to the head.

The preset's depth (12 blocks) is its structure; the other sizes are constructor arguments, so
the comparisons run GPT-2's 12 layers at a small width and vocabulary, and the full size on the
meta device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from conftest import import_file
from torchscaffold.generate.model import ModelRequest, plan_model
from torchscaffold.spec.presets import PRESETS

SMALL = {"vocab_size": 100, "block_size": 32, "n_head": 2, "n_embd": 64}
N_LAYER = 12


@pytest.fixture(scope="module")
def nanogpt(torch):
    """nanoGPT's model.py, its training-free parts, as classes built on the session's torch."""
    nn = torch.nn
    F = torch.nn.functional

    @dataclass
    class GPTConfig:
        block_size: int = 1024
        vocab_size: int = 50304
        n_layer: int = 12
        n_head: int = 12
        n_embd: int = 768
        dropout: float = 0.0
        bias: bool = True

    class LayerNorm(nn.Module):
        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            assert config.n_embd % config.n_head == 0
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
            self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
            self.attn_dropout = nn.Dropout(config.dropout)
            self.resid_dropout = nn.Dropout(config.dropout)
            self.n_head = config.n_head
            self.n_embd = config.n_embd
            self.dropout = config.dropout

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=None,
                dropout_p=self.dropout if self.training else 0,
                is_causal=True,
            )
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
            self.attn = CausalSelfAttention(config)
            self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
            self.mlp = MLP(config)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            x = x + self.mlp(self.ln_2(x))
            return x

    class GPT(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.transformer = nn.ModuleDict(
                {
                    "wte": nn.Embedding(config.vocab_size, config.n_embd),
                    "wpe": nn.Embedding(config.block_size, config.n_embd),
                    "drop": nn.Dropout(config.dropout),
                    "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                    "ln_f": LayerNorm(config.n_embd, bias=config.bias),
                }
            )
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            _, t = idx.size()
            assert t <= self.config.block_size
            pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
            tok_emb = self.transformer.wte(idx)
            pos_emb = self.transformer.wpe(pos)
            x = self.transformer.drop(tok_emb + pos_emb)
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is not None:
                logits = self.lm_head(x)
                loss = F.cross_entropy(
                    logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
                )
            else:
                logits = self.lm_head(x[:, [-1], :])
                loss = None
            return logits, loss

    return GPTConfig, GPT


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
        reference = GPT(GPTConfig(vocab_size=50257))
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
