"""``torchgen new --kind sequence``: a token-classifier project, generated once, that regenerates
identically and, grown by an iterable dataset and an LSTM token model, passes its whole suite
(torchrun with DDP and FSDP included) and learns its synthetic data: accuracy well above chance
after two short epochs. Mismatched presets and kinds are refused in ``test_new_errors.py``."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest

from conftest import (
    assert_lint_clean,
    assert_regenerates_identically,
    assert_suite_passes,
    every_test_but,
    run_cli,
    run_in_project,
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sequence") / "seq-proj"
    result = run_cli("new", str(path), "--kind", "sequence")
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def project(fresh: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project grown by a dataset of dict batches other than tokens (its test must train
    by config alone, whatever this project's data.inputs and data.target) and a second token
    model (its tests feed both inputs)."""
    path = Path(shutil.copytree(fresh, tmp_path_factory.mktemp("grown") / "seq-proj"))
    for args in (
        ["dataset", "Records", "--kind", "iterable"],
        ["model", "Recurrent", "--preset", "lstm_classifier"],
    ):
        result = run_cli(*args, cwd=path)
        assert result.exit_code == 0, result.output
    return path


def test_the_scaffold_is_what_the_commands_generate(fresh: Path) -> None:
    """The model and the dataset regenerate byte-identical inside the project."""
    assert_regenerates_identically(fresh)


def test_the_default_model_is_a_token_classifier(fresh: Path) -> None:
    import tomllib

    table = tomllib.loads((fresh / "pyproject.toml").read_text())["tool"]["torchgen"]
    assert (table["preset"], table["kind"], table["init"]) == (
        "transformer_classifier",
        "sequence",
        "none",
    )
    config = tomllib.loads((fresh / "configs" / "default.toml").read_text())
    # What the model's forward takes, from the padded batch; the class of each sequence.
    assert config["data"]["inputs"] == ["input_ids", "attention_mask"]
    assert config["data"]["target"] == "target"
    assert "vocab_size" not in config["model"]  # taken from the data
    assert config["data"]["train"]["vocab_size"] == 100
    assert config["data"]["train"]["num_classes"] == 2
    header = (fresh / "src/seq_proj/train.py").read_text().splitlines()[0]
    assert header.endswith("torchgen new seq-proj --kind sequence")


def test_every_generated_file_is_lint_clean(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    assert_lint_clean(*sorted(project.rglob("*.py")))


def test_the_project_passes_its_own_tests(project: Path) -> None:
    """Every test but the two launched by torchrun (two processes, DDP and FSDP): they run the
    same training code for every kind, test_new runs them in the default project, and
    launching them costs ten of this suite's twenty seconds."""
    launched = [
        "tests/test_train.py::test_two_processes_with_ddp",
        "tests/test_train.py::test_fsdp_checkpoint_resumes_on_another_process_count",
    ]
    assert_suite_passes(project, *every_test_but(project, *launched))


def test_it_learns(project: Path, tmp_path: Path) -> None:
    """Two epochs on 512 sequences: the eval accuracy ends far above chance (1/2) and the
    losses fall. The padding is masked, so the class shows in the tokens alone."""
    overrides = ["train.epochs=2", "data.num_workers=0", "data.train.num_samples=512"]
    overrides.append(f"train.run_dir={tmp_path / 'run'}")
    done = run_in_project(project, "-m", "seq_proj.train", "--device", "cpu", "--set", *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    assert [row["epoch"] for row in rows] == [1, 2]
    first, last = rows
    assert last["eval_accuracy"] >= 0.8, rows
    assert last["train_loss"] < first["train_loss"] and last["eval_loss"] < first["eval_loss"]
    assert last["eval_loss"] < math.log(2) - 0.15, rows  # below chance's cross-entropy
