"""The weight-init schemes: the generated initializers.py imported as a package and run on a model
with every layer kind the schemes know, plus the shared ``init_loop`` macro rendered inline."""

from __future__ import annotations

import importlib
import itertools
import math
import runpy
import sys
from pathlib import Path
from types import ModuleType

import jinja2
import pytest

from conftest import assert_lint_clean, import_file
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.registry import plan_registry
from torchscaffold.inits import SCHEMES, check_scheme
from torchscaffold.render import environment, format_python

_unique = itertools.count()
FILLER = 7.0  # every parameter starts here, so a scheme that forgets one is seen


def _package(root: Path, **options: str) -> str:
    """Generate registry.py + initializers.py as a package under root and import it; its name."""
    name = f"tg_init_pkg_{next(_unique)}"
    plan_registry(root / name, **options).apply()
    (root / name / "__init__.py").write_text("")
    import_file(root / name / "__init__.py", name=name)
    return name


@pytest.fixture(scope="module")
def inits(tmp_path_factory: pytest.TempPathFactory, torch) -> ModuleType:
    return importlib.import_module(_package(tmp_path_factory.mktemp("inits")) + ".initializers")


def _model(torch, big: bool = True):
    nn = torch.nn

    class Everything(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.conv_no_bias = nn.Conv2d(8, 8, 3, bias=False)
            self.conv1d = nn.Conv1d(4, 8, 3)
            self.deconv = nn.ConvTranspose2d(8, 4, 2)
            self.bn = nn.BatchNorm2d(8)
            self.bn_plain = nn.BatchNorm2d(8, affine=False)
            self.ln = nn.LayerNorm(16)
            self.ln_plain = nn.LayerNorm(16, elementwise_affine=False)
            self.ln_no_bias = nn.LayerNorm(16, bias=False)
            self.gn = nn.GroupNorm(2, 8)
            self.gn_plain = nn.GroupNorm(2, 8, affine=False)
            self.instance_norm = nn.InstanceNorm2d(8, affine=True)
            self.fc = nn.Linear(16, 32)
            self.fc_no_bias = nn.Linear(32, 16, bias=False)
            self.embedding = nn.Embedding(50, 16, padding_idx=0)
            self.bag = nn.EmbeddingBag(50, 16, padding_idx=3)
            self.prelu = nn.PReLU(8)  # a 1-d weight no scheme may touch
            self.scale = nn.Parameter(torch.ones(16))  # the user's own 1-d Parameter
            # Large enough for tight statistics (or not, where only equality matters).
            self.big_conv = nn.Conv2d(64, 128, 3) if big else nn.Conv2d(2, 2, 1)
            self.big_fc = nn.Linear(256, 512) if big else nn.Linear(2, 2)

    model = Everything()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(FILLER)
        model.bn.running_mean.fill_(FILLER)
    return model


CONV_LINEAR = ("conv", "conv_no_bias", "conv1d", "deconv", "fc", "fc_no_bias", "big_conv", "big_fc")
# Schemes whose linear biases are drawn (PyTorch's default; ViT's normal(std=1e-6)), not zero.
DRAWN_LINEAR_BIAS = {"default", "kaiming_conv", "vit"}
NORMS = ("bn", "bn_plain", "ln", "ln_plain", "ln_no_bias", "gn", "gn_plain", "instance_norm")
# Schemes that leave norm layers to their own init (nanoGPT's touches none of them).
NORMS_LEFT = {"gpt2"}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_keeps_its_promises(inits, torch, scheme: str) -> None:
    model = _model(torch)
    assert inits.initialize(model, scheme) is model
    weight, bias = (FILLER, FILLER) if scheme in NORMS_LEFT else (1, 0)
    for name in NORMS:
        norm = getattr(model, name)
        if norm.weight is not None:
            assert torch.all(norm.weight == weight), name
        if norm.bias is not None:
            assert torch.all(norm.bias == bias), name
    for name in CONV_LINEAR:
        layer = getattr(model, name)
        assert torch.isfinite(layer.weight).all() and not torch.any(layer.weight == FILLER), name
        drawn = scheme == "default" or (
            scheme in DRAWN_LINEAR_BIAS and isinstance(layer, torch.nn.Linear)
        )
        if layer.bias is not None and not drawn:
            assert torch.all(layer.bias == 0), name
    for layer in (model.embedding, model.bag):
        assert torch.all(layer.weight[layer.padding_idx] == 0)
        assert not torch.any(layer.weight == FILLER)
    assert torch.all(model.scale == FILLER)  # parameters of unknown modules are left alone
    if scheme == "default":
        assert torch.all(model.prelu.weight == 0.25)  # PReLU's own reset_parameters
        assert torch.all(model.bn.running_mean == 0)
    else:
        assert torch.all(model.prelu.weight == FILLER)


def _std(t) -> float:
    return t.detach().double().std().item()


def test_kaiming_matches_torchvision(inits, torch) -> None:
    model = inits.initialize(_model(torch), "kaiming")
    fan_out = 128 * 3 * 3
    assert _std(model.big_conv.weight) == pytest.approx(math.sqrt(2 / fan_out), rel=0.03)
    assert abs(model.big_conv.weight.mean().item()) < 1e-3
    assert _std(model.big_fc.weight) == pytest.approx(0.01, rel=0.03)


def test_kaiming_conv_leaves_linear_layers_at_pytorchs_default(inits, torch) -> None:
    model = inits.initialize(_model(torch), "kaiming_conv")
    fan_out = 128 * 3 * 3
    assert _std(model.big_conv.weight) == pytest.approx(math.sqrt(2 / fan_out), rel=0.03)
    assert not model.big_conv.bias.any()
    bound = 1 / math.sqrt(256)  # nn.Linear's own: kaiming_uniform_(a=sqrt(5)), bias alike
    assert model.big_fc.weight.abs().max().item() <= bound
    assert _std(model.big_fc.weight) == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert 0 < model.big_fc.bias.abs().max().item() <= bound


def test_vit_matches_torchvision(inits, torch) -> None:
    """torchvision's VisionTransformer: the patch conv trunc_normal_(std=sqrt(1/fan_in)), its
    MLP's linears xavier_uniform_ with biases normal_(std=1e-6), the head (the last linear)
    zero, and nn.MultiheadAttention's projections as the attention layer made them."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 256, 16, stride=16),
        nn.MultiheadAttention(256, 4, batch_first=True),
        nn.Linear(256, 1024),
        nn.Linear(1024, 10),
    )
    attention = model[1]
    with torch.no_grad():
        attention.out_proj.weight.fill_(FILLER)
    inits.initialize(model, "vit")
    conv, mlp, head = model[0], model[2], model[3]
    assert _std(conv.weight) == pytest.approx(math.sqrt(1 / (3 * 16 * 16)), rel=0.03)
    assert not conv.bias.any()
    bound = math.sqrt(6 / (256 + 1024))
    assert mlp.weight.abs().max().item() <= bound
    assert _std(mlp.weight) == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert 0 < _std(mlp.bias) < 2e-6
    assert not head.weight.any() and not head.bias.any()
    assert torch.all(attention.out_proj.weight == FILLER)


def test_kaiming_uniform_bound_and_std(inits, torch) -> None:
    model = inits.initialize(_model(torch), "kaiming_uniform")
    for layer, fan_in in ((model.big_conv, 64 * 9), (model.big_fc, 256)):
        bound = math.sqrt(2) * math.sqrt(3 / fan_in)
        assert layer.weight.abs().max().item() <= bound
        assert _std(layer.weight) == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_xavier_bound_and_std(inits, torch) -> None:
    model = inits.initialize(_model(torch), "xavier")
    bound = math.sqrt(6 / (256 + 512))
    assert model.big_fc.weight.abs().max().item() <= bound
    assert _std(model.big_fc.weight) == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_trunc_normal_is_cut_at_two_std(inits, torch) -> None:
    model = inits.initialize(_model(torch), "trunc_normal")
    for layer in (model.big_conv, model.big_fc, model.embedding, model.fc):
        assert layer.weight.abs().max().item() <= 0.04
    weight = model.big_fc.weight
    assert weight.abs().max().item() > 0.039  # the cut is at 2 std, not much inside it
    # The std of a normal truncated at +-2 sigma is 0.8796 sigma.
    assert _std(weight) == pytest.approx(0.02 * 0.8796, rel=0.03)


def test_orthogonal_rows_or_columns_are_orthonormal(inits, torch) -> None:
    model = inits.initialize(_model(torch), "orthogonal")
    fc = model.big_fc.weight.detach().double()  # 512 x 256: orthonormal columns
    assert torch.allclose(fc.T @ fc, torch.eye(256, dtype=torch.double), atol=1e-4)
    conv = model.big_conv.weight.detach().double().flatten(1)  # 128 x 576: orthonormal rows
    assert torch.allclose(conv @ conv.T, torch.eye(128, dtype=torch.double), atol=1e-4)


def test_gpt2_draws_the_residual_projections_smaller(inits, torch) -> None:
    """nanoGPT: normal(0.02) weights; the weights named c_proj std 0.02 / sqrt(their count),
    which is 2 n_layer in a GPT (attention's and the MLP's in every layer)."""
    nn = torch.nn

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c_fc, self.c_proj = nn.Linear(256, 512), nn.Linear(512, 256)

    model = inits.initialize(_model(torch), "gpt2")
    assert _std(model.big_fc.weight) == pytest.approx(0.02, rel=0.03)
    assert _std(model.big_conv.weight) == pytest.approx(0.02, rel=0.03)
    layers = inits.initialize(nn.Sequential(*(Layer() for _ in range(8))), "gpt2")
    projections = torch.cat([layer.c_proj.weight.flatten() for layer in layers])
    assert _std(projections) == pytest.approx(0.02 / math.sqrt(8), rel=0.03)
    assert _std(layers[0].c_fc.weight) == pytest.approx(0.02, rel=0.03)


def test_default_reruns_each_layers_reset_parameters(inits, torch) -> None:
    model = inits.initialize(_model(torch), "default")
    bound = 1 / math.sqrt(64 * 9)  # torch's conv default: kaiming_uniform_(a=sqrt(5))
    assert model.big_conv.weight.abs().max().item() <= bound
    assert model.big_conv.bias.abs().max().item() <= bound
    assert _std(model.embedding.weight[1:]) == pytest.approx(1, rel=0.1)


def test_zero_init_residual_uses_residual_norm(inits, torch) -> None:
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, affine: bool = True) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4)
            self.conv2, self.bn2 = nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4, affine=affine)

        def residual_norm(self) -> nn.Module | None:
            return self.bn2

    class NoNorm(nn.Module):
        def residual_norm(self) -> None:
            return None

    model = nn.Sequential(Block(), Block(), Block(affine=False), NoNorm())
    inits.initialize(model, "kaiming", zero_init_residual=True)
    for block in model[:2]:
        assert torch.all(block.bn2.weight == 0) and torch.all(block.bn2.bias == 0)
        assert torch.all(block.bn1.weight == 1)
    inits.INITIALIZERS.get("kaiming")(model)  # off by default
    assert torch.all(model[0].bn2.weight == 1)
    inits.initialize(model, "kaiming_conv", zero_init_residual=True)  # torchvision's ResNet's
    assert torch.all(model[0].bn2.weight == 0) and torch.all(model[0].bn1.weight == 1)
    with pytest.raises(TypeError, match="zero_init_residual"):  # only the kaimings take it
        inits.initialize(model, "xavier", zero_init_residual=True)


def test_meta_parameters_pass_through(inits, torch) -> None:
    """A model partly or wholly on the meta device initialises without a check for it: the
    meta tensors stay shapes without data, the real ones are drawn."""
    meta_model = _model(torch, big=False).to("meta")
    mixed = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4).to("meta"))
    for scheme in SCHEMES:
        inits.initialize(meta_model, scheme)
        assert all(p.is_meta for p in meta_model.parameters())
        with torch.no_grad():
            mixed[0].bias.fill_(FILLER)
        inits.initialize(mixed, scheme)
        assert not torch.any(mixed[0].bias == FILLER), scheme
        assert mixed[1].weight.is_meta


def test_registered_names_and_lookup_errors(inits, torch) -> None:
    assert inits.INITIALIZERS.list() == sorted(SCHEMES)
    with pytest.raises(KeyError, match="Did you mean: trunc_normal"):
        inits.initialize(torch.nn.Linear(2, 2), "truncnormal")


def test_init_option_sets_initializes_default(tmp_path: Path, torch) -> None:
    package = _package(tmp_path, default_scheme="trunc_normal")
    inits = importlib.import_module(f"{package}.initializers")
    layer = inits.initialize(torch.nn.Linear(256, 256))
    assert layer.weight.abs().max().item() <= 0.04


def test_initializers_are_imported_on_the_first_lookup(tmp_path: Path, torch) -> None:
    """registry.INITIALIZERS finds the schemes even if nobody imported initializers.py."""
    package = _package(tmp_path)
    registry = importlib.import_module(f"{package}.registry")
    assert registry.INITIALIZERS.locations == (f"{package}.initializers",)
    assert f"{package}.initializers" not in sys.modules
    assert "kaiming" in registry.INITIALIZERS
    assert f"{package}.initializers" in sys.modules


def test_initializers_py_runs_as_a_script_from_a_plain_directory(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """Top-level modules next to each other: ``from registry import``; and run as a script,
    the location import of itself is the same definition, not a duplicate. In-process with
    runpy (a subprocess would spend seconds importing torch)."""
    plan_registry(tmp_path).apply()
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        runpy.run_path(str(tmp_path / "initializers.py"), run_name="__main__")
        assert sys.modules["initializers"].INITIALIZERS is sys.modules["registry"].INITIALIZERS
    finally:
        for name in ("registry", "initializers"):  # top-level names other tests must not see
            sys.modules.pop(name, None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "scheme"
    assert [line.split()[0] for line in lines[1:]] == sorted(SCHEMES)


# --------------------------------------------------------------------------- the shared macro
INLINE = """\
{% from "init/schemes.j2" import init_loop %}
from torch import nn


class Net(nn.Module):
    \"\"\"Wraps a body; one init method per scheme, as a model template writes them.\"\"\"

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
{% for scheme in schemes %}

    def init_{{ scheme }}(self) -> None:
        {{ init_loop(scheme, "self")|indent(8) }}
{% endfor %}
"""


def test_the_macro_inline_in_a_model_matches_the_registered_functions(
    inits, torch, tmp_path: Path
) -> None:
    source = format_python(environment().from_string(INLINE).render(schemes=list(SCHEMES)))
    path = tmp_path / "net.py"
    path.write_text(source)
    assert_lint_clean(path)
    net_module = import_file(path)
    for scheme in SCHEMES:
        torch.manual_seed(1)
        inline = net_module.Net(_model(torch, big=False))
        getattr(inline, f"init_{scheme}")()
        torch.manual_seed(1)
        registered = inits.initialize(net_module.Net(_model(torch, big=False)), scheme)
        for (name, a), b in zip(inline.state_dict().items(), registered.state_dict().values()):
            assert torch.equal(a, b), (scheme, name)


def test_every_scheme_has_a_macro_entry_and_unknown_ones_fail_to_render() -> None:
    template = environment().from_string(
        '{% from "init/schemes.j2" import init_loop %}{{ init_loop(scheme, "m") }}'
    )
    for scheme in SCHEMES:
        assert "for m in m.modules():" in template.render(scheme=scheme)
    with pytest.raises(jinja2.UndefinedError):
        template.render(scheme="nope")


def test_check_scheme() -> None:
    assert check_scheme("xavier") == "xavier"
    with pytest.raises(TorchgenError, match="did you mean 'orthogonal'.*choose from: default"):
        check_scheme("orthogonl")
