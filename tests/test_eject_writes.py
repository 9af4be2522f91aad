"""Forwards that write into a tensor (tests/eject_write_models.py): ejected in every style,
imported, loaded with their ``--weights`` (strict) and compared with the original at another
batch than the lift's; a write of the input's values is one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_eject import STYLES, eject

from conftest import assert_lint_clean, import_file, run_cli

MODELS = Path(__file__).resolve().parent / "eject_write_models.py"


def ejected_matches(torch, tmp_path: Path, model: str, shape: tuple, *extra: str, **kw):
    """Eject ``model`` (built with ``kw``), load its weights strict, compare on batch 3."""
    import eject_write_models

    args = ",".join(f"{k}={v!r}" for k, v in kw.items())
    source = f"{MODELS}:{model}" if not kw else _factory(tmp_path, model, args)
    torch.manual_seed(0)
    path, output = eject(tmp_path, source, "--input-shape", "x".join(map(str, shape)), *extra)
    torch.manual_seed(0)
    original = getattr(eject_write_models, model)(**kw).eval()
    generated = import_file(path).Net().eval()
    generated.load_state_dict(torch.load(tmp_path / "net.pt"), strict=True)
    assert sum(p.numel() for p in generated.parameters()) == sum(
        p.numel() for p in original.parameters()
    )
    x = torch.randn(3, *shape)
    got, expected = generated(x), original(x)
    torch.testing.assert_close(got, expected)
    # The same gradients: a write lifted as masked_fill keeps the written positions out of
    # the bias's gradient, as the in-place write does.
    got.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(_gradients(torch, generated), _gradients(torch, original))
    assert_lint_clean(path)
    return path.read_text(), output


def _gradients(torch, model) -> list:
    """Each parameter's gradient norm, in an order both classes share (by shape, then norm)."""
    found = sorted((tuple(p.shape), p.grad.norm().item()) for p in model.parameters())
    return [(shape, torch.tensor(norm)) for shape, norm in found]


def _factory(tmp_path: Path, model: str, args: str) -> str:
    module = tmp_path / "factory.py"
    module.write_text(
        f"import sys\nsys.path.insert(0, {str(MODELS.parent)!r})\n"
        f"from eject_write_models import {model}\n\n\ndef make():\n    return {model}({args})\n"
    )
    return f"{module}:make"


@pytest.mark.parametrize("style", STYLES)
def test_a_mask_built_by_item_assignment_is_a_buffer(torch, tmp_path, style):
    source, output = ejected_matches(
        torch, tmp_path, "ShiftedWindows", (3, 16, 16), "--style", style
    )
    # The mask is the trace's constant, named as the forward names it; the number
    # (C // heads) ** -0.5 is written as the trace computed it; both are said in a note.
    assert 'register_buffer("attn_mask"' in source
    assert "swapaxes" not in source and ".transpose(-2, -1)" in source
    assert "note: held as computed from the sizes traced: " in output
    assert "attn_mask (eject_write_models.py:" in output
    assert "0.5 (eject_write_models.py:" in output


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_a_buffer_read_through_a_view_stays_the_buffer(torch, tmp_path, style):
    source, _ = ejected_matches(torch, tmp_path, "IndexedTable", (9,), "--style", style)
    # MaxViT's self.index.view(-1): a read of the buffer, not a constant fx made of it.
    assert "self.index.view(-1)" in source
    assert "tensor_constant" not in source


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    bounds=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    value=st.sampled_from([0.0, -1.5, 3.0]),
    style=st.sampled_from(STYLES),
)
def test_numbers_written_into_a_copy_are_a_masked_fill(
    torch, tmp_path_factory, bounds, value, style
):
    tmp_path = tmp_path_factory.mktemp("zeroed")
    start, stop = sorted(bounds)
    source, _ = ejected_matches(
        torch, tmp_path, "ZeroedBias", (6,), "--style", style, start=start, stop=stop, value=value
    )
    assert ".masked_fill(" in source and ".clone()" not in source


@pytest.mark.parametrize(
    ("model", "said"),
    [
        # a write of the input's values into a copy
        ("DataWrite", "item assignment into"),
        # a number computed from the batch: not the same number at another batch
        ("BatchScaled", "a size computed in a way torchgen cannot write"),
    ],
)
def test_what_does_not_lift_is_one_line(tmp_path, model, said):
    result = run_cli(
        "model", "Net", "--from", f"{MODELS}:{model}", "--input-shape", "4", "-o", "net.py",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.exit_code != 0
    message = result.output.strip()
    assert message.startswith(f"Error: cannot lift {model}") and "\n" not in message
    assert said in message and "eject_write_models.py:" in message
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
