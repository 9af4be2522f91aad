"""Blocks whose input leads with the batch times windows or tokens, not the model's batch
(swin's window attention, levit's token norm, mobilevit's patches): ejected in every style,
imported, loaded with their ``--weights`` (strict) and compared with the original."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_eject import STYLES, eject

from conftest import assert_lint_clean, import_file

MODELS = Path(__file__).resolve().parent / "eject_window_models.py"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("model", "shape"),
    [
        # windows split from the batch and merged back (view(-1, ...)), a map padded to whole
        # windows, a shifted block's mask passed to the attention without a batch, a bias
        # table indexed (table[index]), channels-last merges at two widths (one class)
        ("TinySwin", (3, 10, 10)),
        # BatchNorm1d over (batch * tokens, channels)
        ("TokenNet", (3, 8, 8)),
        # reshape(B * area, patches, -1): the -1 is the channels a LayerNorm is sized by
        ("PatchNet", (3, 4, 4)),
    ],
)
def test_blocks_over_windows_eject_in_every_style(torch, tmp_path, model, shape, style):
    import eject_window_models

    torch.manual_seed(0)
    path, _ = eject(
        tmp_path, f"{MODELS}:{model}", "--style", style, "--input-shape", "x".join(map(str, shape))
    )
    # The instance the command lifted (its weights are in net.pt); swin's mask is a buffer
    # with persistent=False, which the lifted class holds as a persistent one.
    torch.manual_seed(0)
    original = getattr(eject_window_models, model)().eval()
    generated = import_file(path).Net().eval()
    generated.load_state_dict(torch.load(tmp_path / "net.pt"), strict=True)
    assert sum(p.numel() for p in generated.parameters()) == sum(
        p.numel() for p in original.parameters()
    )
    x = torch.randn(3, *shape)  # another batch than the lift's
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original(x))
    assert_lint_clean(path)
