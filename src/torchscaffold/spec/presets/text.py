"""Small token classifiers for padded batches of the ``sequence`` dataset kind.

Both take what that kind's ``pad_collate`` yields: ``input_ids`` (N, T) int64 padded with id 0
and ``attention_mask`` (N, T) bool, True on real tokens; both return (N, num_classes). Padding
never reaches the result: the LSTM runs forward in time, so a valid position never sees the
padding after it, attention masks the padded keys, and the pooling averages the valid positions
only (``masked_mean``). Sizes default to the dataset's synthetic data (a vocabulary of 100).
"""

from __future__ import annotations

from torchscaffold.spec.ir import Block, Input, Model, Step
from torchscaffold.spec.presets.build import B, L, O

INPUTS = (Input("input_ids", ("seq",), "int64"), Input("attention_mask", ("seq",), "bool"))
LENGTHS = (("seq", 32),)
PAD_ID = 0  # the sequence kind's pad_collate default


def _classifier(
    name: str,
    embedded: str,
    steps: tuple[Step, ...],
    params: tuple[tuple[str, object], ...],
    doc: str,
    blocks: tuple[Block, ...] = (),
) -> Model:
    """input_ids -> Embedding (its output named ``embedded``) -> ``steps``, which end in the
    value ``features`` (N, T, F) -> its mean over the valid positions -> a linear classifier."""
    main = Block(
        name=name,
        inputs=tuple(i.name for i in INPUTS),
        params=params,
        steps=(
            L(
                "Embedding",
                "embedding",
                inputs="input_ids",
                outputs=embedded,
                num_embeddings="vocab_size",
                embedding_dim="embed_dim",
                padding_idx=PAD_ID,
            ),
            *steps,
            O("masked_mean", inputs=("features", "attention_mask"), outputs="pooled", dim=1),
            L("Linear", "classifier", outputs="logits", out_features="num_classes"),
        ),
        doc=doc,
    )
    return Model(name, inputs=INPUTS, main=main, blocks=blocks, lengths=LENGTHS, doc=doc)


def lstm_classifier(name: str) -> Model:
    return _classifier(
        name,
        "x",
        (
            L(
                "LSTM",
                "lstm",
                outputs="features",
                hidden_size="hidden_size",
                num_layers="num_layers",
                batch_first=True,
            ),
        ),
        params=(
            ("vocab_size", 100),
            ("embed_dim", 64),
            ("hidden_size", 64),
            ("num_layers", 2),
            ("num_classes", 2),
        ),
        doc="A token classifier: embeddings, an LSTM (2 layers by default), the mean of its "
        "outputs over the valid positions, a linear layer.",
    )


ENCODER_BLOCK = Block(
    name="EncoderBlock",
    inputs=("x", "padding_mask"),
    params=(("num_heads", 4), ("dim_feedforward", 256), ("dropout", 0.1)),
    steps=(
        L("LayerNorm", "norm1"),
        L(
            "MultiheadAttention",
            "self_attn",
            outputs="attn",
            num_heads="num_heads",
            dropout="dropout",
            batch_first=True,
            call={"key_padding_mask": "padding_mask"},
        ),
        L("Dropout", "dropout1", p="dropout"),
        O("add", inputs=("x", "dropout1"), outputs="x1"),
        L("LayerNorm", "norm2"),
        L("Linear", "linear1", out_features="dim_feedforward"),
        L("ReLU", "activation"),
        L("Dropout", "ff_dropout", p="dropout"),
        L("Linear", "linear2", out_features="in_features"),
        L("Dropout", "dropout2", p="dropout"),
        O("add", inputs=("x1", "dropout2"), outputs="x2"),
    ),
    doc="A pre-LayerNorm transformer encoder layer (nn.TransformerEncoderLayer with "
    "norm_first=True): x + attention(norm1(x)) over the unpadded keys, then + a ReLU "
    "feed-forward network of norm2(x).",
)


def transformer_classifier(name: str) -> Model:
    layers = B(
        "EncoderBlock",
        "blocks",
        repeat="num_layers",
        inputs=("x", "padding_mask"),
        outputs="h",
        num_heads="num_heads",
        dim_feedforward="dim_feedforward",
        dropout="dropout",
    )
    return _classifier(
        name,
        "tokens",
        (
            O("arange", inputs="input_ids", outputs="positions", end="size(1)"),
            L(
                "Embedding",
                "pos_embedding",
                num_embeddings="max_len",
                embedding_dim="embed_dim",
            ),
            O("add", inputs=("tokens", "pos_embedding"), outputs="x"),
            O("logical_not", inputs="attention_mask", outputs="padding_mask"),
            layers,
            L("LayerNorm", "norm", outputs="features"),
        ),
        params=(
            ("vocab_size", 100),
            ("max_len", 512),
            ("embed_dim", 64),
            ("num_layers", 2),
            ("num_heads", 4),
            ("dim_feedforward", 256),
            ("dropout", 0.1),
            ("num_classes", 2),
        ),
        blocks=(ENCODER_BLOCK,),
        doc="A token classifier: token and learned position embeddings, pre-LayerNorm "
        "transformer encoder layers (2 by default) that attend over the unpadded tokens, a final LayerNorm, "
        "the mean over the valid positions, a linear layer.",
    )
