"""TOML specs: the documented examples generate and run in every style; bad specs are refused."""

from __future__ import annotations

import pytest

from conftest import ROOT, import_file
from torchscaffold.check import check_model
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.model import ModelRequest, plan_model
from torchscaffold.spec.loader import parse_spec

EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.toml"))


def test_parameters_flow_into_the_signature(tmp_path, torch):
    spec = ROOT / "docs" / "examples" / "mlp_blocks.toml"
    plan, _ = plan_model(ModelRequest("Spec", spec=spec), tmp_path / "m.py")
    plan.apply()
    module = import_file(tmp_path / "m.py")
    model = module.Spec(in_features=7, num_classes=5, width=16)
    assert model(torch.randn(3, 7)).shape == (3, 5)


def _spec(body: str) -> dict:
    import tomllib

    return tomllib.loads(body)


BASE = "[model]\ninput = [3, 16, 16]\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            BASE + '[[layers]]\ntype = "Conv2D"\nout_channels = 4\nkernel_size = 3\n',
            "unknown layer type 'Conv2D' (did you mean 'Conv2d'?)",
        ),
        (
            BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernal_size = 3\n',
            "unknown argument 'kernal_size' (did you mean 'kernel_size'?)",
        ),
        (
            BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 0\nkernel_size = 3\n',
            "out_channels must be an integer >= 1, got 0",
        ),
        (
            BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = "width"\nkernel_size = 3\n',
            "'width' is not a parameter here",
        ),
        (BASE + '[[layers]]\ntype = "Dropout"\np = 1.5\n', "p must be a probability"),
        (
            BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 4\n',
            "missing required argument kernel_size",
        ),
        (
            BASE + '[[layers]]\ntype = "Linear"\nin_features = 5\nout_features = 2\n',
            "in_features=5 does not match its input (N, 3, 16, 16); expected 16",
        ),
        (
            BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernel_size = 17\n',
            "kernel of size 17 (dilated) is bigger than the padded input 16",
        ),
        (
            BASE
            + '[[layers]]\ntype = "Conv2d"\nin_channels = 4\nout_channels = 4\nkernel_size = 3\n',
            "in_channels=4 does not match its input (N, 3, 16, 16); expected 3",
        ),
        (BASE + '[[layers]]\nblock = "Nope"\n', "unknown block 'Nope'"),
        (BASE + '[[layers]]\ntype = "ReLU"\nname = "forward"\n', "would shadow an nn.Module"),
        (
            BASE + '[[layers]]\ntype = "ReLU"\nname = "a"\n[[layers]]\ntype = "ReLU"\nname = "a"\n',
            "the name 'a' is used twice",
        ),
        ('[model]\ninput = [3, 0]\n[[layers]]\ntype = "ReLU"\n', "positive integers"),
        ("[model]\ninptu = [3]\n", "unknown key 'inptu' in [model] (did you mean 'input'?)"),
        (
            BASE + '[[layers]]\ntype = "Flatten"\n[[layers]]\ntype = "Embedding"\n'
            "num_embeddings = 3\nembedding_dim = 2\n",
            "it looks up integer ids, but its input (N, 768) holds float32",
        ),
        (
            BASE + '[[layers]]\nblock = "B"\n[blocks.B]\nresidual = true\nprojection = false\n'
            'layers = [{ type = "Conv2d", out_channels = 8, kernel_size = 3, padding = 1 }]\n',
            "the shortcut cannot project",
        ),
        (
            BASE + '[[layers]]\nblock = "B"\n[blocks.B]\nlayers = [{ block = "B" }]\n',
            "block B contains itself",
        ),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(body, message):
    from torchscaffold.shapes import resolve
    from torchscaffold.spec.options import finalize

    with pytest.raises(TorchgenError) as err:
        resolve(finalize(parse_spec(_spec(body), "Net")))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_toml_names_the_line(tmp_path):
    from torchscaffold.spec.loader import load_spec

    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\ninput = [3, 16, 16]\n[[layers]]\ntype = "ReLU\n')
    with pytest.raises(TorchgenError, match=r"malformed TOML: .*line 4"):
        load_spec(bad, "Net")


def test_spec_text_never_reaches_code_unvalidated(tmp_path):
    # A string value that is not a parameter cannot be smuggled into a constructor call.
    body = (
        BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = "__import__(\'os\')"\nkernel_size = 3\n'
    )
    with pytest.raises(TorchgenError, match="is not allowed; expressions take"):
        parse_spec(_spec(body), "Net")
    body = BASE + '[[layers]]\ntype = "Upsample"\nmode = "nearest\\"); import os #"\nsize = 4\n'
    with pytest.raises(TorchgenError, match="mode must be one of"):
        parse_spec(_spec(body), "Net")


def test_user_text_cannot_escape_into_code(tmp_path, torch):
    """A doc string that tries to close the docstring, a file name with a newline, an inf."""
    evil = 'bye""" + __import__("os").system("touch PWNED") + """ \\\\ \\" end'
    spec = tmp_path / "spec\nimport os\n.toml"
    spec.write_text(
        "[model]\ninput = [4]\ndoc = '" + evil.replace("'", "") + "'\n"
        '[[layers]]\ntype = "Linear"\nout_features = 2\n'
    )
    plan, _ = plan_model(ModelRequest("Spec", spec=spec), tmp_path / "m.py")
    plan.apply()
    text = (tmp_path / "m.py").read_text()
    assert "\nimport os\n" not in text
    module = import_file(tmp_path / "m.py")
    assert 'bye"""' in module.Spec.__doc__.replace("\n    ", " ")
    assert not (tmp_path / "PWNED").exists()
    bad = BASE + '[[layers]]\ntype = "BatchNorm2d"\neps = inf\n'
    with pytest.raises(TorchgenError, match="eps must be a positive number"):
        parse_spec(_spec(bad), "Net")


def test_a_block_that_flattens_its_spatial_sizes(tmp_path, torch):
    """Each spatial size of a block's input is its own number in the constructor (the fuzzer
    found LayerNorm(in_channels * 2 * 2) for a 1 x 2 input: each was the whole dim)."""
    spec = tmp_path / "flat.toml"
    spec.write_text(
        "[model]\ninput = [3, 2, 5]\n"
        '[[layers]]\nblock = "Unit"\n'
        '[blocks.Unit]\nlayers = [{ type = "Flatten" }, { type = "LayerNorm" }]\n'
    )
    plan, resolved = plan_model(ModelRequest("Spec", spec=spec), tmp_path / "m.py")
    source = plan.files[0].content
    assert "nn.LayerNorm(in_channels * 2 * 5)" in source
    assert check_model(source, resolved).startswith("check: ok")
