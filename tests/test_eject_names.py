"""Eject of models whose module names are not Python names: nn.Sequential's positions, RegNet's
``block1-0``, keywords, ``x y``, ``1abc``, ``self``, and the generator's own ``layers``/``body``.
Every generated file imports, runs, loads its ``--weights`` strictly and computes the original's
outputs; in the nested style, names Python can write keep their ``state_dict`` keys."""

from __future__ import annotations

import json
import keyword
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import import_file, run_cli
from torchscaffold.eject import naming
from torchscaffold.generate.convert import rekey

MODELS = Path(__file__).resolve().parent / "eject_models.py"
STYLES = ["explicit", "add_module", "sequential", "modulelist", "moduledict", "nested"]

# Names a user's model may hold: what nn.Module.add_module accepts.
awkward = st.sampled_from(
    [*keyword.kwlist, "self", "layers", "body", "after", "x", "nn", "torch", "F", "input", "type"]
    + ["block1-0", "x y", "1abc", "Conv", "HTTPServer", "_private", "__", "é", "a-b c", "0", "12"]
)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
pieces = st.text(alphabet="ab1-_ X", min_size=1, max_size=6)


def addable(name: str) -> bool:
    from torch import nn

    return "." not in name and not hasattr(nn.Module, name) and name not in ("inner", "numbered")


module_names = st.lists(
    st.one_of(awkward, identifiers, pieces), min_size=1, max_size=4, unique=True
).filter(lambda names: all(addable(n) for n in names))


def eject(tmp_path: Path, factory: str, names: list[str], style: str):
    out = tmp_path / f"{style}.py"
    result = run_cli(
        "model", "Net", "--from", f"{MODELS}:{factory}", "--args", json.dumps({"names": names}),
        "--input-shape", "4", "--style", style, "-o", out.name, "--weights", f"{style}.pt",
        "--force", cwd=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "check: outputs equal the original's" in result.output
    return out


def assert_computes_the_original(torch, path: Path, original) -> None:
    generated = import_file(path).Net().eval()
    state = torch.load(path.with_suffix(".pt"))
    generated.load_state_dict(state, strict=True)
    weights, _, _ = rekey(state, original, "original")
    original.load_state_dict(weights, strict=True)
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original.eval()(x))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(names=module_names, style=st.sampled_from(STYLES))
def test_any_module_names_eject(torch, tmp_path, names, style):
    import eject_models

    path = eject(tmp_path, "Named", names, style)
    original = eject_models.Named(names)
    assert_computes_the_original(torch, path, original)
    if style == "nested":  # what Python can write keeps its key; positions stay positions
        keys = set(torch.load(path.with_suffix(".pt")))
        for name in names:
            if naming.valid(name):
                assert f"{name}.weight" in keys
        # A Sequential's members keep theirs where each one can (else it is numbered).
        if all(naming.valid(name) for name in names):
            assert {f"inner.{name}.weight" for name in names} <= keys
        assert "numbered.0.weight" in keys


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(names=module_names, style=st.sampled_from(STYLES))
def test_a_sequential_model_ejects(torch, tmp_path, names, style):
    import eject_models

    path = eject(tmp_path, "sequential", names, style)
    assert_computes_the_original(torch, path, eject_models.sequential(names))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("0", "linear0"),
        ("block1-0", "block1_0"),
        ("import", "import_"),
        ("x y", "x_y"),
        ("1abc", "linear_1abc"),
        ("Conv", "conv"),
        ("_private", "private"),
        ("filter", "filter_"),
        ("self", "self"),
        ("layers", "layers"),
    ],
)
def test_a_part_reads_as_its_name(name, expected):
    assert naming.part(name, "linear") == expected


def test_a_position_in_a_container_joins_its_owner():
    assert naming.path("downs.0", "conv2d", dotted=True) == "downs_0"
    assert naming.path("transformer.wte", "embedding", dotted=True) == "transformer.wte"
    assert naming.path("stages.a-b", "group", dotted=False) == "stages_a_b"


SPEC = """
[model]
input = [4]

[[layers]]
type = "Linear"
name = "layers"
out_features = 8

[[layers]]
block = "Twice"
name = "layers2"

[[layers]]
type = "Linear"
name = "head"
out_features = 2

[blocks.Twice]
layers = [
  { type = "Linear", name = "body", out_features = 8 },
  { type = "ReLU", name = "body2" },
  { type = "Linear", name = "tail", out_features = 8 },
]
"""


@pytest.mark.parametrize("style", STYLES)
def test_the_generators_container_gives_way(torch, tmp_path, style):
    """A step may be called ``layers`` (``body`` in a block), as a user's model may: the list
    styles keep their modules under the next free name instead."""
    (tmp_path / "net.toml").write_text(SPEC)
    result = run_cli(
        "model", "Net", "--spec", "net.toml", "--style", style, "-o", "net.py", cwd=tmp_path
    )
    assert result.exit_code == 0, result.output
    net = import_file(tmp_path / "net.py").Net()
    if style != "modulelist":  # the one style whose modules are positions, not names
        named = {path.rsplit(".", 1)[-1]: m for path, m in net.named_modules()}
        assert isinstance(named["layers"], torch.nn.Linear)
        assert isinstance(named["body"], torch.nn.Linear)
    assert net(torch.randn(3, 4)).shape == (3, 2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("_InvertedResidual", "InvertedResidual"),
        ("conv_block", "ConvBlock"),
        ("Conv2d", "Conv2dBlock"),
        ("Sequential", "SequentialBlock"),
        ("3x3Block", "Block3x3Block"),
        ("Net", "Net"),
    ],
)
def test_a_class_reads_as_its_name(name, expected):
    assert naming.class_name(name) == expected
