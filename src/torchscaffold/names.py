"""Validation of every user string that becomes a Python name in generated code."""

from __future__ import annotations

import builtins
import importlib.util
import keyword
import re
import sys
import unicodedata
from pathlib import Path

from torchscaffold.errors import TorchgenError

# Attributes of torch.nn.Module (torch 2.x, public and private). A submodule or class with one of
# these names shadows the method, e.g. an attribute called ``train`` breaks ``model.train()``.
# Kept as a literal so validation never imports torch; tests/test_names.py checks that it holds
# every attribute of the installed torch's nn.Module.
NN_MODULE_ATTRS = frozenset(
    [
        "T_destination",
        "_apply",
        "_call_impl",
        "_compiled_call_impl",
        "_get_backward_hooks",
        "_get_backward_pre_hooks",
        "_get_name",
        "_load_from_state_dict",
        "_maybe_warn_non_full_backward_hook",
        "_named_members",
        "_register_load_state_dict_pre_hook",
        "_register_state_dict_hook",
        "_replicate_for_data_parallel",
        "_save_to_state_dict",
        "_slow_forward",
        "_version",
        "_wrapped_call_impl",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "type",
        "xpu",
        "zero_grad",
        "training",
        "_parameters",
        "_buffers",
        "_modules",
        "_non_persistent_buffers_set",
        "_backward_hooks",
        "_forward_hooks",
        "_forward_pre_hooks",
        "_state_dict_hooks",
        "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks",
        "_state_dict_pre_hooks",
        "_backward_pre_hooks",
        "_forward_hooks_always_called",
        "_forward_hooks_with_kwargs",
        "_forward_pre_hooks_with_kwargs",
        "_is_full_backward_hook",
    ]
)

# Names the generated files import or define themselves.
RESERVED_CLASS_NAMES = frozenset(
    {"F", "nn", "torch", "np", "Tensor", "OrderedDict", "Module", "Parameter", "Sequential"}
    | {"ModuleList", "ModuleDict", "Dataset", "DataLoader", "IterableDataset", "Registry"}
    | {"Any", "Callable", "Iterator", "Path", "Sampler", "DistributedSampler"}
)

# Names the generated methods use as locals or globals: a constructor parameter so named would
# shadow them (``nn`` -> "'int' object has no attribute 'Conv2d'") or repeat an argument
# (``self``, and the block's own first argument ``in_channels`` / ``in_features``).
GENERATED_LOCALS = frozenset(
    {"self", "x", "nn", "torch", "F", "OrderedDict", "identity", "layer", "i", "module"}
)
INPUT_PARAMS = frozenset({"in_channels", "in_features"})
# Loop variables of the generated forwards (modulelist, moduledict, add_module).
VALUE_LOOPS = frozenset({"layer", "name", "i"})

_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*\Z")
_SNAKE = re.compile(r"[a-z_][a-z0-9_]*\Z")


def class_name(name: str, *, what: str = "class name", taken: frozenset[str] = frozenset()) -> str:
    """Return ``name`` if it is a CamelCase identifier that is safe to define, else raise."""
    if not _CAMEL.match(name) or keyword.iskeyword(name):
        raise TorchgenError(
            f"invalid {what} {name!r}: use a CamelCase Python identifier such as 'MyNet'"
        )
    if name in NN_MODULE_ATTRS or name in RESERVED_CLASS_NAMES or hasattr(builtins, name):
        raise TorchgenError(f"invalid {what} {name!r}: it clashes with a name the code uses")
    if name in taken:
        raise TorchgenError(f"invalid {what} {name!r}: it clashes with a torch.nn class")
    return name


def attribute_name(name: str, *, where: str) -> str:
    """Return ``name`` if it can be a submodule attribute (snake_case, no nn.Module clash)."""
    if not isinstance(name, str) or not _SNAKE.match(name) or keyword.iskeyword(name):
        raise TorchgenError(f"invalid name {name!r} in {where}: use a snake_case identifier")
    if name in NN_MODULE_ATTRS or hasattr(builtins, name) or name.startswith("_"):
        raise TorchgenError(
            f"invalid name {name!r} in {where}: it would shadow an nn.Module attribute or builtin"
        )
    return name


def value_name(name: str, *, where: str) -> str:
    """Return ``name`` if it can name a value of a forward (a local variable there)."""
    if not isinstance(name, str) or not _SNAKE.match(name) or keyword.iskeyword(name):
        raise TorchgenError(f"invalid name {name!r} in {where}: use a snake_case identifier")
    if (name in GENERATED_LOCALS and name != "x") or name in VALUE_LOOPS or hasattr(builtins, name):
        raise TorchgenError(
            f"invalid value name {name!r} in {where}: the generated code uses that name itself"
        )
    return name


def parameter_name(name: str, *, where: str, block: bool = False) -> str:
    """Return ``name`` if it can be a constructor keyword of a generated class.

    On top of ``attribute_name``'s rules it must not shadow what the generated methods use, and a
    block's parameter must not repeat the block's first argument (its input size)."""
    attribute_name(name, where=where)
    if name in GENERATED_LOCALS or (block and name in INPUT_PARAMS):
        raise TorchgenError(
            f"invalid parameter name {name!r} in {where}: the generated code uses that name "
            "itself; choose another"
        )
    return name


def package_name(name: str, *, new_at: Path | None = None) -> str:
    """Return ``name`` if it is a valid package name that shadows no module: neither the
    standard library's (the project's ``import logging`` would import itself) nor, for a new
    project at ``new_at``, one installed here, unless that is this very project installed
    before (running ``torchgen new`` again)."""
    if not _SNAKE.match(name) or keyword.iskeyword(name) or name.startswith("_"):
        raise TorchgenError(
            f"invalid package name {name!r}: use a lowercase identifier such as 'my_project'"
        )
    if name in {"torch", "torchgen", "torchscaffold", "numpy", "test", "tests"} or (
        name in sys.stdlib_module_names
    ):
        raise TorchgenError(f"invalid package name {name!r}: it shadows the module {name!r}")
    if new_at is not None and _installed_elsewhere(name, new_at):
        raise TorchgenError(
            f"invalid package name {name!r}: it shadows the installed module {name!r}"
        )
    return name


def _installed_elsewhere(name: str, root: Path) -> bool:
    # find_spec looks the name up on sys.path without importing anything.
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    locations = [*(spec.submodule_search_locations or ()), spec.origin or ""]
    return not any(loc and Path(loc).is_relative_to(root) for loc in locations)


def text(value: str, *, where: str) -> str:
    """Return ``value`` if it is text a person would write in a docstring: printable characters,
    spaces, tabs and line breaks. Control characters (NUL, ESC, BEL) and invisible format
    characters (bidi overrides such as U+202E) are refused: they change how the source reads or
    whether it compiles, never what a reader should see."""
    for c in value:
        if c in "\t\n" or c.isprintable():
            continue
        code = f"U+{ord(c):04X}"
        label = unicodedata.name(c, "control character")
        raise TorchgenError(
            f"invalid character {code} ({label.lower()}) in {where}: use printable text"
        )
    return value


def snake_case(name: str) -> str:
    """``ResNet18`` -> ``res_net18``, ``MyConvNet`` -> ``my_conv_net``, ``VGG16`` -> ``vgg16``.

    Every capital that starts a word starts a word of the file name, as in Django and inflection;
    a run of capitals is one word. tests/test_names.py holds the examples."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s)
    return s.lower()
