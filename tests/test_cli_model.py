"""``torchgen model`` as a user types it: options, output modes, bad input, ``torchgen list``."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import import_file, run_cli, run_torchgen, tree_snapshot
from torchscaffold import __version__
from torchscaffold.catalog import ALL_OPS
from torchscaffold.catalog import LAYERS as CATALOG
from torchscaffold.generate.model import STYLES
from torchscaffold.inits import SCHEMES
from torchscaffold.spec.presets import PRESETS


def _bad(tmp_path: Path, *args: str, message: str) -> None:
    before = tree_snapshot(tmp_path)
    result = run_cli(*args, cwd=tmp_path)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("class", "invalid class name 'class'"),
        ("1Net", "invalid class name '1Net'"),
        ("My-Net", "invalid class name 'My-Net'"),
        ("Net;import os", "invalid class name 'Net;import os'"),
        ("net", "CamelCase"),
        ("Module", "clashes"),
        ("T_destination", "invalid class name"),
        ("Conv2d", "clashes with a torch.nn class"),
        ("Exception", "clashes"),
        ("BasicBlock", "like its block 'BasicBlock'"),
    ],
)
def test_bad_names(tmp_path, name, message):
    args = ["model", name] + (["--preset", "resnet18"] if name == "BasicBlock" else [])
    _bad(tmp_path, *args, message=message)


SPEC_ERRORS = {
    "unknown layer": (
        'type = "Conv2D"\nout_channels = 4\nkernel_size = 3',
        "did you mean 'Conv2d'",
    ),
    "misspelt arg": (
        'type = "Conv2d"\nout_channels = 4\nkernal_size = 3',
        "did you mean 'kernel_size'",
    ),
    "wrong type": ('type = "Conv2d"\nout_channels = 4.5\nkernel_size = 3', "out_channels must be"),
    "non-positive": ('type = "Linear"\nout_features = -1', "out_features must be an integer >= 1"),
    "impossible": ('type = "Conv2d"\nout_channels = 4\nkernel_size = 9', "bigger than the padded"),
    "malformed": ('type = "Conv2d\nout_channels = 4', "malformed TOML"),
}


@pytest.mark.parametrize("case", list(SPEC_ERRORS))
def test_bad_specs(tmp_path, case):
    layer, message = SPEC_ERRORS[case]
    spec = tmp_path / "spec.toml"
    spec.write_text(f"[model]\ninput = [3, 8, 8]\n\n[[layers]]\n{layer}\n")
    _bad(tmp_path, "model", "Net", "--spec", str(spec), message=message)


def test_malformed_toml_gives_the_line(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[model]\ninput = [3, 8, 8]\n\n[[layers]]\ntype = "ReLU\n')
    _bad(tmp_path, "model", "Net", "--spec", str(spec), message="line 5")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--style", "sequental"], "unknown style 'sequental' (did you mean 'sequential'?)"),
        (["--preset", "resnet19"], "unknown preset 'resnet19' (did you mean 'resnet18'?)"),
        (["--init", "kaimin"], "unknown init scheme 'kaimin' (did you mean 'kaiming'?)"),
        (["--numbered"], "--numbered only applies to --style sequential"),
        (["--in-channels", "0"], "--in-channels must be a positive integer"),
        (["--num-classes", "ten"], "--num-classes must be a positive integer"),
        (["--input-size", "224x"], "--input-size must be positive integers"),
        (["--preset", "vgg11", "--input-size", "16"], "bigger than the padded input"),
        (["--preset", "mlp", "--spec", "x.toml"], "give --preset or --spec, not both"),
        (["--spec", "missing.toml"], "cannot read spec"),
        (["-o", "random.py"], "would shadow the module 'random'"),
    ],
)
def test_bad_options(tmp_path, args, message):
    _bad(tmp_path, "model", "Net", *args, message=message)


def test_bad_input_from_the_real_console_entry(tmp_path):
    done = run_torchgen("model", "Net;import os", cwd=tmp_path)
    assert done.returncode == 1
    expected = (
        "Error: invalid class name 'Net;import os': use a CamelCase Python identifier such as "
        "'MyNet'"
    )
    assert done.stderr.strip().splitlines() == [expected]
    assert not list(tmp_path.iterdir())


def test_default_model_and_path(tmp_path, torch):
    result = run_cli("model", "MyConvNet", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "create     my_conv_net.py"
    assert "total" in result.output and "170,410" in result.output
    module = import_file(tmp_path / "my_conv_net.py")
    assert module.__doc__.startswith("MyConvNet: A small residual network")
    model = module.MyConvNet()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert module.MyConvNet(in_channels=1, num_classes=4)(torch.randn(1, 1, 32, 32)).shape == (1, 4)


def test_output_modes(tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    result = run_cli("model", "Net", "--preset", "cnn", "--stdout", cwd=tmp_path)
    assert result.exit_code == 0
    assert result.output.startswith("# Generated by torchgen")
    assert list(tmp_path.iterdir()) == [out]
    dry = run_cli("model", "Net", "-o", str(out), "--dry-run", cwd=tmp_path)
    assert dry.output.splitlines()[0] == "create     models/net.py"
    assert not list(out.iterdir())
    assert run_cli("model", "Net", "-o", str(out), cwd=tmp_path).exit_code == 0
    written = (out / "net.py").read_bytes()
    again = run_cli("model", "Net", "-o", str(out), "--dry-run", cwd=tmp_path)
    assert again.output.splitlines()[0] == "identical  models/net.py"
    assert run_cli("model", "Net", "-o", str(out), cwd=tmp_path).exit_code == 0  # a no-op
    _bad(
        tmp_path,
        "model",
        "Net",
        "--preset",
        "mlp",
        "-o",
        str(out),
        message="models/net.py already exists and differs; use --force",
    )
    conflict = run_cli("model", "Net", "--preset", "mlp", "-o", str(out), "--dry-run", cwd=tmp_path)
    assert conflict.output.splitlines()[0] == "conflict   models/net.py"
    assert (out / "net.py").read_bytes() == written
    forced = run_cli("model", "Net", "--preset", "mlp", "-o", str(out), "--force", cwd=tmp_path)
    assert forced.output.splitlines()[0] == "force      models/net.py"
    assert b"--preset mlp" in (out / "net.py").read_bytes()


def test_check_runs_the_model(tmp_path):
    result = run_cli(
        "model", "Net", "--preset", "resnet18", "--input-size", "64", "--check", cwd=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert "check: ok, output (2, 1000), 11,689,512 parameters as predicted" in result.output


def test_header_and_options_are_recorded(tmp_path):
    run_cli(
        "model",
        "Net",
        "--style",
        "sequential",
        "--numbered",
        "--preset",
        "cnn",
        "--in-channels",
        "3",
        "--input-size",
        "32x32",
        "--num-classes",
        "7",
        "--init",
        "xavier",
        cwd=tmp_path,
    )
    first = (tmp_path / "net.py").read_text().splitlines()[0]
    assert first == (
        f"# Generated by torchgen {__version__}: torchgen model Net --style sequential --numbered "
        "--preset cnn --in-channels 3 --input-size 32x32 --num-classes 7 --init xavier"
    )


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_inline_init_schemes(tmp_path, torch, scheme):
    assert run_cli("model", "Net", "--init", scheme, cwd=tmp_path).exit_code == 0
    model = import_file(tmp_path / "net.py").Net()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    assert all(not m.bias.any() for m in norms)
    head = model.head
    if scheme not in ("default", "kaiming_conv"):  # those leave linear layers as torch has them
        assert not head.bias.any()
    if scheme == "trunc_normal":
        assert head.weight.abs().max() <= 0.04 + 1e-6
    if scheme == "kaiming":  # torchvision: linear layers normal(0, 0.01)
        assert 0.005 < head.weight.std().item() < 0.02


@pytest.mark.parametrize("preset", [p for p in PRESETS if PRESETS[p].init])
def test_a_preset_starts_from_its_reference_init(tmp_path, preset):
    """Without --init a preset gets the init its reference's constructor applies (recorded in
    the header's command line); ``--init none`` leaves PyTorch's defaults."""
    assert run_cli("model", "Net", "--preset", preset, cwd=tmp_path).exit_code == 0
    source = (tmp_path / "net.py").read_text()
    assert "def init_weights" in source
    assert f"--init {PRESETS[preset].init}" in source.splitlines()[0]
    args = ("model", "Bare", "--preset", preset, "--init", "none")
    assert run_cli(*args, cwd=tmp_path).exit_code == 0
    assert "init_weights" not in (tmp_path / "bare.py").read_text()


def test_list_and_version():
    out = run_cli("list").output
    for section, names in [
        ("styles", STYLES),
        ("presets", PRESETS),
        ("layers", CATALOG),
        ("ops", ALL_OPS),
        ("inits", SCHEMES),
    ]:
        assert f"{section}:" in out
        assert all(f"  {n} " in out for n in names)
    # Every parameter-free layer's functional form is an op too (relu6 for nn.ReLU6).
    functional = [t.functional.rsplit(".", 1)[1] for t in CATALOG.values() if t.functional]
    assert all(f"  {n} " in run_cli("list", "ops").output for n in functional)
    assert run_cli("list", "presets").output.splitlines()[0] == "presets:"
    bad = run_cli("list", "style")
    assert bad.exit_code == 1 and "did you mean 'styles'" in bad.stderr
    assert run_cli("--version").output.strip() == f"torchgen, version {__version__}"
