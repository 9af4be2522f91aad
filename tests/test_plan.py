"""plan.py: statuses, refusal of conflicts, and all-or-nothing writes under failure."""

from __future__ import annotations

import os

import pytest

from conftest import tree_snapshot
from torchscaffold.errors import TorchgenError
from torchscaffold.plan import Plan, PlannedFile


def _plan(root, **files):
    return Plan(
        tuple(
            PlannedFile(root / name, text, editable=name.endswith("__init__.py"))
            for name, text in files.items()
        )
    )


def test_statuses(tmp_path):
    (tmp_path / "same.py").write_text("a\n")
    (tmp_path / "other.py").write_text("old\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("# mine\n")
    plan = Plan(
        (
            PlannedFile(tmp_path / "new.py", "x\n"),
            PlannedFile(tmp_path / "same.py", "a\n"),
            PlannedFile(tmp_path / "other.py", "new\n"),
            PlannedFile(tmp_path / "pkg" / "__init__.py", "# mine\nimport x\n", editable=True),
            PlannedFile(tmp_path / "pkg", "a directory\n"),
        )
    )
    assert [s for s, _ in plan.statuses()] == [
        "create",
        "identical",
        "conflict",
        "update",
        "conflict",
    ]
    assert plan.report(tmp_path)[0] == "create     new.py"


def test_conflict_refuses_everything_without_force(tmp_path):
    (tmp_path / "b.py").write_text("mine\n")
    plan = _plan(tmp_path, **{"a.py": "a\n", "b.py": "theirs\n"})
    before = tree_snapshot(tmp_path)
    with pytest.raises(TorchgenError, match="already exists and differs; use --force"):
        plan.apply()
    assert tree_snapshot(tmp_path) == before
    plan.apply(force=True)
    assert (tmp_path / "b.py").read_text() == "theirs\n" and (tmp_path / "a.py").exists()


def test_failure_while_renaming_restores_everything(tmp_path, monkeypatch):
    (tmp_path / "b.py").write_text("original\n")
    plan = _plan(tmp_path, **{"a.py": "a\n", "b.py": "b\n", "sub/c.py": "c\n"})
    before = tree_snapshot(tmp_path)
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # a.py in, b.py backed up and in: then the disk "fails"
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(TorchgenError, match="No space left on device; nothing was written"):
        plan.apply(force=True)
    monkeypatch.setattr(os, "replace", real)
    assert tree_snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["b.py"]


def test_failure_while_staging_leaves_no_trace(tmp_path, monkeypatch):
    import tempfile

    real, calls = tempfile.mkstemp, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", flaky)
    plan = _plan(tmp_path, **{"deep/a.py": "a\n", "deep/er/b.py": "b\n"})
    with pytest.raises(TorchgenError, match="Permission denied; nothing was written"):
        plan.apply()
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_normal_permissions(tmp_path):
    (tmp_path / "old.py").write_text("x\n")
    (tmp_path / "old.py").chmod(0o755)
    _plan(tmp_path, **{"new.py": "n\n", "old.py": "y\n"}).apply(force=True)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "new.py").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "old.py").stat().st_mode & 0o777 == 0o755


def test_a_binary_file(tmp_path):
    """Bytes are written as they are (a converted checkpoint), compared as bytes."""
    path = tmp_path / "w.pt"
    plan = Plan((PlannedFile(path, b"\x80\x02binary\r\n"),))
    assert plan.apply()[0].startswith("create")
    assert path.read_bytes() == b"\x80\x02binary\r\n"
    assert [s for s, _ in plan.statuses()] == ["identical"]
    other = Plan((PlannedFile(path, b"other"),))
    assert [s for s, _ in other.statuses()] == ["conflict"]
    with pytest.raises(TorchgenError, match="already exists and differs"):
        other.apply()
    other.apply(force=True)
    assert path.read_bytes() == b"other"
