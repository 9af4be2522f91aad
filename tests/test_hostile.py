"""Hostile and careless input, as classes: hypothesis draws names, file names, docs, parameter
names and whole specs, and each must end one of two ways.

- Refused: exit status 1, exactly one line ``Error: ...`` on stderr, no traceback, nothing
  written.
- Accepted: the generated code compiles, no user string changed its structure (its AST is the
  same as with a harmless string, up to string constants), it holds no raw control or bidi
  character, and it runs in torch with the shapes and parameter count torchgen predicted.
"""

from __future__ import annotations

import ast
import math
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import import_file
from strategies import specs, toml_spec, toml_string
from torchscaffold.cli import main
from torchscaffold.generate.dataset import KINDS

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    """``torchgen ARGS`` in-process from ``cwd``: exit code, stdout, stderr. An exception other
    than click's exit is a traceback a user would see: the test fails on it."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), prog_name="torchgen")
    finally:
        os.chdir(old)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_refused(code: int, stderr: str, directory: Path, before: set[str]) -> None:
    assert code == 1, stderr
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1, stderr
    assert {p.name for p in directory.iterdir()} == before, "a refused command wrote files"


def skeleton(source: str) -> str:
    """The AST with every string constant blanked: what the code does, not what it says."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
        if isinstance(node, ast.JoinedStr):
            node.values = []
    return ast.dump(tree)


def assert_clean_source(source: str) -> None:
    compile(source, "<generated>", "exec")
    for c in source:
        assert c in "\n" or c.isprintable(), f"raw {c!r} (U+{ord(c):04X}) in generated code"


# ------------------------------------------------------------------------------- file names
FILE_NAMES = st.text(
    st.characters(blacklist_characters="/\0", blacklist_categories=["Cs"]), min_size=1, max_size=40
)


COMMANDS = [["model", "Net"], *(["dataset", "Net", "--kind", k] for k in KINDS)]


@pytest.fixture(scope="module")
def plain_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """Each command's output with a harmless file name: the skeleton to compare with."""
    out = {}
    for i, args in enumerate(COMMANDS):
        cwd = tmp_path_factory.mktemp("plain")
        assert cli(*args, "-o", "plain.py", cwd=cwd)[0] == 0
        out[i] = (cwd / "plain.py").read_text()
    return out


@FUZZ
@given(stem=FILE_NAMES, which=st.integers(0, len(COMMANDS) - 1))
def test_no_file_name_changes_what_the_code_does(
    plain_sources: dict[int, str], stem: str, which: int
) -> None:
    args = COMMANDS[which]
    plain = plain_sources[which]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        before = {p.name for p in cwd.iterdir()}
        code, _, stderr = cli(*args, "-o", f"{stem}.py", cwd=cwd)
        if code != 0:
            assert_refused(code, stderr, cwd, before)
            return
        (written,) = {p.name for p in cwd.iterdir()} - before
        source = (cwd / written).read_text()
        assert_clean_source(source)
        assert skeleton(source) == skeleton(plain)


# ------------------------------------------------------------------------------------ docs
def _doc_spec(doc: str) -> str:
    return (
        "[model]\ninput = [3, 8, 8]\ndoc = " + toml_string(doc) + "\n"
        '[[layers]]\nblock = "Unit"\n'
        "[blocks.Unit]\ndoc = " + toml_string(doc) + "\n"
        'layers = [{ type = "Conv2d", out_channels = 4, kernel_size = 3 }]\n'
    )


@FUZZ
@given(doc=st.text(st.characters(blacklist_categories=["Cs"]), max_size=60))
def test_no_doc_changes_what_the_code_does(doc: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "plain.toml").write_text(_doc_spec("A block."))
        (cwd / "doc.toml").write_text(_doc_spec(doc), encoding="utf-8")
        assert cli("model", "Net", "--spec", "plain.toml", "-o", "plain.py", cwd=cwd)[0] == 0
        before = {p.name for p in cwd.iterdir()}
        code, _, stderr = cli("model", "Net", "--spec", "doc.toml", "-o", "doc.py", cwd=cwd)
        if code != 0:
            assert_refused(code, stderr, cwd, before)
            assert "doc" in stderr
            return
        source = (cwd / "doc.py").read_text()
        assert_clean_source(source)
        assert skeleton(source) == skeleton((cwd / "plain.py").read_text())
        documented = [
            ast.get_docstring(node, clean=False) or ""
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ClassDef)
        ]
        assert all(" ".join(doc.split()) in " ".join(d.split()) for d in documented)


# ------------------------------------------------------------------------------- class names
@FUZZ
@given(name=st.text(max_size=30) | st.from_regex(r"[A-Z][A-Za-z0-9]{0,12}", fullmatch=True))
def test_any_class_name_is_refused_or_defined_once(name: str) -> None:
    assume("\0" not in name)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for args in (["model"], ["dataset", "--kind", "sequence"]):
            # "--": a NAME that starts with "-" is a name here, not an option
            code, stdout, stderr = cli(*args, "--stdout", "--", name, cwd=cwd)
            if code != 0:
                assert_refused(code, stderr, cwd, set())
                continue
            assert_clean_source(stdout)
            tree = ast.parse(stdout)
            defined = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
            assert len(defined) == 1


# -------------------------------------------------------------------------- parameter names
@FUZZ
@given(param=st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True))
def test_any_parameter_name_is_refused_or_works(torch: object, param: str) -> None:
    ref = toml_string(param)
    spec = (
        f"[model]\ninput = [3, 8, 8]\nparams = {{ {param} = 5 }}\n"
        f'[[layers]]\nblock = "Unit"\n{param} = {ref}\n'
        f"[blocks.Unit]\nparams = {{ {param} = 4 }}\n"
        f'layers = [{{ type = "Conv2d", out_channels = {ref}, kernel_size = 1 }}]\n'
    )
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "p.toml").write_text(spec)
        before = {p.name for p in cwd.iterdir()}
        code, _, stderr = cli("model", "Net", "--spec", "p.toml", "-o", "net.py", cwd=cwd)
        if code != 0:
            assert_refused(code, stderr, cwd, before)
            return
        module = import_file(cwd / "net.py")
        net = module.Net(**{param: 3})
        assert net(torch.randn(2, 3, 8, 8)).shape == (2, 3, 8, 8)


# ------------------------------------------------------------------------------------ specs
@settings(
    max_examples=int(os.environ.get("TORCHGEN_FUZZ", "120")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(spec=specs(), style=st.sampled_from(["explicit", "sequential", "modulelist"]))
def test_a_spec_is_refused_in_one_line_or_runs_as_predicted(
    torch: object, spec: dict, style: str
) -> None:
    from torchscaffold.generate.model import ModelRequest, describe
    from torchscaffold.shapes import resolve

    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "f.toml").write_text(toml_spec(spec))
        before = {p.name for p in cwd.iterdir()}
        code, _, stderr = cli(
            "model", "Fuzz", "--spec", "f.toml", "--style", style, "-o", "fuzz.py", cwd=cwd
        )
        if code != 0:
            assert_refused(code, stderr, cwd, before)
            return
        resolved = resolve(describe(ModelRequest("Fuzz", style, spec=cwd / "f.toml")))
        # Sizes torch can build but this machine should not allocate run on the meta device.
        sizes = [resolved.total_params, *(math.prod(r.out_shape) for r in resolved.rows)]
        device = "meta" if max(sizes) > 10**6 else "cpu"
        with torch.device(device):
            model = import_file(cwd / "fuzz.py").Fuzz()
            y = model(torch.randn(2, *resolved.input_shape))
        assert tuple(y.shape) == (2, *resolved.output_shape)
        assert sum(p.numel() for p in model.parameters()) == resolved.total_params
