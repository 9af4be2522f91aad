"""Graph constructs the torchvision presets rely on, each on a small description, in every style,
run and compared with the independent evaluation of the description (``--check``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import import_file
from torchscaffold.check import check_model
from torchscaffold.generate.model import STYLES, ModelRequest, render_model
from torchscaffold.shapes import ResolvedModel, resolve
from torchscaffold.spec.ir import Block, Model
from torchscaffold.spec.options import finalize
from torchscaffold.spec.presets.build import B, G, L, O, T, model
from torchscaffold.spec.presets.mobilenet import INVERTED_RESIDUAL

VARIANTS = [(s, False) for s in STYLES] + [("sequential", True)]
VARIANT_IDS = [f"{s}{'-numbered' if n else ''}" for s, n in VARIANTS]


def _render(description: Model, style: str, numbered: bool) -> tuple[str, ResolvedModel]:
    resolved = resolve(finalize(description))
    req = ModelRequest(description.name, style=style, numbered=numbered)
    return render_model(resolved, req, path=Path("net.py")), resolved


def _expanding() -> Model:
    """MobileNetV2's inverted residuals, small: the expansion exists only where expand_ratio
    != 1 (the first block has none), the shortcut only where the shapes match."""
    return model(
        "Net",
        (8, 8, 8),
        (
            B("InvertedResidual", "first", out_channels=8),  # expand_ratio 1: no expansion
            G(
                "stages",  # a repeated block inside a group
                B("InvertedResidual", "stage", repeat=2, first={"stride": 2}, expand_ratio=4),
                L("ReLU"),
            ),
            O("mean", dim=(2, 3)),
        ),
        blocks=(INVERTED_RESIDUAL,),
    )


@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_conditional_layers_and_stages_in_groups(torch, style, numbered):
    source, resolved = _render(_expanding(), style, numbered)
    # Where the expansion is absent, the layers after it still read its terms (hidden, not
    # in_channels), so all instances share the code; the expansion (with its in-place ReLU6) is
    # built only where present: layer by layer, or as one group where the style groups it.
    assert "nn.BatchNorm2d(hidden)" in source
    assert "nn.BatchNorm2d(in_channels)" not in source
    assert "nn.ReLU6(inplace=True)" in source
    assert re.search(r"\bif expand\b", source)
    assert check_model(source, resolved).startswith("check: ok")


@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_expand_takes_sizes_from_another_value(tmp_path, torch, style, numbered):
    """A class token expanded to the batch of x (``x.size(0)`` reads another value)."""
    description = model(
        "Net",
        (4, 6),  # 4 tokens of width 6
        (
            O("expand", inputs="token", outputs="tokens", sizes=("x.size(0)", -1, -1)),
            O("concat", inputs=("tokens", "x"), dim=1),
            O("select", dim=1, index=0),
        ),
        tensors=(T("token", (1, 1, "width"), "normal"),),
        params=(("width", 6),),
    )
    source, resolved = _render(description, style, numbered)
    assert "self.token.expand(x.size(0), -1, -1)" in source
    assert resolved.output_shape == (6,)
    assert check_model(source, resolved).startswith("check: ok")
    path = tmp_path / "net.py"
    path.write_text(source)
    net = import_file(path).Net()
    for batch in (1, 3):
        y = net(torch.randn(batch, 4, 6))
        assert torch.equal(y, net.token[0, 0].expand(batch, 6))


def _gated() -> Model:
    """Conditional groups in every place a group can be: a class's own step, a group's member,
    a dotted (namespaced) name; each built where its condition holds and skipped elsewhere."""
    gate = Block(
        name="Gate",
        params=(("use_a", True), ("use_b", True)),
        steps=(
            G("pre", L("Linear", out_features=8), L("ReLU"), when="use_a"),
            L("Linear", "mid", out_features=8),
            G(
                "post",
                L("Linear", out_features=8),
                G("inner", L("Linear", out_features=8), L("Tanh"), when="use_b"),
            ),
            G("ns.gate", L("Linear", out_features=8), L("Sigmoid"), when="use_b"),
        ),
    )
    return model(
        "Net",
        (8,),
        (
            B("Gate", "both"),
            B("Gate", "neither", use_a=False, use_b=False),
            B("Gate", "only_a", use_b=False),
            B("Gate", "only_b", use_a=False),
        ),
        blocks=(gate,),
    )


@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_conditional_groups_exist_only_where_their_condition_holds(
    tmp_path, torch, style, numbered
):
    source, resolved = _render(_gated(), style, numbered)
    assert check_model(source, resolved).startswith("check: ok")
    (tmp_path / "net.py").write_text(source)
    net = import_file(tmp_path / "net.py").Net()
    linears = {
        name: sum(isinstance(m, torch.nn.Linear) for m in child.modules())
        for name, child in net.named_children()
        if type(child).__name__ == "Gate"
    } or {  # styles that hold the blocks in a container
        str(i): sum(isinstance(m, torch.nn.Linear) for m in child.modules())
        for i, child in enumerate(m for m in net.modules() if type(m).__name__ == "Gate")
    }
    assert sorted(linears.values()) == [2, 3, 4, 5]
    assert sum(p.numel() for p in net.parameters()) == resolved.total_params
