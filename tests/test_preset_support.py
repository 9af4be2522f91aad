"""What the graph presets (unet, gpt2, the token classifiers) needed from the shared code, each
checked on a small description of its own."""

from __future__ import annotations

import pytest

from conftest import import_file, run_cli
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.model import STYLES, ModelRequest, plan_model

PARAMETRIC = """
[model]
input = [16]
params = { p_drop = 0.5, use_bias = false }
[[model.layers]]
type = "Linear"
out_features = 32
bias = "use_bias"
[[model.layers]]
type = "Dropout"
p = "p_drop"
[[model.layers]]
op = "dropout"
p = "p_drop"
[[model.layers]]
type = "Linear"
out_features = 4
"""


def _generate(tmp_path, text: str, style: str = "explicit", name: str = "m"):
    spec = tmp_path / f"{name}.toml"
    spec.write_text(text)
    plan, resolved = plan_model(
        ModelRequest("Net", style=style, spec=spec), tmp_path / f"{name}.py"
    )
    plan.apply()
    return import_file(plan.files[0].path), resolved, plan.files[0].content


@pytest.mark.parametrize("style", list(STYLES))
def test_probabilities_and_flags_may_be_parameters(tmp_path, torch, style):
    module, resolved, source = _generate(tmp_path, PARAMETRIC, style)
    assert resolved.total_params == 16 * 32 + 32 * 4 + 4  # the first linear has no bias
    assert "bias=use_bias" in source and "p_drop" in source
    x = torch.ones(64, 16)
    model = module.Net()
    assert model.fc1.bias is None if style == "explicit" else True
    assert sum(p.numel() for p in model.parameters()) == resolved.total_params
    assert sum(p.numel() for p in module.Net(use_bias=True).parameters()) == 676
    # Both dropouts read the parameter, in forward as well as in a module.
    hidden = model(x)  # train mode: p = 0.5 twice
    plain = module.Net(p_drop=0.0)
    with torch.no_grad():
        for src, dst in zip(model.parameters(), plain.parameters(), strict=True):
            dst.copy_(src)
        assert not torch.equal(hidden, plain(x))
        assert torch.equal(model.eval()(x), plain(x))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("p_drop = 1.5, use_bias = false", "p must be a probability between 0 and 1, got 1.5"),
        # A misspelt parameter is one nothing reads: refused where the file is read.
        ("p_dorp = 0.5, use_bias = false", "nothing reads 'p_dorp' (did you mean 'p_drop'"),
    ],
)
def test_parameter_values_are_still_checked(tmp_path, params, message):
    text = PARAMETRIC.replace("p_drop = 0.5, use_bias = false", params)
    with pytest.raises(TorchgenError, match=message.replace("(", r"\(")):
        _generate(tmp_path, text)


ATTENTION = """
[model]
input = ["seq", 8]
lengths = { seq = 6 }
params = { p = 0.5 }
[[model.layers]]
type = "Linear"
name = "proj"
out_features = 8
[[model.layers]]
op = "dropout"
p = "p"
out = "h"
[[model.layers]]
op = "scaled_dot_product_attention"
in = ["h", "h", "h"]
is_causal = true
dropout_p = "p"
"""


def test_dropout_in_forward_applies_only_while_training(tmp_path, torch):
    module, _, source = _generate(tmp_path, ATTENTION)
    assert "dropout_p=self.p if self.training else 0.0" in source
    model = module.Net()
    x = torch.randn(2, 6, 8)
    with torch.no_grad():
        train = model(x)
        evaluated = model.eval()(x)
        off = module.Net(p=0.0)
        off.load_state_dict(model.state_dict())
        assert torch.equal(off.eval()(x), evaluated)
        assert not torch.equal(train, evaluated)
    # --check compares with the independent evaluation in eval mode, where both are off.
    spec = tmp_path / "m.toml"
    result = run_cli("model", "Net", "--spec", str(spec), "--check", "--stdout", cwd=tmp_path)
    assert result.exit_code == 0 and "check: ok" in result.output


def test_a_made_size_is_not_borrowed_from_an_input_as_large(tmp_path, torch):
    text = (
        '[model]\ninput = [64]\n[[model.layers]]\ntype = "Linear"\nout_features = 64\n'
        '[[model.layers]]\ntype = "Linear"\nout_features = 10\n'
    )
    module, _, source = _generate(tmp_path, text)
    assert "nn.Linear(64, 10)" in source
    assert module.Net(in_features=32)(torch.randn(2, 32)).shape == (2, 10)


def test_a_recurrent_layer_gives_hidden_size_features(tmp_path, torch):
    text = (
        '[model]\ninput = ["seq", 16]\nlengths = { seq = 4 }\nparams = { hidden = 16 }\n'
        '[[model.layers]]\ntype = "LSTM"\nhidden_size = "hidden"\nbatch_first = true\n'
        'out = "y"\n[[model.layers]]\ntype = "Linear"\nout_features = 3\n'
    )
    module, _, source = _generate(tmp_path, text)
    assert "nn.Linear(hidden, 3)" in source  # not the input's 16, as large by default
    assert module.Net(hidden=8)(torch.randn(2, 5, 16)).shape == (2, 5, 3)


SEVERAL_INPUTS = """
[model]
input = [8]
[[model.layers]]
type = "Linear"
out_features = 8
out = "h"
[[model.layers]]
block = "Mix"
name = "mix1"
in = ["h", "x"]
out = ["y1", "s1"]
[[model.layers]]
block = "Mix"
name = "mix2"
in = ["y1", "s1"]
out = ["y2", "s2"]
[[model.layers]]
op = "add"
in = ["y2", "s2"]
[blocks.Mix]
inputs = ["x", "skip"]
outputs = ["z", "skip"]
layers = [
  { type = "Linear", name = "proj", out_features = 8, in = "x" },
  { op = "add", in = ["proj", "skip"], out = "z" },
]
"""


@pytest.mark.parametrize("style", list(STYLES))
def test_check_runs_blocks_with_several_inputs_and_outputs(tmp_path, style):
    spec = tmp_path / "mix.toml"
    spec.write_text(SEVERAL_INPUTS)
    result = run_cli(
        "model", "Net", "--spec", str(spec), "--style", style, "--check", "--stdout", cwd=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert "the same outputs as an independent evaluation" in result.output


def test_logical_not_makes_a_padding_mask(tmp_path, torch):
    text = """
[model]
inputs = { x = { shape = ["seq", 8] }, mask = { shape = ["seq"], dtype = "bool" } }
lengths = { seq = 5 }
[[model.layers]]
op = "logical_not"
in = "mask"
out = "pad"
[[model.layers]]
type = "MultiheadAttention"
in = "x"
num_heads = 2
batch_first = true
call = { key_padding_mask = "pad" }
out = "y"
[[model.layers]]
op = "masked_mean"
in = ["y", "mask"]
"""
    module, resolved, source = _generate(tmp_path, text)
    assert "pad = mask.logical_not()" in source
    assert [i.dtype for i in resolved.inputs] == ["float32", "bool"]
    model = module.Net().eval()
    x, mask = torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
    with torch.no_grad():
        y = model(x, mask)
        changed = x.clone()
        changed[0, 3:] = 100.0  # what the mask hides never counts
        assert torch.allclose(model(changed, mask), y, atol=1e-6)


@pytest.mark.parametrize("preset", ["unet", "lstm_classifier", "transformer_classifier"])
def test_check_passes_for_the_graph_presets(tmp_path, preset):
    size = ["--input-size", "32"] if preset == "unet" else []
    result = run_cli("model", "Net", "--preset", preset, *size, "--check", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "the same outputs as an independent evaluation" in result.output
