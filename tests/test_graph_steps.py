"""Graph constructs the torchvision presets rely on, each on a small description, in every style,
run and compared with the independent evaluation of the description (``--check``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import import_file
from torchscaffold.check import check_model
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.model import STYLES, ModelRequest, render_model
from torchscaffold.shapes import ResolvedModel, resolve
from torchscaffold.spec.ir import Block, Input, Model
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


def _stage(block_outputs: tuple[str, ...], stage_outputs: tuple[str, ...]) -> Model:
    """A stage of three instances of a two-input block (``x``, ``m``) that gives
    ``block_outputs``; the model adds the stage's two values (its second output, or the
    memory it read as it is)."""
    second = stage_outputs[1] if stage_outputs[1:] and stage_outputs[1] != "_" else "memory"
    mix = Block(
        name="Mix",
        inputs=("x", "m"),
        outputs=block_outputs,
        steps=(
            L("Linear", "fc", out_features=8),
            O("add", "sum", inputs=("fc", "m")),
            L("Tanh", "squash", inputs="sum"),
        ),
    )
    return Model(
        name="Net",
        inputs=(Input("x", (8,)), Input("memory", (8,))),
        main=Block(
            name="Net",
            inputs=("x", "memory"),
            steps=(
                B("Mix", "mix", repeat=3, inputs=("x", "memory"), outputs=stage_outputs),
                O("add", "out", inputs=(stage_outputs[0], second)),
            ),
        ),
        blocks=(mix,),
    )


@pytest.mark.parametrize("outputs", [("squash",), ("squash", "sum")], ids=["memory", "both"])
@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=VARIANT_IDS)
def test_a_stage_passes_its_outputs_on_and_reads_the_rest_as_they_are(
    tmp_path, torch, style, numbered, outputs
):
    """Each instance's outputs are the next one's first inputs; an input they do not replace
    (a decoder's memory) goes to every instance as it is."""
    names = ("h",) if len(outputs) == 1 else ("h", "s")
    source, resolved = _render(_stage(outputs, names), style, numbered)
    assert check_model(source, resolved).startswith("check: ok")
    (tmp_path / "net.py").write_text(source)
    net = import_file(tmp_path / "net.py").Net()
    x, memory = torch.randn(2, 8), torch.randn(2, 8)
    blocks = [m for m in net.modules() if type(m).__name__ == "Mix"]
    assert len(blocks) == 3
    values = (x, memory)
    for block in blocks:  # the stage by hand
        out = block(*values)
        out = out if isinstance(out, tuple) else (out,)
        values = (*out, *values[len(out) :])
    torch.testing.assert_close(net(x, memory), values[0] + values[1])


def test_a_stage_cannot_give_more_than_it_takes_or_drop_what_it_passes_on(tmp_path):
    with pytest.raises(TorchgenError, match="gives 3 values but takes 2"):
        _render(_stage(("squash", "sum", "fc"), ("h", "s", "f")), "explicit", False)
    with pytest.raises(TorchgenError, match="name each of them"):
        _render(_stage(("squash", "sum"), ("h", "_")), "explicit", False)


@st.composite
def _stages(draw) -> tuple[Model, str, bool]:
    """A random stage: a block of 1 to 3 inputs giving 1 to that many outputs, each a layer or
    a sum of two of the block's values, repeated 1 to 3 times on the model's inputs; the model
    adds up what the stage leaves. With a style to render it in."""
    n_in = draw(st.integers(1, 3))
    n_out = draw(st.integers(1, n_in))
    inputs = tuple(f"i{k}" for k in range(n_in))
    steps, values = [], list(inputs)
    for k in range(n_out + draw(st.integers(0, 2))):
        picked = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))
        if len(picked) == 1:
            layer = draw(st.sampled_from(["Linear", "Tanh", "LayerNorm"]))
            args = {"out_features": 6} if layer == "Linear" else {}
            steps.append(L(layer, f"s{k}", inputs=picked[0], **args))
        else:
            steps.append(O("add", f"s{k}", inputs=tuple(picked)))
        values.append(f"s{k}")
    outputs = tuple(values[-n_out:])
    # Every value is read: the ones nothing reads are added into the first output.
    read = {v for s in steps for v in s.inputs or ()}
    for k, value in enumerate(v for v in values if v not in outputs and v not in read):
        steps.append(O("add", f"rest{k}", inputs=(outputs[0], value)))
        outputs = (f"rest{k}", *outputs[1:])
    block = Block(name="Mix", inputs=inputs, outputs=outputs, steps=tuple(steps))
    xs = tuple(f"x{k}" for k in range(n_in))
    names = tuple(f"o{k}" for k in range(n_out))
    leaves = (*names, *xs[n_out:])  # what the stage gives, and the inputs it read as they are
    main = [B("Mix", "stage", repeat=draw(st.integers(1, 3)), inputs=xs, outputs=names)]
    for k, value in enumerate(leaves[1:]):
        main.append(O("add", f"total{k}", inputs=(f"total{k - 1}" if k else leaves[0], value)))
    description = Model(
        name="Net",
        inputs=tuple(Input(x, (6,)) for x in xs),
        main=Block(name="Net", inputs=xs, steps=tuple(main)),
        blocks=(block,),
    )
    return description, *draw(st.sampled_from(VARIANTS))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=_stages())
def test_any_stage_is_refused_in_one_line_or_computes_the_description(torch, case):
    """Stages of blocks with several inputs and outputs, in every style, against the
    independent evaluation: what the resolver accepts, every style computes."""
    description, style, numbered = case
    try:
        source, resolved = _render(description, style, numbered)
    except TorchgenError as exc:
        assert "\n" not in str(exc)
        return
    assert check_model(source, resolved).startswith("check: ok")
