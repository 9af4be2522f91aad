"""``convert`` moves dense tensors with values only (issue 18): a meta tensor wrote a checkpoint
with no data and exit 0, a sparse one a traceback. Whatever kind of tensor sits at whatever key,
bare or wrapped, it is one line naming the key, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TWO_LAYER_NET, run_cli, tree_snapshot

KINDS = ["meta", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "quantized"]
KEYS = ["fc.weight", "fc.bias", "out.weight", "out.bias"]


def odd(torch, kind: str, like):
    if kind == "meta":
        return torch.empty_like(like, device="meta")
    if kind == "quantized":
        return torch.quantize_per_tensor(like.float(), 0.1, 0, torch.qint8)
    if like.dim() == 1:
        like = like.unsqueeze(0)  # the compressed layouts want two dimensions
    if kind == "sparse_coo":
        return like.to_sparse()
    if kind == "sparse_bsr":
        return like.to_sparse_bsr((1, 1))
    return getattr(like, f"to_{kind}")()


@pytest.fixture(scope="module")
def work(tmp_path_factory, torch) -> Path:
    folder = tmp_path_factory.mktemp("tensors")
    (folder / "net.py").write_text(TWO_LAYER_NET)
    return folder


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(KINDS), key=st.sampled_from(KEYS), wrapped=st.booleans())
def test_a_tensor_without_dense_values_is_one_line(torch, work, kind, key, wrapped):
    import warnings

    state = {"fc.weight": torch.ones(3, 4), "fc.bias": torch.ones(3)}
    state |= {"out.weight": torch.ones(2, 3), "out.bias": torch.ones(2)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse compressed layouts are "beta"
        state[key] = odd(torch, kind, state[key])
        torch.save({"model": state, "epoch": 1} if wrapped else state, work / "odd.pt")
    before = tree_snapshot(work)
    result = run_cli("convert", "odd.pt", "--to", "net.py", "--force", cwd=work)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and result.output.startswith(f"Error: odd.pt: {key!r}")
    assert ("meta tensor" if kind == "meta" else "dense tensors only") in result.output
    assert tree_snapshot(work) == before
