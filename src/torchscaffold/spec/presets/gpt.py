"""GPT-2 as nanoGPT's ``model.py`` builds it (Radford et al., 2019; Karpathy's nanoGPT).

Layer for layer as nanoGPT's ``GPT``: token and learned position embeddings, dropout, a chain of
pre-LayerNorm blocks (causal self-attention through one fused ``c_attn`` and
``F.scaled_dot_product_attention``, a GELU MLP 4x wide), a final LayerNorm and a head without
bias whose weight the token embedding shares. Parameters come in nanoGPT's order with nanoGPT's
shapes; the tied weight is counted once. Only the logits of every position are returned (no
loss, no generation loop).

The constructor takes GPTConfig's fields in its order (block_size, vocab_size, n_layer, n_head,
n_embd, dropout, bias), the depth included: ``GPT(n_layer=2)`` is nanoGPT's ``GPT`` with
``n_layer=2``, its blocks built as nanoGPT builds them (``for _ in range(n_layer)``).
"""

from __future__ import annotations

from collections.abc import Callable

from torchscaffold.spec.ir import Block, Input, Model, Step
from torchscaffold.spec.presets.build import B, L, O

# nanoGPT's GPTConfig, where its values are GPT-2 small's; vocab_size is GPT-2's 50257 (nanoGPT
# pads its own default to 50304 for speed, and loads 50257 for the pretrained weights).
CONFIG = (
    ("block_size", 1024),
    ("vocab_size", 50257),
    ("n_layer", 12),
    ("n_head", 12),
    ("n_embd", 768),
    ("dropout", 0.0),
    ("bias", True),
)
BLOCK_PARAMS = (("n_embd", 768), ("n_head", 12), ("dropout", 0.0), ("bias", True))
PASS = {"n_embd": "n_embd", "n_head": "n_head", "dropout": "dropout", "bias": "bias"}


def _heads(value: str) -> tuple[Step, Step]:
    """(N, T, C) -> (N, n_head, T, C // n_head), as nanoGPT's ``view(...).transpose(1, 2)``."""
    return (
        O("unflatten", f"{value}_split", inputs=value, dim=-1, sizes=("n_head", -1)),
        O("transpose", f"{value}_heads", dim0=1, dim1=2),
    )


ATTENTION = Block(
    name="CausalSelfAttention",
    params=BLOCK_PARAMS,
    steps=(
        L("Linear", "c_attn", in_features="n_embd", out_features="3 * n_embd", bias="bias"),
        O("split", outputs=("q", "k", "v"), split_size="n_embd", dim=2),
        *_heads("q"),
        *_heads("k"),
        *_heads("v"),
        O(
            "scaled_dot_product_attention",
            "attention",
            inputs=("q_heads", "k_heads", "v_heads"),
            outputs="y",
            is_causal=True,
            dropout_p="dropout",
        ),
        O("transpose", dim0=1, dim1=2),
        O("flatten", start_dim=2),
        L("Linear", "c_proj", in_features="n_embd", out_features="n_embd", bias="bias"),
        L("Dropout", "resid_dropout", p="dropout"),
    ),
    doc="Causal multi-head self-attention: one linear makes queries, keys and values for every "
    "head; scaled dot-product attention over the positions so far; an output projection.",
)

MLP = Block(
    name="MLP",
    params=(("n_embd", 768), ("dropout", 0.0), ("bias", True)),
    steps=(
        L("Linear", "c_fc", in_features="n_embd", out_features="4 * n_embd", bias="bias"),
        L("GELU", "gelu"),
        L("Linear", "c_proj", out_features="n_embd", bias="bias"),
        L("Dropout", "drop", p="dropout"),
    ),
    doc="The feed-forward network: a linear 4x wide, GELU, a linear back to n_embd.",
)

BLOCK = Block(
    name="Block",
    params=BLOCK_PARAMS,
    steps=(
        L("LayerNorm", "ln_1", normalized_shape="n_embd", bias="bias"),
        B("CausalSelfAttention", "attn", **PASS),
        O("add", inputs=("x", "attn"), outputs="x1"),
        L("LayerNorm", "ln_2", normalized_shape="n_embd", bias="bias"),
        B("MLP", "mlp", **{k: v for k, v in PASS.items() if k != "n_head"}),
        O("add", inputs=("x1", "mlp"), outputs="x2"),
    ),
    doc="A transformer block with pre-LayerNorm: x + attn(ln_1(x)), then + mlp(ln_2(x)).",
)


def gpt(n_layer: int = 12) -> Callable[[str], Model]:
    def build(name: str) -> Model:
        main = Block(
            name=name,
            inputs=("idx",),
            params=tuple((k, n_layer if k == "n_layer" else v) for k, v in CONFIG),
            steps=(
                L(
                    "Embedding",
                    "transformer.wte",
                    inputs="idx",
                    outputs="tok_emb",
                    num_embeddings="vocab_size",
                    embedding_dim="n_embd",
                ),
                O("arange", inputs="idx", outputs="pos", end="size(1)"),
                L(
                    "Embedding",
                    "transformer.wpe",
                    outputs="pos_emb",
                    num_embeddings="block_size",
                    embedding_dim="n_embd",
                ),
                O("add", inputs=("tok_emb", "pos_emb"), outputs="x"),
                L("Dropout", "transformer.drop", p="dropout"),
                B("Block", "transformer.h", repeat="n_layer", **PASS),
                L("LayerNorm", "transformer.ln_f", normalized_shape="n_embd", bias="bias"),
                L("Linear", "lm_head", out_features="vocab_size", bias=False),
            ),
            ties=(("transformer.wte.weight", "lm_head.weight"),),
            doc=f"GPT-2 small ({n_layer} layers) as nanoGPT builds it: token ids to the "
            "next-token logits of every position.",
        )
        return Model(
            name=name,
            inputs=(Input("idx", ("seq",), "int64"),),
            main=main,
            blocks=(ATTENTION, MLP, BLOCK),
            lengths=(("seq", 64),),
            doc=main.doc,
        )

    return build
