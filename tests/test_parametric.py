"""A generated model is parametric: for every constructor parameter p and a value v,
``Net(p=v)`` builds the network the description builds with v as p's default. Checked over
random descriptions whose sizes follow from parameters through recurrent layers, concatenating
stages, selections, reshapes and blocks of several inputs, in every style: the same tensor
shapes in the same order as the class generated from the description at v (and as the
independent evaluation of it), and the same outputs once the tensors are copied by position.

Issue 15: the resolver wrote some inferred sizes as the default's number (a bidirectional
LSTM's ``2 * hidden``, a final state's ``hidden``, a DenseNet stage's growing input in the
add_module style); these tests failed there, and pass since sizes are expressions.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from network import VARIANTS
from parametric import (
    assert_builds_at,
    assert_same_network,
    cases,
    described,
    generated,
    variant,
)
from strategies import dense_specs, merging_specs, recurrent_specs, reshaping_specs
from torchscaffold.check import generated_class
from torchscaffold.errors import TorchgenError
from torchscaffold.shapes import resolve
from torchscaffold.spec.ir import Model

FAMILIES = {
    "recurrent": recurrent_specs(states=False),
    "recurrent_states": recurrent_specs(states=True),
    "dense": dense_specs(),
    "reshaping": reshaping_specs(),
    "merging": merging_specs(),
}
# What fails on today's code (see the module docstring): every style of the recurrent layers
# that change the width (two directions, a projection, the final state), and the dense stage in
# the add_module style.
KNOWN: set[tuple[str, str]] = set()


CASES = cases(FAMILIES, KNOWN)


def changed(data: st.DataObject, name: str, default: Any) -> Any:
    """A value other than ``default``, small (models stay tiny)."""
    if isinstance(default, bool):
        return not default
    return data.draw(st.integers(1, 2 * default + 2).filter(lambda v: v != default), label=name)


def assert_parametric(model: Model, style: str, numbered: bool, data: st.DataObject) -> None:
    """For each integer or flag parameter, a value drawn: see ``assert_builds_at``."""
    source, _ = generated(model, style, numbered)
    with generated_class(source, model.name) as cls:
        for name, default in model.main.params:
            if isinstance(default, int):
                assert_builds_at(cls, model, style, numbered, name, changed(data, name, default))


@pytest.mark.parametrize(("family", "style", "numbered"), CASES)
# No shrinking: the descriptions are small already, and the known failures would shrink at length.
@settings(
    max_examples=3,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_argument_builds_the_description_at_that_value(family, style, numbered, data):
    spec = data.draw(FAMILIES[family], label="spec")
    try:
        model = described(spec)
        resolve(model)
    except TorchgenError as exc:  # the strategies draw valid descriptions; say which was not
        raise AssertionError(f"{spec}: {exc}") from None
    assert_parametric(model, style, numbered, data)


# ---------------------------------------------------------------- the issue's own examples
def _recurrent_spec(out: str | list[str], *picked: dict[str, Any], **recurrent: Any) -> str:
    """Token ids, an embedding, an LSTM of ``hidden`` (a parameter, 128), a Linear."""
    from strategies import toml_spec

    layers = [
        {"type": "Embedding", "num_embeddings": "vocab", "embedding_dim": 32},
        {"type": "LSTM", "hidden_size": "hidden", "batch_first": True, "out": out, **recurrent},
        *picked,
        {"type": "Linear", "out_features": "tags"},
    ]
    params = {"vocab": 50, "hidden": 128, "tags": 9}
    return toml_spec(
        {"model": {"input": ["seq"], "lengths": {"seq": 7}, "params": params}, "layers": layers}
    )


TAGGER = _recurrent_spec("states", bidirectional=True)
FINAL_STATE = _recurrent_spec(
    ["_", "h_n", "_"], {"op": "select", "in": "h_n", "dim": 0, "index": -1}
)
DENSE = """
[model]
input = [32, 8, 8]
params = { growth = 12 }

[[layers]]
block = "DenseLayer"
name = "dense"
repeat = 3
growth = "growth"

[blocks.DenseLayer]
params = { growth = 12 }
layers = [
  { type = "BatchNorm2d" },
  { type = "ReLU" },
  { type = "Conv2d", out_channels = "growth", kernel_size = 3, padding = 1, bias = false },
  { op = "concat", in = ["x", "conv"], dim = 1 },
]
"""


def _loaded(text: str, name: str) -> Model:
    import tomllib

    return described(tomllib.loads(text), name)


@pytest.mark.parametrize(("style", "numbered"), VARIANTS, ids=[variant(*v) for v in VARIANTS])
@pytest.mark.parametrize(
    ("text", "name"), [(TAGGER, "Tagger"), (FINAL_STATE, "Net")], ids=["tagger", "final_state"]
)
def test_a_bidirectional_tagger_and_a_final_state_take_their_hidden_size(
    text, name, style, numbered, torch
):
    # Issue 15: nn.Linear(256, tags) after a bidirectional LSTM(hidden), nn.Linear(128, ...)
    # after h_n[-1]; Tagger(hidden=64) died at its first forward.
    model = _loaded(text, name)
    source, _ = generated(model, style, numbered)
    with generated_class(source, name) as cls:
        assert_builds_at(cls, model, style, numbered, "hidden", 64)


@pytest.mark.parametrize(
    ("style", "numbered"),
    VARIANTS,
    ids=[variant(*v) for v in VARIANTS],
)
def test_a_dense_stage_widens_each_instance_input(style, numbered, torch):
    # Issue 15: in the add_module style, dense_1 and dense_2 were both built for dense_2's
    # input (56 channels where dense_1 reads 44): wrong at the defaults already.
    from torchscaffold import interpret

    model = _loaded(DENSE, "Net")
    source, resolved = generated(model, style, numbered)
    with generated_class(source, "Net") as cls:
        assert_same_network(cls(), interpret.build(resolved), resolved, variant(style, numbered))
        assert_builds_at(cls, model, style, numbered, "growth", 6)


def test_the_tagger_passes_its_check(tmp_path):
    # --check passed on today's code (it built the defaults only) and now catches the tagger;
    # once the resolver keeps 2 * hidden, it passes again, at every changed argument.
    from conftest import run_cli

    (tmp_path / "tagger.toml").write_text(TAGGER)
    result = run_cli("model", "Tagger", "--spec", "tagger.toml", "--check", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "hidden=129, hidden=256" in result.output
