"""``torchgen new``: one project per option combination (every style, four dataset kinds, the
precisions, strategies and losses), each lint-clean; one passes its whole suite in a
subprocess (the torchrun tests with DDP and FSDP included), the others their model and dataset
tests and an epoch of training. An editable install of a project resolves to its src/
package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (
    assert_lint_clean,
    assert_suite_passes,
    child_venv,
    new_projects,
    tree_snapshot,
)

# style -> options. Each style once; the kinds and presets spread over them, cheap presets
# with the flat kinds (their samples are CSV rows / JSON lists of every input value).
COMBOS: dict[str, list[str]] = {
    "explicit": [],  # the defaults: tiny, tensor, tiny's init (kaiming)
    "add_module": ["--preset", "mlp", "--kind", "csv", "--init", "xavier", "--loss", "mse"],
    "sequential": ["--preset", "cnn", "--kind", "files", "--model", "LeNet"],
    "modulelist": [
        *["--preset", "mlp", "--kind", "iterable", "--dataset", "Records"],
        *["--precision", "bf16", "--strategy", "fsdp", "--loss", "bce_with_logits"],
    ],
    "moduledict": ["--kind", "files", "--init", "none", "--package", "mdict"],
}
# The project whose whole suite runs (with the torchrun tests); the others run the tests that
# differ between option combinations, to keep this suite's time in bounds.
FULL = "explicit"
# The config's checks build each combination's model and data; FSDP shards each style's
# containers; resuming replays each kind's data order.
PARTIAL = [
    "tests/models",
    "tests/data",
    "tests/test_config.py",
    "tests/test_train.py::test_one_epoch_writes_metrics_and_checkpoints",
    "tests/test_train.py::test_resume_is_bitwise_exact",
    "tests/test_train.py::test_fsdp_in_one_process",
]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("projects")
    made = new_projects(
        root,
        {f"{s.replace('_', '-')}-proj": ["--style", s, *o] for s, o in COMBOS.items()},
    )
    return {style: made[f"{style.replace('_', '-')}-proj"] for style in COMBOS}


def test_layout(projects: dict[str, Path]) -> None:
    files = set(tree_snapshot(projects["explicit"]))
    package = "src/explicit_proj"
    assert files == {
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "configs/default.toml",
        f"{package}/__init__.py",
        f"{package}/registry.py",
        f"{package}/initializers.py",
        f"{package}/train.py",
        f"{package}/evaluate.py",
        f"{package}/predict.py",
        f"{package}/export.py",
        f"{package}/plot.py",
        f"{package}/config.py",
        f"{package}/cli.py",
        f"{package}/runtime.py",
        f"{package}/losses.py",
        f"{package}/checkpoint.py",
        f"{package}/summary.py",
        f"{package}/data/loader.py",
        f"{package}/models/__init__.py",
        f"{package}/models/net.py",
        f"{package}/data/__init__.py",
        f"{package}/data/training_data.py",
        f"{package}/data/synthetic.py",
        "tests/conftest.py",
        "tests/test_train.py",
        "tests/test_config.py",
        "tests/test_checkpoint.py",
        "tests/test_entry_points.py",
        "tests/models/test_net.py",
        "tests/data/test_training_data.py",
    }
    sequential = tree_snapshot(projects["sequential"])
    assert "src/sequential_proj/models/le_net.py" in sequential
    assert "tests/models/test_le_net.py" in sequential
    assert "src/mdict/train.py" in tree_snapshot(projects["moduledict"])


def test_the_options_are_recorded_in_pyproject(projects: dict[str, Path]) -> None:
    import tomllib

    from torchscaffold import __version__

    table = tomllib.loads((projects["modulelist"] / "pyproject.toml").read_text())
    assert table["tool"]["torchgen"] == {
        "version": __version__,
        "package": "modulelist_proj",
        "style": "modulelist",
        "preset": "mlp",
        "kind": "iterable",
        "init": "none",  # the mlp preset's reference init: PyTorch's own defaults
        "model": "Net",
        "dataset": "Records",
        "precision": "bf16",
        "strategy": "fsdp",
        "loss": "bce_with_logits",
        "trainer": "plain",
    }
    project = table["project"]
    assert project["name"] == "modulelist-proj"
    assert {"torch>=2.6", "numpy>=1.24", "tqdm>=4.60"} <= set(project["dependencies"])
    assert project["optional-dependencies"]["test"] == ["pytest>=8"]
    assert {"plot", "tensorboard", "onnx"} <= set(project["optional-dependencies"])
    config = tomllib.loads((projects["modulelist"] / "configs" / "default.toml").read_text())
    assert config["train"]["precision"] == "bf16" and config["train"]["strategy"] == "fsdp"
    assert config["loss"]["name"] == "bce_with_logits"


def test_the_model_uses_the_registries(projects: dict[str, Path]) -> None:
    net = (projects["add_module"] / "src/add_module_proj/models/net.py").read_text()
    assert "from add_module_proj.initializers import initialize" in net
    assert "@MODELS.register()\nclass Net(nn.Module):" in net
    assert 'initialize(self, "xavier")' in net and "for m in self.modules()" not in net
    bare = (projects["moduledict"] / "src/mdict/models/net.py").read_text()
    assert "init_weights" not in bare and "initialize" not in bare
    registry = (projects["explicit"] / "src/explicit_proj/registry.py").read_text()
    assert 'MODELS = Registry("MODELS", locations=[_sibling("models")])' in registry
    data_init = (projects["explicit"] / "src/explicit_proj/data/__init__.py").read_text()
    assert data_init.endswith(
        "from .synthetic import make_synthetic as make_synthetic\n"
        "from .training_data import TrainingData as TrainingData\n"
    )


def test_a_model_module_runs_its_demo_through_the_projects_one_summary(
    projects: dict[str, Path],
) -> None:
    project = projects["explicit"]
    net = (project / "src/explicit_proj/models/net.py").read_text()
    assert "from explicit_proj.summary import print_summary" in net and "def summary" not in net
    done = subprocess.run(
        [sys.executable, "-W", "ignore::RuntimeWarning", "-m", "explicit_proj.models.net"],
        check=False,
        cwd=project,
        env={**os.environ, "PYTHONPATH": "src"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Net: input (2, 3, 32, 32) -> output (2, 10)"
    # torch's count agrees with the one torchgen computed without torch (the docstring's).
    total = lines[-1].split()
    assert total[0] == "total" and f"; {total[1]} parameters." in " ".join(net.split())


def test_every_generated_file_is_lint_clean(
    projects: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for project in projects.values():
        # ruff finds the project's own package (first-party imports) from its root.
        monkeypatch.chdir(project)
        assert_lint_clean(*sorted(project.rglob("*.py")))
        # Docstrings and comments too stay within black's 88 columns (the header line names
        # the command, which may be longer), in the files of the project templates.
        package = next((project / "src").iterdir())
        ours = [*package.glob("*.py"), package / "data" / "synthetic.py"]
        ours += [package / "data" / "loader.py", *package.glob("*/__init__.py")]
        ours = [path for path in ours if path.name not in ("registry.py", "initializers.py")]
        for path in [*ours, *project.glob("tests/**/*.py")]:
            lines = path.read_text().splitlines()[1:]
            long = [n for n, line in enumerate(lines, 2) if len(line) > 88]
            assert not long, f"{path}: lines {long} are longer than 88"


@pytest.mark.parametrize("style", COMBOS)
def test_the_project_passes_its_own_tests(projects: dict[str, Path], style: str) -> None:
    assert_suite_passes(projects[style], *([] if style == FULL else PARTIAL))


def test_an_editable_install_imports_the_src_package(
    projects: dict[str, Path], tmp_path: Path
) -> None:
    """``pip install -e .`` works offline (no build isolation: hatchling is already here)."""
    pytest.importorskip("hatchling")
    project = projects["modulelist"]
    python = child_venv(tmp_path / "venv")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps"]
    install = subprocess.run(
        [*pip, "--no-build-isolation", "--no-index", "-e", str(project)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    done = subprocess.run(
        [python, "-c", "import modulelist_proj; print(modulelist_proj.__file__)"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(project / "src/modulelist_proj/__init__.py")


def test_the_docs_count_a_fresh_projects_tests(projects: dict[str, Path]) -> None:
    from conftest import ROOT, count_tests

    text = (ROOT / "docs" / "project.md").read_text()
    assert f"The generated tests ({count_tests(projects[FULL])} in a fresh project" in text
