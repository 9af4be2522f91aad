"""``--check`` builds the generated class at changed arguments too, and compares each with the
description evaluated at those values: a class that is right at its defaults only (a size
written as the default's number) is refused in one line, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli, tree_snapshot
from torchscaffold import check
from torchscaffold.check import changed_arguments, check_model
from torchscaffold.errors import TorchgenError
from torchscaffold.generate.model import ModelRequest, describe, render_model
from torchscaffold.shapes import resolve
from torchscaffold.spec.ir import Block, Input, Model, Step
from torchscaffold.spec.loader import parse_spec
from torchscaffold.spec.options import finalize, with_default

MLP = """
[model]
input = [6]
params = { width = 16, classes = 3 }

[[layers]]
type = "Linear"
out_features = "width"

[[layers]]
type = "ReLU"

[[layers]]
type = "Linear"
out_features = "classes"
"""
# A parameter that forward reads (self.heads), not only __init__.
HEADS = """
[model]
input = [6]
params = { heads = 2 }

[[layers]]
type = "Linear"
out_features = "heads * 4"

[[layers]]
op = "unflatten"
dim = -1
sizes = ["heads", -1]

[[layers]]
op = "mean"
dim = 1
"""


def _model(text: str) -> Model:
    import tomllib

    return finalize(parse_spec(tomllib.loads(text), "Net"))


def _source(model: Model) -> str:
    return render_model(resolve(model), ModelRequest("Net"), path=Path("net.py"))


def _check_error(source: str, model: Model) -> str:
    """The one-line error ``check_model`` refuses ``source`` with, checking the parameters."""
    with pytest.raises(TorchgenError) as caught:
        check_model(source, resolve(model), description=model)
    return str(caught.value)


def _tampered(source: str, old: str, new: str) -> str:
    assert old in source, f"the generated code changed: {old!r} not in it"
    return source.replace(old, new)


def test_with_default_is_the_description_at_that_value():
    model = _model(MLP)
    at = with_default(model, "width", 5)
    assert dict(at.main.params) == {"in_features": 6, "width": 5, "classes": 3}
    assert at.inputs == model.inputs
    # The parameter that is the input's size resizes the input, as Net(in_features=7) reads 7.
    assert with_default(model, "in_features", 7).inputs[0].shape == (7,)
    vit = describe(ModelRequest("Net", preset="vit_b_16"))
    assert with_default(vit, "image_size", 32).inputs[0].shape == (3, 32, 32)
    with pytest.raises(KeyError):
        with_default(model, "depth", 2)


def test_changed_arguments_change_each_integer_and_flip_each_flag():
    main = Block(
        "Net",
        (Step("layer", "ReLU"),),
        params=(("width", 4), ("bias", True), ("p", 0.5), ("layers", (2, 3)), ("proj", 0)),
    )
    model = Model("Net", (Input("x", (3,)),), main)
    assert changed_arguments(model) == [
        ("width", 5),
        ("width", 8),
        ("bias", False),
        ("layers", (3, 3)),
        ("layers", (2, 4)),
        ("proj", 1),
    ]


def test_check_builds_the_class_at_each_changed_argument(torch):
    model = _model(MLP)
    report = check_model(_source(model), resolve(model), description=model)
    assert report.startswith("check: ok")
    assert report.endswith(
        "the same at in_features=7, in_features=12, width=17, width=32, classes=4, classes=6"
    )


def test_a_size_written_as_the_default_number_fails_the_check(torch):
    model = _model(MLP)
    source = _tampered(_source(model), "nn.Linear(width, classes)", "nn.Linear(16, classes)")
    # Right at its defaults: the check of the defaults alone let it through.
    assert check_model(source, resolve(model)).startswith("check: ok")
    assert _check_error(source, model) == (
        "check failed: Net(width=17): its parameter #2 is (3, 16), the description's (3, 17); "
        "nothing was written"
    )


def test_a_class_that_refuses_an_argument_fails_the_check(torch):
    model = _model(MLP)
    source = _tampered(
        _source(model),
        "super().__init__()\n",
        'super().__init__()\n        assert width == 16, "width is fixed"\n',
    )
    assert _check_error(source, model) == (
        "check failed: Net(width=17): torch raised AssertionError: width is fixed; "
        "nothing was written"
    )


def test_a_forward_that_ignores_an_argument_fails_the_check(torch):
    model = _model(HEADS)
    source = _tampered(_source(model), "(self.heads, -1)", "(2, -1)")
    assert _check_error(source, model).startswith("check failed: Net(heads=3): output [(6,)]")


def test_a_big_model_is_compared_on_the_meta_device(torch, monkeypatch):
    monkeypatch.setattr(check, "RUN_BUDGET", 0)
    model = _model(HEADS)
    report = check_model(_source(model), resolve(model), description=model)
    # One value per parameter: each costs a forward on the meta device.
    assert report.endswith(
        "the same tensors and output shapes at in_features=7, heads=3 (on the meta device: too "
        "big to run here)"
    )
    source = _tampered(_source(model), "(self.heads, -1)", "(2, -1)")
    assert _check_error(source, model).startswith("check failed: Net(heads=3): output [(6,)]")
    source = _tampered(_source(model), "nn.Linear(in_features, heads * 4)", "nn.Linear(6, 8)")
    assert _check_error(source, model).startswith("check failed: Net(in_features=7): its param")


def test_values_the_description_refuses_are_skipped(torch):
    # k=6 makes the kernel bigger than the 4x4 input: the description itself is invalid there.
    model = _model(
        '[model]\ninput = [1, 4, 4]\nparams = { k = 3 }\n[[layers]]\ntype = "Conv2d"\n'
        'out_channels = 2\nkernel_size = "k"\n'
    )
    with pytest.raises(TorchgenError):
        resolve(with_default(model, "k", 6))
    report = check_model(_source(model), resolve(model), description=model)
    assert report.endswith("the same at in_channels=2, k=4")


def test_the_cli_check_refuses_in_one_line_and_writes_nothing(tmp_path, torch, monkeypatch):
    (tmp_path / "net.toml").write_text(MLP)
    result = run_cli("model", "Net", "--spec", "net.toml", "--check", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "the same at in_features=7" in result.output
    (tmp_path / "net.py").unlink()

    from torchscaffold.generate import in_project
    from torchscaffold.plan import Plan, PlannedFile

    planned = in_project.plan_model_here

    def baked(*args, **kwargs):
        plan, resolved = planned(*args, **kwargs)
        file = plan.files[0]
        text = _tampered(file.content, "nn.Linear(width, classes)", "nn.Linear(16, classes)")
        return Plan((PlannedFile(file.path, text),)), resolved

    monkeypatch.setattr(in_project, "plan_model_here", baked)
    before = tree_snapshot(tmp_path)
    result = run_cli("model", "Net", "--spec", "net.toml", "--check", cwd=tmp_path)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        (
            "Error: check failed: Net(width=17): its parameter #2 is (3, 16), the "
            "description's (3, 17); nothing was written"
        )
    ]
    assert tree_snapshot(tmp_path) == before
