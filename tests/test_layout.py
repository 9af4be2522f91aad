"""``view`` of a value that is not laid out in order (issue 18): ``transpose`` then ``view`` was
accepted and died at the first forward. Hypothesis draws chains of the ops that make views
(transpose, permute, narrow, select, unsqueeze, expand, contiguous, reshape, view) and a final
``view`` that merges or splits dimensions; torchgen must refuse exactly the views torch refuses,
and what it accepts must run."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchscaffold.errors import TorchgenError
from torchscaffold.shapes import resolve
from torchscaffold.shapes.layout import BATCH, check_views
from torchscaffold.spec import loader
from torchscaffold.spec.options import finalize

OPS = ["transpose", "permute", "narrow", "select", "unsqueeze", "expand", "contiguous", "reshape"]


@st.composite
def chains(draw: Any, ops: tuple[str, ...] = tuple(OPS)) -> tuple[list[int], list[dict], list[int]]:
    """An input shape, the steps, and the final view's per-sample shape."""
    shape = draw(st.lists(st.integers(1, 4), min_size=2, max_size=3))
    current = list(shape)
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(ops))
        rank = len(current)
        if op == "transpose":
            a, b = draw(st.integers(1, rank)), draw(st.integers(1, rank))
            steps.append({"op": op, "dim0": a, "dim1": b})
            current[a - 1], current[b - 1] = current[b - 1], current[a - 1]
        elif op == "permute":
            order = draw(st.permutations(range(1, rank + 1)))
            steps.append({"op": op, "dims": [0, *order]})
            current = [current[d - 1] for d in order]
        elif op == "narrow":
            d = draw(st.integers(1, rank))
            if current[d - 1] > 1:
                steps.append({"op": op, "dim": d, "start": 1, "length": current[d - 1] - 1})
                current[d - 1] -= 1
        elif op == "select" and rank > 2:
            d = draw(st.integers(1, rank))
            steps.append({"op": op, "dim": d, "index": 0})
            del current[d - 1]
        elif op == "unsqueeze" and rank < 4:
            d = draw(st.integers(1, rank + 1))
            steps.append({"op": op, "dim": d})
            current.insert(d - 1, 1)
        elif op == "expand" and 1 in current:
            sizes = [draw(st.integers(1, 3)) if s == 1 else s for s in current]
            steps.append({"op": op, "sizes": ["size(0)", *sizes]})
            current = sizes
        elif op in ("relu", "linear"):  # a parameter-free layer; a layer with weights
            steps.append({"op": "relu"} if op == "relu" else {"type": "Linear", "out_features": 4})
            current[-1] = current[-1] if op == "relu" else 4
        elif op in ("contiguous", "reshape"):
            steps.append(
                {"op": op} if op == "contiguous" else {"op": op, "shape": ["size(0)", *current]}
            )
    # The view: adjacent dimensions merged at random, then some split into factors.
    target: list[int] = []
    for size in current:
        if target and draw(st.booleans()):
            target[-1] *= size
        else:
            target.append(size)
    split: list[int] = []
    for size in target:
        factor = draw(st.sampled_from([f for f in range(1, size + 1) if size % f == 0]))
        split += [factor, size // factor] if factor not in (1, size) else [size]
    steps.append({"op": "view", "shape": ["size(0)", *split]})
    return shape, steps, split


def _torch_view(torch, shape: list[int], steps: list[dict[str, Any]]) -> bool:
    """Whether torch runs the chain (the view included)."""
    x = torch.randn(BATCH, *shape)
    for s in steps:
        sizes = [x.size(0)] + [v for v in s.get("shape", s.get("sizes", []))[1:]]
        op = s.get("op", "linear")
        if op == "transpose":
            x = x.transpose(s["dim0"], s["dim1"])
        elif op == "permute":
            x = x.permute(*s["dims"])
        elif op == "narrow":
            x = x.narrow(s["dim"], s["start"], s["length"])
        elif op == "select":
            x = x.select(s["dim"], s["index"])
        elif op == "unsqueeze":
            x = x.unsqueeze(s["dim"])
        elif op == "expand":
            x = x.expand(*sizes)
        elif op == "contiguous":
            x = x.contiguous()
        elif op == "relu":
            x = torch.relu(x)
        elif "type" in s:  # a Linear: fresh weights, its output's layout is what matters
            x = torch.nn.functional.linear(x, torch.randn(4, x.size(-1)))
        elif op == "reshape":
            x = x.reshape(*sizes)
        else:
            try:
                x = x.view(*sizes)
            except RuntimeError:
                return False
    return True


def _check(shape: list[int], steps: list[dict[str, Any]]) -> bool:
    spec = {"model": {"input": shape}, "layers": steps}
    try:
        check_views(resolve(finalize(loader.parse_spec(spec, "Net"))))
    except TorchgenError as exc:
        assert "view cannot merge its dimensions" in str(exc), exc
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(chain=chains())
def test_torchgen_refuses_exactly_the_views_torch_refuses(torch, chain):
    shape, steps, _ = chain
    assert _check(shape, steps) == _torch_view(torch, shape, steps), steps


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(chain=chains(ops=(*OPS, "relu", "linear")))
def test_what_torchgen_accepts_runs(torch, chain):
    """With layers in the chain the layout may be unknown and a merge refused that torch would
    run (relu keeps a layout, and torchgen does not guess): never the other way round."""
    shape, steps, _ = chain
    if _check(shape, steps):
        assert _torch_view(torch, shape, steps), steps


def test_the_reported_example(torch):
    steps = [{"op": "transpose", "dim0": 1, "dim1": 2}, {"op": "view", "shape": ["size(0)", 24]}]
    assert not _check([4, 6], steps) and not _torch_view(torch, [4, 6], steps)


@pytest.mark.parametrize("fix", ["reshape", "contiguous"])
def test_the_fixes_the_message_names_work(torch, fix):
    steps: list[dict[str, Any]] = [{"op": "transpose", "dim0": 1, "dim1": 2}]
    if fix == "contiguous":
        steps += [{"op": "contiguous"}, {"op": "view", "shape": ["size(0)", 24]}]
    else:
        steps += [{"op": "reshape", "shape": ["size(0)", 24]}]
    assert _check([4, 6], steps) and _torch_view(torch, [4, 6], steps)


def test_an_op_on_a_transposed_value_leaves_its_layout_unknown():
    """relu keeps a transposed input's layout (or not: torch decides): a view that merges is
    refused, one that only splits is accepted."""
    base: list[dict[str, Any]] = [{"op": "transpose", "dim0": 1, "dim1": 2}, {"op": "relu"}]
    assert not _check([4, 6], [*base, {"op": "view", "shape": ["size(0)", 24]}])
    assert _check([4, 6], [*base, {"op": "view", "shape": ["size(0)", 3, 2, 4]}])
    assert math.prod([3, 2, 4]) == 24
