"""What a description file may hold, as classes (issue 18): numbers that are not finite,
integers too long to convert, a byte-order mark, a file too large to be a description, keys and
parameters nothing reads, a tensor named like an input, ties that are not a forest, an
``otherwise`` that names nothing, a tensor's constant init. Each is drawn by hypothesis where
the space is large; each refusal is one line (a TorchgenError), never a traceback.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import import_file, run_cli
from strategies import toml_key, toml_spec, toml_value
from torchscaffold import paths
from torchscaffold.errors import TorchgenError
from torchscaffold.shapes import resolve
from torchscaffold.spec import loader
from torchscaffold.spec.options import finalize

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

BASE: dict[str, Any] = {
    "model": {
        "input": [4],
        "params": {"hidden": 8, "p": 0.1},
        "tensors": {"scale": {"shape": ["hidden"], "init": "normal", "std": 0.5}},
    },
    "layers": [
        {"type": "Linear", "name": "fc", "out_features": "hidden"},
        {"type": "Dropout", "p": "p"},
        {"op": "mul", "in": ["dropout", "scale"]},
    ],
}


def _resolved(spec: dict[str, Any]) -> Any:
    return resolve(finalize(loader.parse_spec(spec, "Net")))


def _load(text: str, tmp_path: Path) -> Any:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return loader.load_spec(path, "Net")


def test_the_base_description_is_good(tmp_path):
    assert _resolved(BASE).total_params > 0
    _load(toml_spec(BASE), tmp_path)


# -- numbers -------------------------------------------------------------------------------
def _numbers(value: Any, where: str = "") -> list[str]:
    """The key paths of every number in a parsed document."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _numbers(v, f"{where}.{k}" if where else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _numbers(v, f"{where}[{i}]")]
    return [where] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _replace(value: Any, target: str, new: Any, where: str = "") -> Any:
    if isinstance(value, dict):
        return {
            k: _replace(v, target, new, f"{where}.{k}" if where else k) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace(v, target, new, f"{where}[{i}]") for i, v in enumerate(value)]
    return new if where == target else value


NUMBERS = _numbers(BASE)


@FUZZ
@given(
    where=st.sampled_from(NUMBERS),
    bad=st.sampled_from([math.inf, -math.inf, math.nan]),
)
def test_a_number_that_is_not_finite_is_refused_anywhere(tmp_path_factory, where, bad):
    tmp_path = tmp_path_factory.mktemp("inf")
    text = toml_spec(_replace(BASE, where, bad))
    with pytest.raises(TorchgenError, match=r"give a finite number") as info:
        _load(text, tmp_path)
    assert where.split("[")[0].split(".")[-1] in str(info.value)


@FUZZ
@given(where=st.sampled_from(NUMBERS), digits=st.integers(4301, 20000))
def test_an_integer_too_long_to_convert_is_one_line(tmp_path_factory, where, digits):
    marker = 918273645  # where the long integer goes: a number the base has nowhere
    text = toml_spec(_replace(BASE, where, marker)).replace(str(marker), "7" * digits)
    with pytest.raises(TorchgenError, match="a number too long") as info:
        _load(text, tmp_path_factory.mktemp("long"))
    assert "\n" not in str(info.value)


@FUZZ
@given(spec=st.sampled_from([BASE]), crlf=st.booleans())
def test_a_byte_order_mark_is_accepted(tmp_path_factory, spec, crlf):
    text = toml_spec(spec)
    if crlf:
        text = text.replace("\n", "\r\n")
    tmp_path = tmp_path_factory.mktemp("bom")
    assert _load("\ufeff" + text, tmp_path) == _load(text, tmp_path)


def test_a_spec_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:  # sparse: no disk, no time
        f.truncate(loader.MAX_SPEC_BYTES + 1)
    reads: list[int] = []
    real = os.fdopen

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(os, "fdopen", counting)
    with pytest.raises(TorchgenError, match="larger than 16 MiB, too large for a spec"):
        loader.load_spec(big, "Net")
    assert reads == []


@pytest.mark.parametrize("size", [0, 1, 100, 101])
def test_read_bytes_never_reads_past_its_limit(tmp_path, size):
    path = tmp_path / "f"
    path.write_bytes(b"a" * size)
    if size > 100:
        with pytest.raises(TorchgenError, match="too large"):
            paths.read_bytes(path, "spec", 100)
    else:
        assert paths.read_bytes(path, "spec", 100) == b"a" * size


def test_the_cli_says_a_bom_is_fine_and_bad_bytes_are_one_line(tmp_path):
    (tmp_path / "bom.toml").write_text("\ufeff" + toml_spec(BASE), encoding="utf-8")
    assert run_cli("model", "Net", "--spec", "bom.toml", "--dry-run", cwd=tmp_path).exit_code == 0
    (tmp_path / "bad.toml").write_bytes(b"[model]\n# \xff\xfe\n")
    result = run_cli("model", "Net", "--spec", "bad.toml", cwd=tmp_path)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "not UTF-8 text" in result.output


# -- keys and parameters nothing reads ------------------------------------------------------
def test_model_name_is_refused_with_the_reason():
    spec = {**BASE, "model": {**BASE["model"], "name": "Foo"}}
    with pytest.raises(TorchgenError, match=r"unknown key 'name' in \[model\]: the class is named"):
        loader.parse_spec(spec, "Net")


# Names no generated code uses itself (``i``, ``x``... are refused as such, for another reason).
NAMES = st.from_regex(r"v_[a-z0-9_]{1,8}", fullmatch=True)


@FUZZ
@given(extra=st.dictionaries(NAMES, st.integers(1, 9), min_size=1, max_size=3), block=st.booleans())
def test_a_parameter_nothing_reads_is_refused(extra, block):
    if block:
        spec = {
            "model": {"input": [4]},
            "layers": [{"block": "Unit"}],
            "blocks": {
                "Unit": {
                    "params": {"hidden": 8, **extra},
                    "layers": [{"type": "Linear", "out_features": "hidden"}],
                }
            },
        }
        where = r"\[blocks.Unit\] params"
    else:
        spec = {**BASE, "model": {**BASE["model"], "params": {**BASE["model"]["params"], **extra}}}
        where = r"\[model\] params"
    with pytest.raises(TorchgenError, match=rf"{where}: nothing reads '{next(iter(extra))}'"):
        loader.parse_spec(spec, "Net")


@FUZZ
@given(use=st.sampled_from(["let", "shape", "when", "arg", "block_arg", "first", "group"]))
def test_a_parameter_read_anywhere_counts(use):
    """Each place an expression or condition may read a parameter."""
    layers: list[dict[str, Any]] = [{"type": "Linear", "out_features": 4}]
    model: dict[str, Any] = {"input": [4], "params": {"k": 2, "flag": True}}
    blocks = {"Unit": {"params": {"w": 4}, "layers": [{"type": "Linear", "out_features": "w"}]}}
    read = {
        "let": lambda: model.update(let={"h": "k * 2"})
        or layers.append({"type": "Linear", "out_features": "h", "when": "flag"}),
        "shape": lambda: model.update(tensors={"t": {"shape": ["k"]}})
        or layers.append({"type": "Linear", "out_features": 2, "when": "flag"})
        or layers.append({"op": "mul", "in": ["linear2", "t"]}),
        "when": lambda: layers.append({"type": "Linear", "out_features": "k", "when": "flag"}),
        "arg": lambda: layers.append({"type": "Linear", "out_features": "k", "when": "flag"}),
        "block_arg": lambda: layers.append({"block": "Unit", "w": "k", "when": "flag"}),
        "first": lambda: layers.append(
            {"block": "Unit", "repeat": 2, "first": {"w": "k"}, "w": 4, "when": "flag"}
        ),
        "group": lambda: layers.append(
            {"group": "g", "when": "flag", "layers": [{"type": "Linear", "out_features": "k"}]}
        ),
    }
    read[use]()
    spec = {"model": model, "layers": layers, "blocks": blocks}
    if not any("block" in layer for layer in layers):
        del spec["blocks"]
    loader.parse_spec(spec, "Net")


def test_a_misspelt_parameter_gets_a_did_you_mean():
    spec = {
        "model": {"input": [4], "params": {"hiden": 3}},
        "layers": [{"type": "Linear", "out_features": "hidden"}],
    }
    with pytest.raises(TorchgenError, match=r"nothing reads 'hiden' \(did you mean 'hidden'\?\)"):
        loader.parse_spec(spec, "Net")


def test_std_without_normal_is_a_key_nothing_reads():
    spec = {**BASE, "model": {**BASE["model"], "tensors": {"s": {"shape": [8], "std": 0.1}}}}
    with pytest.raises(TorchgenError, match='std goes with init = "normal"'):
        loader.parse_spec(spec, "Net")


# -- one name, one value -------------------------------------------------------------------
@FUZZ
@given(inputs=st.lists(NAMES, min_size=1, max_size=3, unique=True), data=st.data())
def test_a_tensor_named_like_an_input_is_refused(inputs, data):
    clash = data.draw(st.sampled_from(inputs))
    spec = {
        "model": {
            "inputs": {name: {"shape": [4]} for name in inputs},
            "tensors": {clash: {"shape": [4], "init": "ones"}},
        },
        "layers": [{"op": "add", "in": [inputs[0], clash]}],
    }
    with pytest.raises(TorchgenError, match=rf"'{clash}' is an input of the class"):
        loader.parse_spec(spec, "Net")


# -- ties ----------------------------------------------------------------------------------
LAYERS = ["a", "b", "c", "d"]


def _tied_spec(ties: dict[str, str]) -> dict[str, Any]:
    return {
        "model": {"input": [4], "ties": {f"{k}.weight": f"{v}.weight" for k, v in ties.items()}},
        "layers": [{"type": "Linear", "name": n, "out_features": 4} for n in LAYERS],
    }


@FUZZ
@given(ties=st.dictionaries(st.sampled_from(LAYERS), st.sampled_from(LAYERS), max_size=4))
def test_ties_are_a_forest_of_kept_weights(ties):
    """Accepted exactly when no weight is tied to itself or to a weight that is itself tied;
    then the count is every weight less the tied ones."""
    forest = all(src != dst and src not in ties for dst, src in ties.items())
    if not forest:
        with pytest.raises(TorchgenError, match="tied to itself|itself tied"):
            loader.parse_spec(_tied_spec(ties), "Net")
        return
    resolved = _resolved(_tied_spec(ties))
    assert resolved.total_params == len(LAYERS) * (16 + 4) - 16 * len(ties)


def test_tied_weights_are_shared_in_the_generated_model(torch, tmp_path):
    ties = {"a": "c", "b": "c"}
    (tmp_path / "t.toml").write_text(toml_spec(_tied_spec(ties)))
    assert run_cli("model", "Net", "--spec", "t.toml", cwd=tmp_path).exit_code == 0
    net = import_file(tmp_path / "net.py").Net()
    assert net.a.weight is net.c.weight and net.b.weight is net.c.weight
    assert sum(p.numel() for p in net.parameters()) == _resolved(_tied_spec(ties)).total_params


# -- otherwise -----------------------------------------------------------------------------
@FUZZ
@given(name=NAMES | st.sampled_from(["x", "fc", "later", "ghost"]))
def test_otherwise_names_a_value_or_is_one_line(name):
    """``otherwise`` reads a value like ``in``: one computed anywhere (it is ordered first),
    or an error naming the step; never a KeyError."""
    spec = {
        "model": {"input": [4], "params": {"flag": False}},
        "layers": [
            {"type": "Linear", "name": "fc", "out_features": 4},
            {"type": "ReLU", "name": "act", "when": "flag", "otherwise": name},
            {"type": "Linear", "name": "later", "in": "fc", "out_features": 4},
            {"op": "add", "in": ["act", "later"]},
        ],
    }
    if name in ("x", "fc", "later"):
        _resolved(spec)
    else:
        with pytest.raises(TorchgenError, match=f"no step computes '{name}'"):
            _resolved(spec)


# -- a constant init -----------------------------------------------------------------------
@FUZZ
@given(value=st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-100, 100))
def test_a_constant_init_fills_the_tensor(torch, tmp_path_factory, value):
    tmp_path = tmp_path_factory.mktemp("init")
    spec = {
        "model": {"input": [2, 3], "tensors": {"gamma": {"shape": [3], "init": value}}},
        "layers": [{"op": "mul", "in": ["x", "gamma"]}],
    }
    (tmp_path / "s.toml").write_text(toml_spec(spec))
    assert run_cli("model", "Net", "--spec", "s.toml", cwd=tmp_path).exit_code == 0
    net = import_file(tmp_path / "net.py").Net()
    assert torch.equal(net.gamma.detach(), torch.full((3,), float(value)))
    assert loader.load_spec(tmp_path / "s.toml", "Net").main.tensors[0].init == float(value)


def test_toml_helpers_round_trip():
    assert toml_key("a") == "a" and toml_value(1.5) == "1.5"


def test_a_buffer_nothing_reads_is_kept_a_parameter_is_refused(torch, tmp_path: Path) -> None:
    """A buffer may be state the forward does not read (an ejected Eva's rope bands, used only
    by training's augmentation): generated, registered, in the state_dict, in every style. A
    learned tensor nothing reads would get no gradient: refused in one line, naming it."""
    from network import assert_one_network, generate_all

    spec = copy.deepcopy(BASE)
    spec["model"]["tensors"]["bands"] = {"shape": ["hidden"], "init": "ones", "buffer": True}
    (tmp_path / "kept.toml").write_text(toml_spec(spec))
    generated = generate_all(tmp_path, name="Net", spec=tmp_path / "kept.toml")
    assert_one_network(generated, export=False)
    for path, _ in generated.values():
        net = import_file(path).Net()
        assert torch.equal(net.state_dict()["bands"], torch.ones(8))
    spec = copy.deepcopy(BASE)
    spec["model"]["tensors"]["unread"] = {"shape": ["hidden"], "init": "normal"}
    with pytest.raises(TorchgenError, match="the tensor 'unread' is never used"):
        _resolved(spec)
