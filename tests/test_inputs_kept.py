"""A command never writes over one of its own inputs (issue 18): ``convert good.pt -o good.pt
--force`` replaced its checkpoint, ``-o other.py`` naming the ``--to`` source replaced the
user's model with a zip file. However the output names an input (the same path, ``./``,
``sub/../``, absolute, a symbolic link, a hard link), it is refused, ``--force`` or not, with
nothing written: as ``cp`` refuses to copy a file onto itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TWO_LAYER_NET, run_cli, tree_snapshot
from torchscaffold.errors import TorchgenError
from torchscaffold.plan import Plan, PlannedFile

SPELLINGS = ["same", "dot", "parent", "absolute", "symlink", "hardlink"]


def spelled(folder: Path, name: str, how: str) -> str:
    """Another way of naming ``folder/name``, made where it needs a link."""
    if how == "same":
        return name
    if how == "dot":
        return f"./{name}"
    if how == "parent":
        (folder / "sub").mkdir(exist_ok=True)
        return f"sub/../{name}"
    if how == "absolute":
        return str(folder / name)
    link = folder / f"{how}-{name}"
    if not link.exists():
        (os.symlink if how == "symlink" else os.link)(folder / name, link)
    return link.name


@pytest.fixture(scope="module")
def work(tmp_path_factory, torch) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "net.py").write_text(TWO_LAYER_NET)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    torch.save({"model": net.state_dict(), "epoch": 3, "optimizer": {}}, folder / "good.pt")
    (folder / "spec.toml").write_text(
        '[model]\ninput = [4]\n\n[[layers]]\ntype = "Linear"\nout_features = 2\n'
    )
    return folder


@settings(max_examples=24, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    victim=st.sampled_from(["good.pt", "net.py"]),
    how=st.sampled_from(SPELLINGS),
    force=st.booleans(),
)
def test_convert_never_writes_over_its_inputs(work, victim, how, force):
    output = spelled(work, victim, how)
    before = tree_snapshot(work)
    args = ["convert", "good.pt", "--to", "net.py:Net", "-o", output]
    result = run_cli(*args, *(["--force"] if force else []), cwd=work)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "would overwrite the input" in result.output
    assert tree_snapshot(work) == before


@pytest.mark.parametrize("how", SPELLINGS)
def test_model_never_writes_over_its_spec(work, how):
    output = spelled(work, "spec.toml", how)
    before = tree_snapshot(work)
    result = run_cli("model", "Net", "--spec", "spec.toml", "-o", output, "--force", cwd=work)
    assert result.exit_code == 1 and "would overwrite the input" in result.output
    assert tree_snapshot(work) == before


def test_eject_never_writes_over_its_source(work):
    before = tree_snapshot(work)
    result = run_cli("model", "Copy", "--from", "net.py:Net", "-o", "net.py", "--force", cwd=work)
    assert result.exit_code == 1 and "would overwrite the input net.py" in result.output
    assert tree_snapshot(work) == before


def test_a_dry_run_says_so_too(work):
    result = run_cli("convert", "good.pt", "--to", "net.py", "-o", "good.pt", "--dry-run", cwd=work)
    assert result.exit_code == 1 and "would overwrite the input good.pt" in result.output


def test_the_plan_compares_files_not_names(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("x")
    plan = Plan((PlannedFile(tmp_path / "b.txt", "y"),), inputs=(a,))
    plan.apply()
    assert (tmp_path / "b.txt").read_text() == "y"
    os.link(a, tmp_path / "c.txt")
    with pytest.raises(TorchgenError, match="would overwrite the input"):
        Plan((PlannedFile(tmp_path / "c.txt", "y"),), inputs=(a,)).apply(force=True)
    assert a.read_text() == "x"
