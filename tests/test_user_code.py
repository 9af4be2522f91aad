"""What ``--to``/``--from``/``--from-class`` may call, and how the user's code failing is told.

Only an nn.Module class, a function of the user's own code, or a function declared to return an
nn.Module is called; everything else is refused before any call (``os:system`` ran its command
before being refused). Whatever the user's code raises on import or construction, a
KeyboardInterrupt, a SystemExit(0) or a bare BaseException subclass included, is one ``Error:``
line and a non-zero exit.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli, run_torchgen, tree_snapshot
from torchscaffold.errors import TorchgenError
from torchscaffold.weights import target

# Modules whose callables can touch the system; none of them is a model's class or builder.
RISKY = ("os", "subprocess", "shutil", "builtins", "pathlib", "pickle", "socket", "torch.hub")


def _callables() -> list[str]:
    found = []
    for name in RISKY:
        module = importlib.import_module(name)
        found += [
            f"{name}:{attr}"
            for attr in sorted(dir(module))
            if not attr.startswith("_") and callable(getattr(module, attr))
        ]
    return found


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(_callables()))
def test_no_system_callable_is_accepted(torch, name):
    """The class: any function or class of these modules is refused by find (which never
    calls what it finds), so build never runs it."""
    with pytest.raises(TorchgenError, match="torchgen calls only an nn.Module class"):
        target.find(name)


USER_FILE = """\
from __future__ import annotations

from subprocess import check_call

from torch import nn


def make():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    @classmethod
    def small(cls) -> Net:
        return cls()


not_a_model = dict
"""

LIBRARY = """\
from __future__ import annotations

import torch
from torch import nn


def annotated(width: int = 4) -> nn.Linear:
    return nn.Linear(width, width)


def real_annotation(width: int = 4) -> torch.nn.Module:
    return nn.Linear(width, width)


def unannotated(width: int = 4):
    return nn.Linear(width, width)


def says_dict() -> dict:
    return {}
"""


@pytest.fixture
def places(tmp_path, monkeypatch):
    """The user's file in the cwd, and a 'library' importable by name from outside the cwd."""
    work, lib = tmp_path / "work", tmp_path / "site"
    work.mkdir()
    lib.mkdir()
    (work / "user.py").write_text(USER_FILE)
    (lib / "modellib.py").write_text(LIBRARY)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(lib))
    yield work
    import sys

    sys.modules.pop("modellib", None)


@pytest.mark.parametrize(
    "name",
    [
        "user.py:make",
        "user.py:Net",
        "user.py:Net.small",
        "modellib:annotated",
        "modellib:real_annotation",
    ],
)
def test_what_is_accepted(torch, places, name):
    model = target.build(target.find(name), {}, "meta", "--args")
    assert isinstance(model, torch.nn.Module)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("user.py:check_call", "a function of subprocess that is not declared to return"),
        ("user.py:not_a_model", "is not an nn.Module class"),
        ("modellib:unannotated", "a function of modellib that is not declared to return"),
        ("modellib:says_dict", "a function of modellib that is not declared to return"),
        ("os:system", "os:system is a built-in function; torchgen calls only"),
    ],
)
def test_what_is_refused(torch, places, name, message):
    with pytest.raises(TorchgenError, match=message):
        target.find(name)


def test_convert_to_os_system_runs_nothing(torch, tmp_path):
    """The report's example, through the real command: refused, the command not run."""
    marker = tmp_path / "PWNED"
    torch.save({"w": torch.zeros(2)}, tmp_path / "good.pt")
    for option in (["convert", "good.pt", "--to"], ["model", "Net", "--from"]):
        for name in ("os:system", "subprocess:check_call"):
            done = run_torchgen(
                *option, name, "--args", f'{{"command": "touch {marker}"}}', cwd=tmp_path
            )
            assert done.returncode == 1 and not marker.exists(), done.stderr
            assert done.stderr.startswith(f"Error: {name} is a ")
            assert "torchgen calls only" in done.stderr and "Traceback" not in done.stderr


RAISES = {
    "interrupt": "raise KeyboardInterrupt",
    "exit0": "raise SystemExit(0)",
    "exit3": "import sys; sys.exit(3)",
    "base": "class Odd(BaseException): pass\nraise Odd('odd')",
    "generator_exit": "raise GeneratorExit",
}


@pytest.mark.parametrize("when", ["import", "construction"])
@pytest.mark.parametrize("kind", sorted(RAISES))
def test_user_code_raising_anything_is_one_line(tmp_path, when, kind):
    body = RAISES[kind]
    if when == "import":
        source = f"{body}\n"
    else:
        inner = "\n".join("        " + line for line in body.splitlines())
        source = (
            "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n"
            f"        super().__init__()\n{inner}\n"
        )
    (tmp_path / "net.py").write_text(source)
    torch_file = tmp_path / "w.pt"
    torch_file.write_bytes(b"")
    before = tree_snapshot(tmp_path)
    for args in (["model", "Net", "--from", "net.py:Net"], ["convert", "w.pt", "--to", "net.py"]):
        result = run_cli(*args, cwd=tmp_path)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1, result.output
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert tree_snapshot(tmp_path) == before


def test_the_module_docstring_names_the_rule():
    assert "os:system" in inspect.getdoc(target)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    dims=st.lists(st.integers(0, 10**30), min_size=1, max_size=5)
    | st.lists(st.text("0123456789x,-. a", max_size=6), min_size=1, max_size=4),
    option=st.sampled_from(["--input-shape", "--input-size", "--in-channels"]),
)
def test_example_sizes_are_bounded_before_anything_is_built(tmp_path_factory, dims, option):
    """Any --input-shape/--input-size that is not a few positive sizes of a sample that fits
    in memory is one line before the user's file is even imported (it would say so)."""
    import math
    import re

    from torchscaffold.commands._parse import MAX_EXAMPLE_ELEMENTS

    text = "x".join(map(str, dims))
    if re.fullmatch(r"[0-9]+([x,][0-9]+)*", text.strip().lower()):
        sizes = [int(p) for p in re.split("[x,]", text.strip().lower())]
        if min(sizes) > 0 and math.prod(sizes) <= MAX_EXAMPLE_ELEMENTS:
            return  # a sane size: the eject tests build those
    work = tmp_path_factory.mktemp("shape")
    (work / "net.py").write_text("raise SystemExit('imported')\n")
    result = run_cli("model", "Net", "--from", "net.py:Net", option, text, cwd=work)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: {option}") and "imported" not in result.output


@pytest.mark.parametrize("command", ["convert", "model"])
def test_help_and_docs_say_a_file_is_run(command):
    """Importing the user's file is the point of --to/--from: said in one sentence each."""
    from conftest import ROOT

    result = run_cli(command, "--help")
    assert "which runs it as python FILE.py would" in " ".join(result.output.split())
    docs = " ".join((ROOT / "docs" / "weights.md").read_text().split())
    assert docs.count("which runs it, as `python FILE.py` would") == 2
