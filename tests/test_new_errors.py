"""``torchgen new``: bad input, --dry-run, --force, a disk failure midway, determinism (that it
imports neither torch nor numpy: ``test_packaging.py``). Fast: nothing here runs torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli, run_torchgen, tree_snapshot
from torchscaffold import __version__, plan


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["class"], "invalid package name 'class'"),
        (["1pkg"], "invalid package name '1pkg'"),
        (["proj", "--package", "class"], "invalid package name 'class'"),
        (["proj", "--package", "1pkg"], "invalid package name '1pkg'"),
        (["proj", "--package", "My-Pkg"], "invalid package name 'My-Pkg'"),
        (["proj", "--package", "torch"], "shadows the module"),
        (["bad name!"], "invalid project name 'bad name!'"),
        (["proj", "--style", "explict"], "unknown style 'explict' (did you mean 'explicit'?)"),
        (["proj", "--preset", "resnet19"], "unknown preset 'resnet19' (did you mean"),
        (["proj", "--kind", "tensors"], "unknown kind 'tensors' (did you mean 'tensor'?)"),
        (
            ["proj", "--kind", "sequence", "--preset", "tiny"],
            "--preset tiny takes float32 input, not token ids: --kind sequence needs a token",
        ),
        (
            ["proj", "--kind", "sequence", "--preset", "gpt2"],
            "--preset gpt2 gives (64, 50257) per sequence (a per-token model): --kind sequence",
        ),
        (
            ["proj", "--preset", "lstm_classifier"],
            "--preset lstm_classifier takes int64 token ids, but --kind tensor gives float",
        ),
        (
            ["proj", "--kind", "csv", "--preset", "transformer_classifier"],
            "but --kind csv gives float samples: use --kind sequence",
        ),
        (["proj", "--init", "kaimin"], "unknown init scheme 'kaimin' (did you mean 'kaiming'?)"),
        (["proj", "--model", "1Net"], "invalid model name '1Net'"),
        (["proj", "--model", "Module"], "invalid model name 'Module'"),
        (["proj", "--dataset", "My-Data"], "invalid dataset name 'My-Data'"),
        (["proj", "--dataset", "Synthetic"], "the project's own module has that name"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli("new", *args, cwd=tmp_path)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert tree_snapshot(tmp_path) == {} and not list(tmp_path.iterdir())


def test_a_non_empty_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    before = tree_snapshot(tmp_path)
    result = run_cli("new", str(target))
    assert result.exit_code == 1 and "is not empty; use --force" in result.stderr
    file = tmp_path / "file"
    file.write_text("x")
    result = run_cli("new", str(file))
    assert result.exit_code == 1 and "is not a directory" in result.stderr
    assert tree_snapshot(tmp_path) == {**before, "file": b"x"}


def test_the_real_entry_point_exits_1_without_a_traceback(tmp_path: Path) -> None:
    done = run_torchgen("new", "class", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "Error: invalid package name 'class': use a lowercase identifier such as 'my_project'\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_dry_run_reports_every_file_and_writes_nothing(tmp_path: Path) -> None:
    result = run_cli("new", "my-proj", "--dry-run", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines and all(line.startswith("create ") for line in lines)
    listed = {line.split()[1] for line in lines}
    assert {"my-proj/pyproject.toml", "my-proj/src/my_proj/train.py"} <= listed
    assert "my-proj/tests/models/test_net.py" in listed
    assert list(tmp_path.iterdir()) == []


def test_dry_run_force_and_regeneration_on_an_existing_project(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    assert run_cli("new", "proj", cwd=tmp_path).exit_code == 0
    # The same scaffold again: every file identical, so the command is a no-op that succeeds
    # (the README's one-liner can run twice).
    dry = run_cli("new", "proj", "--dry-run", cwd=tmp_path)
    assert dry.exit_code == 0
    assert {line.split()[0] for line in dry.output.splitlines()} == {"identical"}
    before = tree_snapshot(target)
    again = run_cli("new", "proj", cwd=tmp_path)
    assert again.exit_code == 0, again.output
    assert tree_snapshot(target) == before
    # A user's edits: one conflicts, a line added to an __init__.py does not, and --force
    # overwrites the conflict but leaves the user's other files and lines alone.
    model = target / "src" / "proj" / "models" / "net.py"
    model.write_text(model.read_text() + "# tuned by hand\n")
    init = target / "src" / "proj" / "models" / "__init__.py"
    init.write_text(init.read_text() + "\nVERSION = 2\n")
    (target / "notes.md").write_text("mine\n")
    before = tree_snapshot(target)
    dry = run_cli("new", "proj", "--dry-run", cwd=tmp_path)
    report = {line.split()[1]: line.split()[0] for line in dry.output.splitlines()[:-1]}
    assert report["proj/src/proj/models/net.py"] == "conflict"
    assert report["proj/src/proj/models/__init__.py"] == "identical"
    assert report["proj/src/proj/train.py"] == "identical"
    assert tree_snapshot(target) == before
    assert run_cli("new", "proj", cwd=tmp_path).exit_code == 1
    assert tree_snapshot(target) == before
    forced = run_cli("new", "proj", "--force", cwd=tmp_path)
    assert forced.exit_code == 0, forced.output
    assert "force      proj/src/proj/models/net.py" in forced.output
    after = tree_snapshot(target)
    assert b"tuned by hand" not in after["src/proj/models/net.py"]
    assert after["src/proj/models/__init__.py"].endswith(b"\nVERSION = 2\n")
    assert after["notes.md"] == b"mine\n"


@pytest.mark.parametrize(("where", "nth"), [("os.replace", 7), ("tempfile.mkstemp", 9)])
def test_a_disk_failure_midway_leaves_no_half_written_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, nth: int
) -> None:
    """Fail the nth rename (after some files are in place) or the nth temp file (while
    staging): the whole project is rolled back, the empty target included."""
    module_name, function = where.split(".")
    module = getattr(plan, module_name)
    real = getattr(module, function)
    calls = 0

    def failing(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == nth:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, function, failing)
    result = run_cli("new", str(tmp_path / "proj"))
    assert calls >= nth
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: could not write")
    assert "nothing was written" in result.stderr
    assert "No space left on device" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_headers_name_the_command_and_output_is_deterministic(tmp_path: Path) -> None:
    args = ["--style", "sequential", "--kind", "csv", "--package", "pkg"]
    assert run_cli("new", str(tmp_path / "a" / "demo"), *args).exit_code == 0
    # Another place, another process, another hash seed: the same bytes.
    code = textwrap.dedent(f"""
        from torchscaffold.cli import main
        main(["new", {str(tmp_path / "b" / "demo")!r}, *{args!r}])
        """)
    env = {**os.environ, "PYTHONHASHSEED": "4321"}
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    a, b = tree_snapshot(tmp_path / "a" / "demo"), tree_snapshot(tmp_path / "b" / "demo")
    assert a == b
    command = "torchgen new demo --package pkg --style sequential --kind csv"
    train = a["src/pkg/train.py"].decode()
    assert train.startswith(f"# Generated by torchgen {__version__}: {command}\n")
    model = a["src/pkg/models/net.py"].decode()
    assert "torchgen model Net --style sequential --preset tiny --init kaiming" in model
    assert a["README.md"].decode().startswith("# demo\n")
    assert 'package = "pkg"' in a["pyproject.toml"].decode()


def test_help_lists_the_command_and_its_options() -> None:
    assert "new" in run_cli("--help").output
    help = run_cli("new", "--help").output
    for option in ("--package", "--style", "--preset", "--kind", "--init", "--dry-run", "--force"):
        assert option in help
