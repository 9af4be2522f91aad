"""``torchgen new --kind images``: a folder of image files, classed by sub-folder or by a labels
CSV, decoded with Pillow and transformed with torchvision; each project passes its own tests
(train, resume, evaluate, predict on image files). And the sizes every labelled kind infers
from its data: a 2-class CSV trains a 2-class model, whatever the model's default."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import (
    assert_lint_clean,
    assert_suite_passes,
    new_projects,
    run_cli,
    run_in_project,
)
from reference import TORCHVISION_SKIP, torchvision_or_none

# name -> options: the layout (a labels CSV, RGB) and class folders with a greyscale
# preset (cnn takes 1x28x28) in another style.
PROJECTS = {
    "labelled": ["--kind", "images", "--labels", "labels.csv"],
    "folders": ["--kind", "images", "--preset", "cnn", "--style", "sequential"],
}
SELECTION = {
    "labelled": [
        "tests/models",
        "tests/data",
        "tests/test_config.py",
        "tests/test_entry_points.py",
        "tests/test_train.py::test_one_epoch_writes_metrics_and_checkpoints",
        "tests/test_train.py::test_resume_is_bitwise_exact",
    ],
    "folders": ["tests/data", "tests/test_entry_points.py"],
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return new_projects(tmp_path_factory.mktemp("images"), PROJECTS)


def test_the_projects_are_lint_clean_and_need_torchvision(
    projects: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    for project in projects.values():
        monkeypatch.chdir(project)
        assert_lint_clean(*sorted(project.rglob("*.py")))
        table = tomllib.loads((project / "pyproject.toml").read_text())
        assert {"torchvision>=0.17", "pillow>=9.1"} <= set(table["project"]["dependencies"])
    config = tomllib.loads((projects["labelled"] / "configs/default.toml").read_text())
    train, evaluate = config["data"]["train"], config["data"]["eval"]
    assert (train["resize"], train["crop"], train["augment"]) == (36, 32, True)
    assert (evaluate["resize"], evaluate["crop"]) == (36, 32) and "augment" not in evaluate


@pytest.mark.parametrize("name", PROJECTS)
def test_the_project_passes_its_own_tests(projects: dict[str, Path], name: str) -> None:
    if torchvision_or_none() is None:
        pytest.skip(TORCHVISION_SKIP)
    assert_suite_passes(projects[name], *SELECTION[name], images=True)


def test_a_csv_project_sizes_the_model_by_its_data(tmp_path: Path) -> None:
    """The issue's case: 2-class data and a model whose default is 10 classes. The data's
    2 goes into the model and its checkpoint; a config that says otherwise is one line."""
    assert run_cli("new", str(tmp_path / "tab"), "--kind", "csv", "--preset", "mlp").exit_code == 0
    rows = [[f"x{i}" for i in range(784)] + ["label"]]
    rows += [[str((r * 7 + i) % 5) for i in range(784)] + [str(r % 2)] for r in range(40)]
    with open(tmp_path / "two.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    table = f'{{type = "TrainingData", path = "{tmp_path / "two.csv"}", target_dtype = "int64"}}'
    common = [
        *["--device", "cpu", "--set", "train.epochs=1", f"train.run_dir={tmp_path / 'run'}"],
        *["data.batch_size=8", "data.num_workers=0", "train.progress=off"],
        *[f"data.train={table}", f"data.eval={table}"],
    ]
    # One interpreter for both runs (torch imports once): the second, with a contradicting
    # model.num_classes, ends as the command line's would (SystemExit with one line).
    script = (
        "import sys, torch; from tab import train; train.main(sys.argv[1:]); "
        f"state = torch.load({str(tmp_path / 'run/last.pt')!r}, weights_only=True); "
        "print(state['config']['model']['num_classes'], state['model']['fc3.weight'].shape[0])\n"
        "try:\n    train.main([*sys.argv[1:], 'model.num_classes=10'])\n"
        "except SystemExit as exc:\n    print(exc.code)"
    )
    done = run_in_project(tmp_path / "tab", "-c", script, *common)
    assert done.returncode == 0, done.stderr[-3000:]
    first, error = done.stdout.splitlines()[-2:]
    assert first.split() == ["2", "2"]
    assert error == (
        "error: model.num_classes = 10 but the data has num_classes = 2; remove "
        "model.num_classes (it is taken from the data) or fix the data"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--labels", "labels.csv"],
            "--labels names the labels CSV of image files: it needs --kind images",
        ),
        (
            ["--kind", "images", "--labels", "../x.csv"],
            "--labels '../x.csv': expected a CSV file name such as labels.csv",
        ),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, options: list[str], message: str) -> None:
    from conftest import run_torchgen

    done = run_torchgen("new", str(tmp_path / "p"), *options)
    assert done.returncode == 1 and done.stderr.startswith(f"Error: {message}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "p").exists()
