"""Blocks whose input leads with the batch times windows or tokens, not the model's batch
(swin's window attention, levit's token norm, mobilevit's patches): ejected in every style,
imported, loaded with their ``--weights`` (strict) and compared with the original."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_eject import STYLES, assert_same_function, eject

MODELS = Path(__file__).resolve().parent / "eject_window_models.py"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("model", "shape"),
    [
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
    original = getattr(eject_window_models, model)()
    assert_same_function(torch, path, original, torch.randn(3, *shape))
