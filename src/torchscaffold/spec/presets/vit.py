"""torchvision's Vision Transformer (Dosovitskiy et al., 2020).

The position embedding fixes the input size: ``image_size`` is a parameter of the model, and the
input must be image_size x image_size (``Net(image_size=384)`` for 384x384 images).

Init: ``vit``, as torchvision's constructor does it: the patch conv trunc_normal_(std=sqrt(1 /
fan_in)) with a zero bias, each MLP's linears xavier_uniform_ with biases normal_(std=1e-6), the
head zero, LayerNorms 1/0, attention as nn.MultiheadAttention initialises itself; the class token
starts at zero and the position embedding normal(std=0.02) where they are created.
"""

from __future__ import annotations

from collections.abc import Callable

from torchscaffold.spec.ir import Block, Model
from torchscaffold.spec.presets.build import B, G, L, O, T, model

LN_EPS = 1e-6  # torchvision's partial(nn.LayerNorm, eps=1e-6)

ENCODER_BLOCK = Block(
    name="EncoderBlock",
    params=(("num_heads", 12), ("mlp_dim", 3072)),
    steps=(
        L("LayerNorm", "ln_1", eps=LN_EPS),
        L(
            "MultiheadAttention",
            "self_attention",
            num_heads="num_heads",
            batch_first=True,
            outputs=("attention", "_"),  # the weights are not needed: need_weights=False
        ),
        L("Dropout", "dropout", p=0.0),
        O("add", inputs=("dropout", "x"), outputs="h"),
        L("LayerNorm", "ln_2", eps=LN_EPS),
        G(
            "mlp",
            L("Linear", out_features="mlp_dim"),
            L("GELU"),
            L("Dropout", p=0.0),
            L("Linear", out_features="in_features"),
            L("Dropout", p=0.0),
        ),
        O("add", inputs=("h", "mlp")),
    ),
    doc="A pre-norm transformer encoder block: self-attention and a GELU MLP, each after a "
    "LayerNorm and added back to its input.",
)


def _encoder(num_layers: int) -> Block:
    return Block(
        name="Encoder",
        params=(
            ("seq_length", 197),
            ("num_layers", num_layers),
            ("num_heads", 12),
            ("hidden_dim", 768),
            ("mlp_dim", 3072),
        ),
        tensors=(T("pos_embedding", (1, "seq_length", "hidden_dim"), "normal", std=0.02),),
        steps=(
            # pos_embedding + x (torchvision: x + pos_embedding, the same sum), so that the sizes
            # read as hidden_dim and seq_length.
            O("add", inputs=("pos_embedding", "x")),
            L("Dropout", "dropout", p=0.0),
            B(  # named as torchvision names them: encoder.layers.encoder_layer_0 ...
                "EncoderBlock",
                "layers",
                repeat="num_layers",
                instance_names="encoder_layer_{i}",
                num_heads="num_heads",
                mlp_dim="mlp_dim",
            ),
            L("LayerNorm", "ln", normalized_shape="hidden_dim", eps=LN_EPS),
        ),
        doc="The transformer encoder: a learned position embedding added to the tokens, a stack "
        "of encoder blocks and a final LayerNorm.",
    )


def vit(
    variant: str, patch_size: int, num_layers: int, num_heads: int, hidden_dim: int, mlp_dim: int
) -> Callable[[str], Model]:
    """torchvision's ``VisionTransformer`` at 224x224 with these sizes (``vit_b_16``:
    ``vit("B", 16, 12, 12, 768, 3072)``)."""

    def build(name: str) -> Model:
        return model(
            name,
            (3, 224, 224),
            (
                L(
                    "Conv2d",
                    "conv_proj",
                    out_channels="hidden_dim",
                    kernel_size="patch_size",
                    stride="patch_size",
                ),
                O("flatten", "patches", start_dim=2),  # (N, hidden_dim, n_h * n_w)
                O("permute", "tokens", dims=(0, 2, 1)),  # (N, n_h * n_w, hidden_dim)
                O(  # the class token, once per sample of the batch
                    "expand",
                    inputs="class_token",
                    outputs="batch_class_token",
                    sizes=("tokens.size(0)", -1, -1),
                ),
                O("concat", inputs=("batch_class_token", "tokens"), dim=1),
                B(
                    "Encoder",
                    "encoder",
                    seq_length="(image_size // patch_size) * (image_size // patch_size) + 1",
                    num_layers="num_layers",
                    hidden_dim="hidden_dim",
                    num_heads="num_heads",
                    mlp_dim="mlp_dim",
                ),
                O("select", "class_features", dim=1, index=0),  # the class token: x[:, 0]
                G("heads", L("Linear", "head", out_features="num_classes")),
            ),
            blocks=(ENCODER_BLOCK, _encoder(num_layers)),
            params=(  # torchvision's VisionTransformer's arguments, in its order
                ("image_size", 224),
                ("patch_size", patch_size),
                ("num_layers", num_layers),
                ("num_heads", num_heads),
                ("hidden_dim", hidden_dim),
                ("mlp_dim", mlp_dim),
                ("num_classes", 1000),
            ),
            tensors=(T("class_token", (1, 1, "hidden_dim")),),
            doc=f"ViT-{variant}/{patch_size} (Dosovitskiy et al., 2020), as in torchvision: "
            f"{patch_size}x{patch_size} patches embedded by a strided convolution, a class "
            f"token in front, {num_layers} pre-norm encoder blocks and a linear head on the "
            "class token. The input is image_size x image_size.",
        )

    return build
