"""``torchgen model NAME --from MODULE:CALLABLE``: every ejected file is imported, loaded with its
``--weights`` (strict) and compared with the original it was lifted from."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import assert_lint_clean, assert_suite_passes, import_file, run_cli, tree_snapshot
from reference import torchvision_models
from torchscaffold.generate.convert import rekey

HERE = Path(__file__).resolve().parent
MODELS = HERE / "eject_models.py"
STYLES = ["explicit", "add_module", "sequential", "modulelist", "moduledict", "nested"]


def eject(tmp_path: Path, source: str, *extra: str, name: str = "Net") -> tuple[Path, str]:
    result = run_cli(
        "model", name, "--from", source, "-o", "net.py", "--weights", "net.pt", *extra, cwd=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert "check: outputs equal the original's" in result.output
    return tmp_path / "net.py", result.output


def assert_same_function(torch, path: Path, original, example, name: str = "Net") -> None:
    generated = getattr(import_file(path), name)().eval()
    generated.load_state_dict(torch.load(path.parent / "net.pt"), strict=True)
    # The command built its own instance: give this one the same weights, by structure.
    state, _, _ = rekey(generated.state_dict(), original, "original")
    original.load_state_dict(state, strict=True)
    original.eval()
    count = {id(p): p.numel() for p in original.parameters()}
    assert sum(p.numel() for p in generated.parameters()) == sum(count.values())
    with torch.no_grad():
        expected = original(example.clone())
        got = generated(example.clone())
    expected = expected[0] if isinstance(expected, tuple) else expected
    torch.testing.assert_close(got, expected)
    assert_lint_clean(path)


def assert_computes_as(torch, generated, original, x) -> None:
    """``generated`` given ``original``'s weights (converted by structure) computes what it
    computes on ``x``, in eval mode."""
    state, _, _ = rekey(original.state_dict(), generated, type(original).__name__)
    generated.load_state_dict(state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(generated.eval()(x), original.eval()(x))


@pytest.mark.parametrize(
    ("factory", "style"),
    [
        ("resnet50", "explicit"),
        ("squeezenet1_1", "sequential"),
        ("mobilenet_v2", "nested"),
    ],
)
def test_torchvision_models_lift(torch, tmp_path, factory, style):
    models = torchvision_models()
    torch.manual_seed(0)
    # At 64x64: the same lift and check as at 224, a twelfth of the work.
    path, _ = eject(
        tmp_path, f"torchvision.models:{factory}", "--style", style, "--input-size", "64"
    )
    original = getattr(models, factory)()
    if style == "nested":  # the original's keys: its checkpoint loads as it is
        assert list(torch.load(tmp_path / "net.pt")) == list(original.state_dict())
    assert_same_function(torch, path, original, torch.randn(1, 3, 64, 64))


# vit_b_16's class at a small size (86M parameters take a minute here; the same code lifts).
VIT = {"image_size": 32, "patch_size": 16, "num_layers": 2, "num_heads": 2, "hidden_dim": 16}


def test_vision_transformer_lifts(torch, tmp_path):
    import json

    models = torchvision_models()
    args = {**VIT, "mlp_dim": 32, "num_classes": 10}
    source = "torchvision.models.vision_transformer:VisionTransformer"
    path, _ = eject(tmp_path, source, "--args", json.dumps(args), "--input-size", "32")
    original = models.vision_transformer.VisionTransformer(**args)
    assert_same_function(torch, path, original, torch.randn(2, 3, 32, 32))


def test_mobilenet_blocks_are_one_class(torch, tmp_path):
    """MobileNetV2's inverted residuals differ in an expansion (a group member absent where the
    ratio is 1) and a residual add (where the shapes match): one class, both conditional."""
    torchvision_models()
    path, _ = eject(tmp_path, "torchvision.models:mobilenet_v2", "--style", "nested")
    text = path.read_text()
    assert "class InvertedResidual2" not in text
    assert "return x + conv if self.use_res_connect else conv" in text
    assert "if has_conv2d_norm_activation0:\n            conv.append(" in text
    assert "conv2d_out_channels: int = 384," in text


def test_nanogpt(torch, tmp_path):
    import nanogpt

    torch.manual_seed(0)
    path, _ = eject(tmp_path, f"{HERE / 'nanogpt.py'}:GPT", "--style", "nested", name="GPT")
    original = nanogpt.GPT()
    generated = import_file(path).GPT().eval()
    state = torch.load(tmp_path / "net.pt")
    generated.load_state_dict(state, strict=True)
    assert generated.transformer.wte.weight is generated.lm_head.weight  # the tie is kept
    model = original.eval()
    model.load_state_dict(state, strict=True)  # nested keys: nanoGPT's own
    idx = torch.randint(0, 100, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(generated(idx), model(idx)[0])
    assert_lint_clean(path)


def test_unet_skip(torch, tmp_path):
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:TinyUNet", "--input-shape", "3x32x32")
    text = path.read_text()
    assert "torch.cat" in text
    # Named as the user knows it, never after the name the file was imported under.
    assert "Lifted from TinyUNet (eject_models.py)." in text and "torchgen_" not in text
    assert "Lifted from DoubleConv (eject_models.py)." in text
    assert_same_function(torch, path, eject_models.TinyUNet(), torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("style", STYLES)
def test_every_style(torch, tmp_path, style):
    import eject_models

    torch.manual_seed(0)
    source = f"{MODELS}:SmallNet"
    path, _ = eject(tmp_path, source, "--style", style, "--input-shape", "1x14x14")
    # The lift saw another instance: convert this one's weights for the generated class.
    x = torch.randn(2, 1, 14, 14)
    assert_computes_as(torch, import_file(path).Net(), eject_models.SmallNet(), x)
    assert_lint_clean(path)


@pytest.mark.parametrize("style", STYLES)
def test_a_unet_of_module_lists_ejects_in_every_style(torch, tmp_path, style):
    """ModuleList members (``downs.0``, an nn.Sequential) are named after their list
    (``downs_0``); the weights are taken in the order the forward calls the modules."""
    import eject_models

    torch.manual_seed(0)
    path, _ = eject(tmp_path, f"{MODELS}:ListUNet", "--style", style, "--input-shape", "3x16x16")
    assert "downs_0" in path.read_text()
    torch.manual_seed(0)  # the instance the command lifted: its weights are in net.pt
    original = eject_models.ListUNet().eval()
    generated = import_file(path).Net().eval()
    generated.load_state_dict(torch.load(tmp_path / "net.pt"), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original(x))
    assert_lint_clean(path)


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_the_constructors_arguments_are_kept(torch, tmp_path, style):
    """Sizes that follow from MyCNN's arguments are written as them; built with other values,
    the generated class is the original built with those values."""
    import eject_models

    path, output = eject(tmp_path, f"{MODELS}:MyCNN", "--style", style, "--input-shape", "3x8x8")
    text = path.read_text()
    assert "num_classes: int = 10" in text and "width: int = 16" in text
    assert "nn.Linear(width, 4 * width)" in text and "nn.Linear(4 * width, num_classes)" in text
    assert "and at num_classes=13, width=19" in output
    generated = import_file(path).Net(num_classes=5, width=6)
    original = eject_models.MyCNN(num_classes=5, width=6)
    assert_computes_as(torch, generated, original, torch.randn(2, 3, 8, 8))


def test_a_factory_passing_kwargs_on_keeps_its_class_arguments(torch, tmp_path):
    """``staged(**kwargs)`` builds ``Staged([2, 3], **kwargs)``: the class's own arguments,
    its stage depths included, are the lifted class's; at other values it is Staged."""
    import eject_models

    path, output = eject(tmp_path, f"{MODELS}:staged", "--input-shape", "3x16x16")
    assert "and at depths=(3, 4), num_classes=13, width=11" in output
    text = path.read_text()
    assert "depths: tuple[int, ...] = (2, 3)" in text and "range(1, depths[1])" in text
    generated = import_file(path).Net(depths=(1, 4), num_classes=3, width=4)
    original = eject_models.Staged([1, 4], num_classes=3, width=4)
    assert_computes_as(torch, generated, original, torch.randn(2, 3, 16, 16))


def test_an_op_only_some_instances_compute_keeps_its_own_numbers(torch, tmp_path):
    """The slice dim of a shortcut only the stride-1 instances take stays 1, not a parameter
    that happens to equal it there (``stride``): it is syntax (``x[:, :c]``), and a number."""
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:ReXLike", "--input-shape", "3x16x16")
    assert_same_function(torch, path, eject_models.ReXLike(), torch.randn(2, 3, 16, 16))


def test_an_argument_named_as_the_generated_code_names_stays_a_number(torch, tmp_path):
    """``x`` is forward's input in the generated class: the argument is not kept (its size
    stays 8), and the eject still succeeds."""
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:NamesItsWidthX", "--input-shape", "4")
    assert "nn.Linear(in_features, 8)" in path.read_text()
    assert_same_function(torch, path, eject_models.NamesItsWidthX(), torch.randn(2, 4))


def test_what_eval_passes_on_is_left_out(torch, tmp_path):
    """A DropPath returns its input in eval (so does stochastic_depth, here traced through;
    inside torchvision's StochasticDepth it is one call, as efficientnet_b0 shows): the lifted
    class computes what eval computes, and the note says what was left out."""
    import eject_models

    torchvision_models()
    path, output = eject(tmp_path, f"{MODELS}:Regularised", "--input-shape", "4")
    assert "left out what returns its input in eval mode: DropPath" in output
    text = path.read_text()
    assert "class DropPath" not in text and "stochastic" not in text
    assert_same_function(torch, path, eject_models.Regularised(), torch.randn(3, 4))


def test_blocks_called_with_keywords(torch, tmp_path):
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:Keywords", "--input-shape", "4")
    assert_same_function(torch, path, eject_models.Keywords(), torch.randn(3, 4))


def test_a_subclass_of_a_layer_reading_its_own_tensors(torch, tmp_path):
    """timm's BatchNormAct2d: F.batch_norm on its inherited running statistics lifts as the
    BatchNorm2d it is, beside its activation; the statistics are copied by --weights."""
    import eject_models

    original = eject_models.NormAct()
    path, _ = eject(tmp_path, f"{MODELS}:NormAct", "--input-shape", "3x8x8")
    text = path.read_text()
    assert "class BatchNormAct(nn.Module):" in text and "nn.BatchNorm2d(" in text
    assert_same_function(torch, path, original, torch.randn(2, 3, 8, 8))


def test_functional_calls_on_its_own_tensors(torch, tmp_path):
    """Functions and methods ordinary forward code calls (catalog.table), on tensors of the
    model's own, are written as the same calls; defaults left out, as a reader leaves them."""
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:FunctionalOps", "--input-shape", "4x6x6")
    text = path.read_text()
    for call in (
        "F.pad(x, (1, 1, 1, 1))",
        "F.conv2d(pad, self.depthwise, groups=4)",
        "F.layer_norm(permute, (4,), self.weight, self.bias, eps=1e-06)",
        "self.gamma.reshape(1, -1, 1, 1)",
        "torch.roll(group_norm, (1, -1), dims=(2, 3))",
        "F.softmax(matmul, dim=-1)",
        "addcmul[:, 1:]",
        "F.interpolate(avg_pool2d, size=(6, 6))",
        "F.unfold(interpolate, kernel_size=2, stride=2)",
    ):
        assert call in text, call
    assert_same_function(torch, path, eject_models.FunctionalOps(), torch.randn(3, 4, 6, 6))


def test_indexing(torch, tmp_path):
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:Indexing", "--input-shape", "5x6")
    text = path.read_text()
    assert "fc[:, : x.size(1) - 1]" in text and "[:, x.size(1) - 4 :]" in text
    assert "masked_fill(gt, -1.0)" in text and "getitem_8_0[:, ::2]" in text
    assert_same_function(torch, path, eject_models.Indexing(), torch.randn(3, 5, 6))


def test_an_op_number_that_differs_is_a_parameter(torch, tmp_path):
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:TwoScales", "--input-shape", "4")
    assert "other=0.25" in path.read_text()
    assert_same_function(torch, path, eject_models.TwoScales(), torch.randn(3, 4))


def test_unbind(torch, tmp_path):
    import eject_models

    path, _ = eject(tmp_path, f"{MODELS}:Unbound", "--input-shape", "5x8")
    assert ".unbind(dim=0)" in path.read_text()
    assert_same_function(torch, path, eject_models.Unbound(), torch.randn(3, 5, 8))


def test_resnet18_ejects_with_its_depths_and_classes_in_every_style(torch, tmp_path):
    """resnet18(**kwargs) hides ResNet's arguments: the lifted class takes ``layers`` and
    ``num_classes`` as ResNet does, each stage a loop over its depth; the emitted description
    regenerates the same file, and in every style, built at other depths, it is ResNet built
    with them."""
    models = torchvision_models()
    path, output = eject(
        tmp_path, "torchvision.models:resnet18", "--style", "nested", "--emit-spec", "net.toml"
    )
    assert "and at layers=(3, 3, 3, 3), num_classes=1003" in output
    text = path.read_text()
    assert "layers: tuple[int, ...] = (2, 2, 2, 2)" in text and "num_classes: int = 1000" in text
    assert "for _ in range(layers[0])" in text and "for _ in range(1, layers[3])" in text
    assert "class BasicBlock(nn.Module):" in text
    assert "BasicBlock(64, has_downsample=True, out_channels=128, stride=2)" in text
    # Values read as a person names them (a stage's output after the stage), not as fx does.
    assert "layer2 = self.layer2(layer1)" in text and "_1 = self.layer" not in text
    assert "add = bn2 + self.downsample(x)" in text
    assert list(torch.load(tmp_path / "net.pt")) == list(models.resnet18().state_dict())
    spec = (tmp_path / "net.toml").read_text()
    assert spec.count('repeat = "layers[') == 4 and 'name = "layer2"' in spec, spec
    x = torch.randn(2, 3, 64, 64)
    for style in STYLES:
        again = run_cli(
            "model", "Net", "--spec", "net.toml", "--style", style, "-o", f"{style}.py",
            cwd=tmp_path,
        )  # fmt: skip
        assert again.exit_code == 0, again.output
        if style == "nested":  # the same file as the eject wrote
            body = path.read_text().splitlines()[1:]
            regenerated = (tmp_path / "nested.py").read_text().splitlines()[1:]
            assert [line.replace("nested.py", "net.py") for line in regenerated] == body
        generated = import_file(tmp_path / f"{style}.py").Net(layers=(1, 3, 1, 2), num_classes=7)
        original = models.resnet.ResNet(models.resnet.BasicBlock, [1, 3, 1, 2], num_classes=7)
        assert_computes_as(torch, generated, original, x)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("CustomFunction", "custom autograd.Function, Twice.apply (eject_models.py:73)"),
        ("DataDependent", "data-dependent control flow (node 'gt', eject_models.py:82)"),
        ("UnsupportedOp", "node 'diff' (eject_models.py:93): the function torch.diff"),
        ("UnsupportedLayer", "the module 'norm' (torch.nn.modules.activation.Hardtanh) is not"),
        ("broken", "ValueError: no model today"),
        ("Missing", "has no 'Missing'"),
        ("NoWeightButBias", "F.layer_norm with weight=None before bias"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(torch, tmp_path, source, message):
    before = tree_snapshot(tmp_path)
    result = run_cli(
        "model", "Net", "--from", f"{MODELS}:{source}", "--input-shape", "4",
        "--weights", "net.pt", "--emit-spec", "net.toml", cwd=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert message in lines[0], lines[0]
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("torchvision.models", "name the callable"),
        ("no_such_module_here:Net", "no module named 'no_such_module_here'"),
        ("missing.py:Net", "no such file"),
    ],
)
def test_a_bad_from_is_one_line(torch, tmp_path, source, message):
    result = run_cli("model", "Net", "--from", source, cwd=tmp_path)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and message in result.output, result.output
    assert not list(tmp_path.iterdir())


def test_from_options_need_from(tmp_path):
    result = run_cli("model", "Net", "--weights", "x.pt", cwd=tmp_path)
    assert result.exit_code == 1 and "--weights needs --from" in result.output


def test_values_take_their_steps_names_where_free():
    """fx's ``layer1_1`` becomes ``layer1`` (a group's name) and ``relu_1`` ``relu`` where no
    other value has that name; the references follow, expressions included."""
    from torchscaffold.eject.tidy import tidy_values
    from torchscaffold.spec.expr import BinOp, Size
    from torchscaffold.spec.ir import Block, Step

    block = Block(
        name="B",
        steps=(
            Step("layer", "ReLU", name="relu", outputs=("relu",)),
            Step(
                "group",
                "stage",
                name="stage",
                body=(Step("layer", "Tanh"),),
                inputs=("relu",),
                outputs=("stage_1",),
            ),
            Step("layer", "ReLU", name="relu_1", inputs=("stage_1",), outputs=("relu_1",)),
            Step(
                "op",
                "view",
                name="view_3",
                inputs=("relu_1",),
                outputs=("view_3",),
                args=(("shape", (Size(0, "stage_1"), BinOp("*", Size(1, "relu_1"), Size(2)))),),
            ),
            Step("op", "add", name="input_1", inputs=("view_3", "relu"), outputs=("input_1",)),
        ),
        outputs=("input_1",),
    )
    tidy = tidy_values(block)
    assert [s.outputs for s in tidy.steps] == [
        ("relu",),
        ("stage",),
        ("relu_1",),
        ("view",),
        ("input_1",),
    ]
    assert tidy.steps[2].inputs == ("stage",)
    assert tidy.steps[3].args == (
        ("shape", (Size(0, "stage"), BinOp("*", Size(1, "relu_1"), Size(2)))),
    )
    assert tidy.outputs == ("input_1",)  # `input` is a builtin: kept as fx named it


def test_inside_a_project_the_model_is_registered_checked_and_tested(torch, tmp_path):
    """In a project, the ejected class goes to models/, registered; its check imports it as
    it will run there (its registry import resolves) and the project's own model tests pass."""
    project = tmp_path / "proj"
    assert run_cli("new", str(project)).exit_code == 0
    result = run_cli(
        "model",
        "Small",
        "--from",
        f"{MODELS}:SmallNet",
        "--input-shape",
        "1x14x14",
        cwd=project,
    )
    assert result.exit_code == 0, result.output
    assert "check: outputs equal the original's" in result.output
    module = project / "src" / "proj" / "models" / "small.py"
    assert "@MODELS.register()" in module.read_text()
    assert_suite_passes(project, "tests/models/test_small.py")
