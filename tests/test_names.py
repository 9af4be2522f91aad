"""names.py: the literal list of ``nn.Module`` attributes against a real module, ``snake_case``
examples, and hypothesis over names and text: every validator accepts only what is safe."""

from __future__ import annotations

import builtins
import keyword
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torchscaffold import names
from torchscaffold.errors import TorchgenError

# Names that look harmless but are not: keywords, builtins, nn.Module's attributes, modules.
TRICKY = sorted(
    {*keyword.kwlist, *keyword.softkwlist, *dir(builtins), *names.NN_MODULE_ATTRS}
    | {*names.RESERVED_CLASS_NAMES, *names.GENERATED_LOCALS, *names.INPUT_PARAMS}
    | {"typing", "logging", "os", "json", "torch", "numpy", "tests", "MyNet", "my_net"}
)
NAMES = (
    st.sampled_from(TRICKY)
    | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
    | st.text(max_size=12)
)


def accepts(validator, name: str, **kwargs) -> bool:
    try:
        assert validator(name, **kwargs) == name
    except TorchgenError as exc:
        assert "\n" not in str(exc)
        return False
    return True


def test_nn_module_attrs_covers_every_attribute_of_a_real_module(torch) -> None:
    """Every attribute of this torch's ``nn.Module`` (class and instance, dunders aside) is in
    the literal; it may hold more (attributes of other torch versions)."""
    module = torch.nn.Module()
    real = {n for n in dir(module) if not (n.startswith("__") and n.endswith("__"))}
    assert real - names.NN_MODULE_ATTRS == set()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ResNet18", "res_net18"),
        ("MyConvNet", "my_conv_net"),
        ("VGG16", "vgg16"),
        ("Net", "net"),
        ("LeNet", "le_net"),
        ("MLPBlock", "mlp_block"),
        ("TrainingData", "training_data"),
        ("HTTPServer", "http_server"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert names.snake_case(name) == expected


@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_class_name_accepts_only_safe_identifiers(torch, name: str) -> None:
    if accepts(names.class_name, name):
        assert name.isidentifier() and name.isascii() and name[0].isupper()
        assert not keyword.iskeyword(name) and not keyword.issoftkeyword(name)
        assert not hasattr(builtins, name) and not hasattr(torch.nn.Module(), name)
        assert name not in names.RESERVED_CLASS_NAMES
        compile(f"class {name}:\n    pass\n", "<generated>", "exec")


@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_attribute_name_accepts_only_safe_identifiers(torch, name: str) -> None:
    if accepts(names.attribute_name, name, where="layers"):
        assert name.isidentifier() and name.isascii() and name == name.lower()
        assert not keyword.iskeyword(name) and not name.startswith("_")
        assert not hasattr(builtins, name) and not hasattr(torch.nn.Module(), name)
        module = torch.nn.Module()
        setattr(module, name, torch.nn.Identity())
        assert dict(module.named_children()) == {name: getattr(module, name)}
        module.train()  # nothing it needs was shadowed


@settings(max_examples=300, deadline=None)
@given(NAMES, st.booleans())
def test_parameter_name_accepts_only_safe_identifiers(name: str, block: bool) -> None:
    if accepts(names.parameter_name, name, where="params", block=block):
        assert accepts(names.attribute_name, name, where="params")
        assert name not in names.GENERATED_LOCALS
        assert not (block and name in names.INPUT_PARAMS)
        first = "in_channels" if block else "num_classes"
        compile(f"def __init__(self, {first}, {name}=1):\n    x = {name}\n", "<gen>", "exec")


@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_package_name_accepts_only_safe_identifiers(name: str) -> None:
    if accepts(names.package_name, name):
        assert name.isidentifier() and name.isascii() and name == name.lower()
        assert not keyword.iskeyword(name) and not name.startswith("_")
        assert name not in sys.stdlib_module_names
        assert name not in {"torch", "torchgen", "torchscaffold", "numpy", "tests"}


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\x07", "\u202e", "\u2066", "\ufeff", "\r"])
def test_text_refuses_control_and_bidi_characters(bad: str) -> None:
    with pytest.raises(TorchgenError, match=r"invalid character U\+"):
        names.text(f"a {bad} doc", where="doc")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_text_accepts_printable_text_only(value: str) -> None:
    hidden = [c for c in value if c not in "\t\n" and unicodedata.category(c) in ("Cc", "Cf")]
    if hidden:
        with pytest.raises(TorchgenError):
            names.text(value, where="doc")
    elif accepts(names.text, value, where="doc"):
        assert all(c in "\t\n" or c.isprintable() for c in value)
