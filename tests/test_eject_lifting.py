"""The lifting mechanisms the zoos need, each on a small model with the shape of a torchvision
forward: ejected, imported, loaded with its ``--weights`` (strict) and compared with the
original."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_eject import STYLES, assert_same_function, eject

from conftest import assert_lint_clean, import_file, run_cli
from strategies import toml_spec

MODELS = Path(__file__).resolve().parent / "eject_lifting_models.py"


@pytest.mark.parametrize("style", ["explicit", "nested", "sequential", "add_module"])
def test_a_block_called_with_the_list_of_every_output_before_it(torch, tmp_path, style):
    """DenseNet: each layer gets the list so far as that many inputs (the list is recorded as
    it was at the call, not as it grew); ``torch.cat`` of one tensor is that tensor; the cat
    that meets a layer's inputs moves to its call, so the layers are one class; each cat is
    the one before it and one more tensor, so the layer returns its input and its output
    concatenated, and the stage is a loop whose i-th layer is 4 * i wider."""
    import eject_lifting_models

    torch.manual_seed(0)
    original = eject_lifting_models.TinyDenseNet()
    path, output = eject(
        tmp_path, f"{MODELS}:TinyDenseNet", "--style", style, "--input-shape", "3x8x8"
    )
    source = path.read_text()
    assert "lifted as" not in output and source.count("class DenseLayer") == 1
    assert "DenseLayer(8 + 4 * i)" in source and "range(3)" in source, source
    assert source.count("torch.cat(") == 1  # in DenseLayer.forward only
    assert_same_function(torch, path, original, torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_instances_differing_in_tuples_and_tensor_sizes(torch, tmp_path, style):
    """ConvNeXt: a Permute order that differs makes two classes (a parameter is a number);
    a tensor of the class sized by its width is sized by a parameter; EfficientNetV2: a
    repeated stage's first block spells out its default where the others differ."""
    import eject_lifting_models

    torch.manual_seed(0)
    path, output = eject(tmp_path, f"{MODELS}:Stages", "--style", style, "--input-shape", "3x4x4")
    assert "lifted as 2 classes (Permute, Permute2)" in output
    text = path.read_text()
    assert "nn.Parameter(torch.zeros(" in text and "torch.zeros(12, 1, 1)" not in text
    assert_same_function(torch, path, eject_lifting_models.Stages(), torch.randn(2, 3, 4, 4))


def test_a_block_given_a_number_and_a_builtin_functional(torch, tmp_path):
    import eject_lifting_models

    torch.manual_seed(0)
    path, _ = eject(tmp_path, f"{MODELS}:Literals", "--input-shape", "4x6x6")
    assert "F.avg_pool2d(" in path.read_text() or "nn.AvgPool2d(" in path.read_text()
    assert_same_function(torch, path, eject_lifting_models.Literals(), torch.randn(2, 4, 6, 6))


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_tensors_the_forward_reads_are_the_classs_and_in_the_weights(torch, tmp_path, style):
    """A parameter, an int64 buffer, a buffer with ``persistent=False`` and a constant the
    trace materialises: each a tensor of the lifted class (the index keeps its dtype), each
    persistent, so ``--weights`` holds its values."""
    import eject_lifting_models

    path, _ = eject(tmp_path, f"{MODELS}:RelativeBias", "--style", style, "--input-shape", "4")
    generated = import_file(path).Net().eval()
    weights = torch.load(tmp_path / "net.pt")
    generated.load_state_dict(weights, strict=True)
    assert generated.index.dtype == torch.int64
    assert set(weights) == {
        "table", "index", "mask", "tensor_constant0", "fc.weight", "fc.bias"
    }  # fmt: skip
    original = eject_lifting_models.RelativeBias().eval()
    original.load_state_dict({k: weights[k] for k in original.state_dict()}, strict=True)
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original(x))


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"shape": [3], "buffer": True, "dtype": "int64"}, None),
        ({"shape": [3], "buffer": True, "init": "ones", "dtype": "bool"}, None),
        ({"shape": [3], "dtype": "int64"}, "other than float32 only for a buffer"),
        ({"shape": [3], "buffer": True, "init": "normal", "dtype": "int64"}, "only for a buffer"),
        ({"shape": [3], "buffer": True, "dtype": "int8"}, "dtype must be one of"),
    ],
)
def test_a_tensors_dtype_in_the_format(torch, tmp_path, table, error):
    """An ejected index table is an int64 buffer in the description too: the file it
    generates declares it so, and a dtype where it means nothing is one line."""
    spec = {
        "model": {"input": [3], "tensors": {"t": table}},
        "layers": [{"op": "add", "in": ["x", "t"]}],
    }
    (tmp_path / "s.toml").write_text(toml_spec(spec))
    result = run_cli("model", "Net", "--spec", "s.toml", cwd=tmp_path)
    if error is not None:
        assert result.exit_code == 1 and error in result.output, result.output
        return
    assert result.exit_code == 0, result.output
    net = import_file(tmp_path / "net.py").Net()
    assert str(net.t.dtype) == f"torch.{table['dtype']}"


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_a_head_only_training_calls_is_kept(torch, tmp_path, style):
    """GoogLeNet's and Inception's auxiliary heads: eval's outputs, every tensor in the class
    and the weights (the head after the value it reads, its output unread), and a note."""
    import eject_lifting_models

    torch.manual_seed(0)
    path, output = eject(tmp_path, f"{MODELS}:WithAux", "--style", style, "--input-shape", "3x6x6")
    assert "kept what only training calls: aux" in output
    assert "_ = self.aux(stem)" in path.read_text()
    generated = import_file(path).Net().eval()
    weights = torch.load(tmp_path / "net.pt")
    generated.load_state_dict(weights, strict=True)
    original = eject_lifting_models.WithAux().eval()
    original.load_state_dict(weights, strict=True)  # the same keys, in the order of the calls
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original(x))


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_a_block_some_instances_have_fits_the_others(torch, tmp_path, style):
    """An absent block is still built from its arguments: one that follows the class's width
    where it is present is written as that width, so it fits every instance."""
    import eject_lifting_models

    torch.manual_seed(0)
    source = f"{MODELS}:SometimesExcited"
    path, _ = eject(tmp_path, source, "--style", style, "--input-shape", "8x4x4")
    assert "lifted as" not in path.read_text()
    original = eject_lifting_models.SometimesExcited()
    assert_same_function(torch, path, original, torch.randn(2, 8, 4, 4))


@pytest.mark.parametrize(
    ("source", "style"),
    [("CalledTwice", "explicit"), ("CalledTwice", "nested"), ("TwiceInside", "explicit")],
)
def test_a_layer_with_weights_called_twice(torch, tmp_path, source, style):
    """Each call a layer of its own, the second's tensors tied to the first's (running
    statistics included), in the model or in a block: one set of weights, as the original."""
    import eject_lifting_models

    path, _ = eject(tmp_path, f"{MODELS}:{source}", "--style", style, "--input-shape", "4")
    assert "self.fc_1.weight = self.fc.weight" in path.read_text()
    generated = import_file(path).Net().eval()
    weights = torch.load(tmp_path / "net.pt")
    generated.load_state_dict(weights, strict=True)
    original = getattr(eject_lifting_models, source)().eval()
    original.load_state_dict({k: weights[k] for k in original.state_dict()}, strict=True)
    assert sum(p.numel() for p in generated.parameters()) == sum(
        p.numel() for p in original.parameters()
    )
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original(x))


def test_a_head_training_cannot_run_is_one_line(torch, tmp_path):
    from conftest import tree_snapshot

    before = tree_snapshot(tmp_path)
    result = run_cli(
        "model", "Net", "--from", f"{MODELS}:AuxTooLarge", "--input-shape", "3x4x4",
        "--weights", "net.pt", cwd=tmp_path,
    )  # fmt: skip
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("Error: cannot lift aux: only training calls it, and in training")
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_tensors_declared_in_the_order_the_original_registered_them(torch, tmp_path, style):
    """Not the order the forward reads them: ``--weights`` converts by order."""
    import eject_lifting_models

    path, _ = eject(tmp_path, f"{MODELS}:ReadOutOfOrder", "--style", style, "--input-shape", "3x4")
    assert list(torch.load(tmp_path / "net.pt")) == [
        "cls_token", "pos_embed", "scale", "shift", "fc.weight", "fc.bias"
    ]  # fmt: skip
    original = eject_lifting_models.ReadOutOfOrder()
    assert_same_function(torch, path, original, torch.randn(2, 3, 4))


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_sequentials_of_one_class_in_a_module_list(torch, tmp_path, style):
    """Each is its block repeated twice, under its own name: not the first instance alone."""
    import eject_lifting_models

    torch.manual_seed(0)
    source = f"{MODELS}:SequentialsInAList"
    path, _ = eject(tmp_path, source, "--style", style, "--input-shape", "4")
    original = eject_lifting_models.SequentialsInAList()
    assert_same_function(torch, path, original, torch.randn(2, 4))


@pytest.mark.parametrize("source", ["Borrowing", "Standardized"])
@pytest.mark.parametrize("style", STYLES)
def test_tensors_of_a_submodule_or_computed_from_the_classs_own(torch, tmp_path, source, style):
    """A forward that reads a submodule's tensors without calling it (BEiT's ``F.linear``
    with ``self.qkv.weight``, CoAtNet's relative-position table, Eva's rope) holds them as
    its own; a subclass of a layer that computes from its own weight (a standardised
    convolution, by its statistics or by ``F.batch_norm`` without running statistics) is
    lifted as the ops it runs on tensors of its own: the weights load strict and the outputs
    are the original's."""
    import eject_lifting_models

    shape = "3x6x6" if source == "Standardized" else "5x6"
    torch.manual_seed(0)
    path, _ = eject(tmp_path, f"{MODELS}:{source}", "--style", style, "--input-shape", shape)
    torch.manual_seed(0)  # the instance the command lifted: its weights are in net.pt
    original = getattr(eject_lifting_models, source)().eval()
    generated = import_file(path).Net().eval()
    generated.load_state_dict(torch.load(tmp_path / "net.pt"), strict=True)
    assert sum(p.numel() for p in generated.parameters()) == sum(
        p.numel() for p in original.parameters()
    )
    x = torch.randn(3, *(int(n) for n in shape.split("x")))
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original(x))
    assert_lint_clean(path)


@pytest.mark.parametrize("source", ["UnevenStages", "Shortcuts"])
@pytest.mark.parametrize("style", STYLES)
def test_a_step_only_some_instances_have_fits_the_others(torch, tmp_path, source, style):
    """ResNetV2: a stage class whose later blocks only the deepest stage has; GhostNet: a
    shortcut whose depthwise convolution is as wide as the block's input, in the blocks that
    change the shape only. Absent, each is still built from its arguments, which follow what
    every instance has (its stage's width, not a multiple of its stride; the input's
    channels), so it fits there too."""
    import eject_lifting_models

    torch.manual_seed(0)
    path, output = eject(tmp_path, f"{MODELS}:{source}", "--style", style, "--input-shape", "3x8x8")
    assert "lifted as" not in output
    original = getattr(eject_lifting_models, source)()
    assert_same_function(torch, path, original, torch.randn(2, 3, 8, 8))
