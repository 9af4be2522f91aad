"""The layers added to the catalog, in specs a user would write, in every style: the generated
code is lint clean, runs forward and backward with the predicted shapes and parameter counts, and
every style builds one network (same parameters in the same order, identical outputs).

tests/test_layers_vs_torch.py checks each layer's rule against torch; this checks the code that
uses them: constructor arguments as torch reads them, functional forms in the explicit style,
expressions of block parameters in Unflatten's sizes, an Embedding fed by an op mid-graph.
"""

from __future__ import annotations

import pytest

from conftest import assert_lint_clean
from network import assert_one_network, generate_all

IMAGE = """
[model]
input = [3, 16, 16]
params = { num_classes = 5 }

[[layers]]
type = "ZeroPad2d"
padding = [1, 1, 2, 0]

[[layers]]
type = "Conv2d"
out_channels = 16
kernel_size = 3

[[layers]]
type = "InstanceNorm2d"
affine = true

[[layers]]
type = "ReLU6"
inplace = true

[[layers]]
block = "Inverted"
repeat = 2
width = 16

[[layers]]
type = "PixelUnshuffle"
downscale_factor = 2

[[layers]]
type = "PixelShuffle"
upscale_factor = 2

[[layers]]
type = "ConstantPad2d"
padding = 1
value = 0.5

[[layers]]
type = "AdaptiveMaxPool2d"
output_size = 4

[[layers]]
type = "Hardswish"

[[layers]]
type = "Flatten"

[[layers]]
type = "Unflatten"
dim = 1
unflattened_size = [16, -1]

[[layers]]
type = "RMSNorm"

[[layers]]
type = "Mish"

[[layers]]
type = "ConstantPad1d"
padding = [0, 2]
value = 1.0

[[layers]]
type = "Dropout1d"
p = 0.1

[[layers]]
type = "AvgPool1d"
kernel_size = 2

[[layers]]
type = "ELU"
alpha = 0.5

[[layers]]
type = "Softplus"
beta = 2.0

[[layers]]
type = "PReLU"
num_parameters = 16

[[layers]]
type = "ConvTranspose1d"
out_channels = 8
kernel_size = 2
stride = 2

[[layers]]
type = "InstanceNorm1d"

[[layers]]
type = "Hardsigmoid"

[[layers]]
type = "AdaptiveMaxPool1d"
output_size = 2

[[layers]]
type = "Flatten"

[[layers]]
type = "Linear"
out_features = "num_classes"

[blocks.Inverted]
params = { width = 16, expand = 2 }
residual = true
layers = [
  { type = "Conv2d", out_channels = "width * expand", kernel_size = 1, bias = false },
  { type = "BatchNorm2d" },
  { type = "ReLU6", inplace = true },
  { type = "Conv2d", out_channels = "width", kernel_size = 3, padding = 1, bias = false },
  { type = "BatchNorm2d" },
]
"""

# Unflatten's sizes from a block parameter (two instances, one class), and the 3-D layers.
VOLUME = """
[model]
input = [12, 32]

[[layers]]
block = "Split"
heads = 4

[[layers]]
block = "Split"
heads = 2

[blocks.Split]
params = { heads = 2 }
layers = [
  { type = "Unflatten", dim = 1, unflattened_size = ["heads", -1] },
  { type = "Flatten", start_dim = 1, end_dim = 2 },
  { type = "ConvTranspose1d", out_channels = 12, kernel_size = 1 },
  { type = "Unflatten", dim = -1, unflattened_size = [4, "32 // 4"] },
  { type = "Unflatten", dim = 1, unflattened_size = [1, -1] },
  { type = "BatchNorm3d" },
  { type = "AvgPool3d", kernel_size = 1 },
  { type = "MaxPool3d", kernel_size = [1, 2, 2], stride = 1, padding = [0, 1, 1] },
  { type = "AdaptiveAvgPool3d", output_size = [6, 4, 8] },
  { type = "ConvTranspose3d", out_channels = 1, kernel_size = 1 },
  { type = "Flatten", start_dim = 1, end_dim = 2 },
  { type = "Flatten", start_dim = 2, end_dim = 3 },
  { type = "ConvTranspose1d", out_channels = 12, kernel_size = 1 },
]
"""

# An Embedding anywhere: one on the input ids, one on positions an op computes mid-graph.
TOKENS = """
[model]
inputs = { ids = { shape = ["seq"], dtype = "int64" } }
lengths = { seq = 16 }

[[layers]]
type = "Embedding"
name = "tok"
num_embeddings = 100
embedding_dim = 8
in = "ids"

[[layers]]
op = "arange"
name = "positions"
end = "size(1)"
in = "ids"

[[layers]]
type = "Embedding"
name = "pos"
num_embeddings = 32
embedding_dim = 8
in = "positions"

[[layers]]
op = "add"
in = ["tok", "pos"]

[[layers]]
type = "RMSNorm"

[[layers]]
type = "Linear"
out_features = 4
"""

SPECS = {"image": IMAGE, "volume": VOLUME, "tokens": TOKENS}


@pytest.mark.parametrize("spec", list(SPECS))
def test_new_layers_run_in_every_style_as_one_network(tmp_path, torch, spec):
    path = tmp_path / f"{spec}.toml"
    path.write_text(SPECS[spec])
    generated = generate_all(tmp_path, name="Net", spec=path)
    assert_lint_clean(*(p for p, _ in generated.values()))
    assert_one_network(generated, export=False)
