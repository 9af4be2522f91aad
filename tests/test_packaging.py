"""Packaging: our import package never shadows torch's ``torchgen``; templates ship in the wheel
and resolve from an editable install; the generation path (every generating command, in one
test) imports neither torch nor numpy, and black only to format."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, child_venv, run_cli, run_python
from torchscaffold.generate.dataset import KINDS
from torchscaffold.render import templates_dir


def test_import_torchgen_is_still_torchs():
    out = run_python(
        "import os, torch, torchgen, torchscaffold",
        "print(os.path.dirname(os.path.dirname(torchgen.__file__)))",
        "print(os.path.dirname(os.path.dirname(torch.__file__)))",
        "print(torchgen.__file__)",
        "import torchgen.model",  # torch's codegen module, not ours
    )
    torchgen_root, torch_root, torchgen_file = out.splitlines()
    assert torchgen_root == torch_root
    assert "torchscaffold" not in torchgen_file


def test_our_distribution_installs_no_torchgen_package():
    from importlib.metadata import distribution

    files = [str(f) for f in distribution("torchscaffold").files or []]
    assert not [f for f in files if f.startswith("torchgen/")]
    scripts = {ep.name: ep.value for ep in distribution("torchscaffold").entry_points}
    assert scripts["torchgen"] == "torchscaffold.cli:run"


def test_editable_install_uses_the_top_level_templates():
    assert templates_dir() == ROOT / "templates"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (whl,) = out.glob("torchscaffold-*.whl")
    return whl


def test_wheel_ships_the_templates(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("torchscaffold/") for n in names if n.startswith("torchscaffold/")}
    for template in (ROOT / "templates").rglob("*.j2"):
        assert str(template.relative_to(ROOT)) in shipped
    assert not [n for n in names if n.startswith("torchgen/")]


def test_wheel_generates_from_its_own_templates(wheel, tmp_path):
    # A venv that sees our click/jinja2/black but gets torchscaffold from the wheel.
    env = tmp_path / "venv"
    python = child_venv(env)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    out = run_python(
        "from torchscaffold.render import templates_dir",
        "print(templates_dir())",
        python=python,
        cwd=tmp_path,
    )
    assert str(env) in out and "site-packages/torchscaffold/templates" in out
    done = subprocess.run(
        [str(env / "bin" / "torchgen"), "model", "Net", "--preset", "cnn", "--stdout"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "class Net(nn.Module):" in done.stdout


# Every generating command, as a user types it: (args, run inside a scaffolded project).
GENERATING = [
    (["--help"], False),
    (["model", "--help"], False),
    (["model", "Net", "--preset", "resnet18", "--style", "sequential", "--dry-run"], False),
    (["model", "Net", "--stdout"], False),
    (["model", "Net", "--preset", "cnn", "--init", "xavier"], False),  # writes net.py
    *[(["dataset", "Data", "--kind", kind, "--stdout"], False) for kind in KINDS],
    (["dataset", "Shards", "--kind", "iterable"], False),  # writes shards.py
    (["registry", "--stdout"], False),
    (["registry", "-o", "pkg"], False),
    (["new", "proj"], False),
    (["new", "proj", "--dry-run", "--kind", "files", "--strategy", "fsdp"], False),
    (["list"], False),
    (["list", "presets"], False),
    (["convert", "--help"], False),  # convert imports torch, but only to convert
    (["model", "Extra", "--preset", "mlp"], True),
    (["dataset", "More", "--kind", "sequence", "--dry-run"], True),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inside") / "proj"
    assert run_cli("new", str(root)).exit_code == 0
    return root


@pytest.mark.parametrize(
    ("args", "inside"), GENERATING, ids=[" ".join(args) for args, _ in GENERATING]
)
def test_generation_imports_neither_torch_nor_numpy(
    tmp_path: Path, project: Path, args: list[str], inside: bool, monkeypatch
) -> None:
    """The generation path never imports torch or numpy (``import torch`` alone costs
    seconds), and imports black only when it formats something (a cold cache here)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cwd = tmp_path
    if inside:
        cwd = Path(shutil.copytree(project, tmp_path / "proj")) / "src"
    out = run_python(
        "import sys",
        "from torchscaffold.cli import main",
        "try:",
        f"    main({args!r}, standalone_mode=False)",
        "finally:",
        "    print('MODULES', 'torch' in sys.modules, 'numpy' in sys.modules,"
        " 'black' in sys.modules)",
        cwd=cwd,
    )
    torch_loaded, numpy_loaded, black_loaded = out.rsplit("MODULES", 1)[1].split()
    assert (torch_loaded, numpy_loaded) == ("False", "False")
    formats = "--help" not in args and args[0] != "list"
    assert black_loaded == str(formats)  # black only when something is formatted


def test_regenerating_skips_black(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = (
        "import sys",
        "from torchscaffold.cli import main",
        "args = ['model', 'Net', '--preset', 'resnet18', '-o', 'net.py', '--force']",
        "main(args, standalone_mode=False)",
        "print('BLACK', 'black' in sys.modules)",
    )
    first = run_python(*code, cwd=tmp_path)
    written = (tmp_path / "net.py").read_bytes()
    second = run_python(*code, cwd=tmp_path)
    assert first.endswith("BLACK True\n") and second.endswith("BLACK False\n")
    assert (tmp_path / "net.py").read_bytes() == written
