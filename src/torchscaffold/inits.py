"""The weight-initialisation schemes the generator knows, by name.

The logic of each scheme lives once, in ``templates/init/schemes.j2`` (the ``init_loop`` macro):
the registered functions of ``initializers.py`` and a model's inline ``init_weights`` both render
from it. This module only names the schemes for the CLI (help text, validation) and never imports
torch.
"""

from __future__ import annotations

from torchscaffold.errors import unknown

# Name -> one-line help. Every scheme sets norm layers to weight 1 / bias 0, zeroes conv biases and
# an Embedding's padding_idx row, and skips parameters on the meta device; linear biases are zero
# unless the help says otherwise.
SCHEMES: dict[str, str] = {
    "kaiming_uniform": "conv and linear weights kaiming_uniform_ (ReLU gain), biases zero",
    "kaiming": "torchvision VGG and MobileNetV2: conv kaiming_normal_ (fan_out, ReLU), linear "
    "normal_(std=0.01), biases zero; optional zero-init of residual branches",
    "kaiming_conv": "torchvision ResNet: conv kaiming_normal_ (fan_out, ReLU), linear layers "
    "PyTorch's default (their reset_parameters); optional zero-init of residual branches",
    "xavier": "conv and linear weights xavier_uniform_, biases zero",
    "trunc_normal": "ViT style: conv, linear and embedding weights trunc_normal_ (std 0.02, "
    "cut at +-2 std), biases zero",
    "gpt2": "nanoGPT / GPT-2: conv, linear and embedding weights normal_(std=0.02), biases "
    "zero; weights named c_proj (the residual projections) std 0.02 / sqrt(2 n_layer); norms "
    "left to their own init",
    "orthogonal": "conv and linear weights orthogonal_, biases zero",
    "vit": "torchvision ViT: conv trunc_normal_ (std sqrt(1/fan_in)), linear xavier_uniform_ "
    "with biases normal_(std=1e-6), the last linear (the head) zero, attention's own init",
    "default": "re-run every layer's own reset_parameters() (PyTorch's defaults)",
}

DEFAULT_SCHEME = "kaiming"


def check_scheme(name: str) -> str:
    """Return ``name`` if it is a known scheme; else a did-you-mean error listing the schemes."""
    if name not in SCHEMES:
        raise unknown("init scheme", name, SCHEMES)
    return name
