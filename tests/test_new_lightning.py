"""``torchgen new --trainer lightning``: the same project on PyTorch Lightning. The default
one passes its whole suite (fit, exact resume, validate, predict, export, one-line config
mistakes) in a subprocess; a csv one its data tests and the tests that reshape flat
samples; kinds it does not take are refused with nothing written. Skips without
pytorch-lightning and jsonargparse (``pip install -e ".[lightning]"``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from conftest import (
    assert_lint_clean,
    assert_suite_passes,
    new_projects,
    run_cli,
    tree_snapshot,
)

# Lightning imports torchvision where it is installed: the shim lets the index's build for
# another torch import (nothing changes elsewhere).
SHIM = Path(__file__).parent / "torchvision_shim"

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("pytorch_lightning", "jsonargparse")),
    reason='needs pytorch-lightning and jsonargparse: pip install -e ".[lightning]"',
)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    lightning = ["--trainer", "lightning"]
    made = new_projects(
        tmp_path_factory.mktemp("lightning"),
        {"lit-tensor": lightning, "lit-csv": [*lightning, "--kind", "csv", "--preset", "mlp"]},
    )
    return {"tensor": made["lit-tensor"], "csv": made["lit-csv"]}


def test_layout_and_recorded_options(projects: dict[str, Path]) -> None:
    import tomllib

    files = set(tree_snapshot(projects["tensor"]))
    package = "src/lit_tensor"
    for own in ("lightning", "cli", "config", "predict", "export", "summary", "losses"):
        assert f"{package}/{own}.py" in files
    for plain in ("train", "runtime", "checkpoint", "evaluate", "plot"):
        assert f"{package}/{plain}.py" not in files
    assert {"configs/default.yaml", "tests/test_lightning.py"} <= files
    assert "configs/default.toml" not in files
    table = tomllib.loads((projects["tensor"] / "pyproject.toml").read_text())
    assert table["tool"]["torchgen"]["trainer"] == "lightning"
    dependencies = table["project"]["dependencies"]
    assert "pytorch-lightning>=2.4" in dependencies
    assert any(d.startswith("jsonargparse[signatures]") for d in dependencies)


def test_every_file_is_lint_clean(projects: dict[str, Path], monkeypatch) -> None:
    for project in projects.values():
        monkeypatch.chdir(project)
        assert_lint_clean(*sorted(project.rglob("*.py")))


def test_shared_code_is_the_plain_projects(projects: dict[str, Path], tmp_path: Path) -> None:
    """The pieces both flavors own render from the same templates: identical files (but
    for the header naming the command), and the same functions in lightning.py,
    config.py, predict.py and export.py."""
    plain = tmp_path / "lit-tensor"
    assert run_cli("new", str(plain)).exit_code == 0
    lit = projects["tensor"]
    for same in ("registry", "initializers", "losses", "summary", "data/loader", "models/net"):
        path = f"src/lit_tensor/{same}.py"
        ours, theirs = ((p / path).read_text().split("\n", 1)[1] for p in (lit, plain))
        assert ours == theirs, path
    for module, functions in {
        "config": ["lookup", "build", "did_you_mean"],
        "predict": ["load_input", "stack_inputs", "classified"],
        "export": ["export"],
        "lightning": ["param_groups", "warmup_cosine", "rng_state", "set_rng_state"],
    }.items():
        text = (lit / f"src/lit_tensor/{module}.py").read_text()
        plain_text = "".join(
            (plain / f"src/lit_tensor/{m}.py").read_text()
            for m in ("runtime", "config", "predict", "export", "train", "checkpoint")
        )
        for name in functions:
            body = function_source(text, name)
            assert body in plain_text, (module, name)


def function_source(text: str, name: str) -> str:
    start = text.index(f"\ndef {name}(")
    end = text.find("\n\n\n", start + 1)
    return text[start : end if end != -1 else None]


def test_the_project_passes_its_suite(projects: dict[str, Path]) -> None:
    assert_suite_passes(projects["tensor"], path=[SHIM])


def test_a_csv_project_trains_predicts_and_exports_flat_samples(
    projects: dict[str, Path],
) -> None:
    tests = "tests/test_lightning.py"
    assert_suite_passes(
        projects["csv"],
        "tests/data",
        f"{tests}::test_fit_writes_metrics_config_and_checkpoints",
        f"{tests}::test_predict_gives_the_models_class_per_input",
        f"{tests}::test_export_computes_what_the_model_does",
        path=[SHIM],
    )


@pytest.mark.parametrize("kind", ["sequence", "iterable"])
def test_a_kind_it_does_not_take_is_one_line_and_writes_nothing(tmp_path: Path, kind: str) -> None:
    result = run_cli("new", str(tmp_path / "p"), "--trainer", "lightning", "--kind", kind)
    assert result.exit_code != 0
    assert result.output.startswith("Error: --trainer lightning does not take --kind")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_an_unknown_trainer_is_one_line(tmp_path: Path) -> None:
    result = run_cli("new", str(tmp_path / "p"), "--trainer", "lightnin")
    assert result.exit_code != 0 and "did you mean 'lightning'" in result.output
    assert not (tmp_path / "p").exists()


def test_a_dataset_generated_later_trains_through_lightning(tmp_path: Path) -> None:
    """``torchgen dataset`` in a Lightning project: its test trains one epoch through the
    project's LightningCLI, for a kind the project itself does not start with."""
    project = new_projects(tmp_path, {"lit": ["--trainer", "lightning"]})["lit"]
    result = run_cli("dataset", "Shards", "--kind", "iterable", cwd=project)
    assert result.exit_code == 0, result.output
    test = project / "tests" / "data" / "test_shards.py"
    assert "from lit.cli import main" in test.read_text()
    assert_suite_passes(project, str(test.relative_to(project)), path=[SHIM])
