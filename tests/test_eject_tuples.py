"""Blocks that pass several tensors as one value (timm's PiT, CrossViT, HRNet): a block that
returns a tuple, read by items (``x, tokens = self.pool(...)``, ``out[-1]``) or passed on whole
to the next block (``pair = module(pair)``); and the model's own tensors declared in the order
the original registered them, not the order its forward reads them (CaiT). Each ejected in
every style, imported, loaded with its ``--weights`` (strict) and compared with the original."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_eject import STYLES, assert_same_function, eject

MODELS = Path(__file__).resolve().parent / "eject_tuple_models.py"


@pytest.mark.parametrize("style", STYLES)
def test_blocks_that_return_a_tuple(torch, tmp_path, style):
    import eject_tuple_models

    torch.manual_seed(0)
    original = eject_tuple_models.TokenPyramid()
    path, _ = eject(tmp_path, f"{MODELS}:TokenPyramid", "--style", style, "--input-shape", "3x4x4")
    text = path.read_text()
    # The pool's three values, the third unread; the stages' pair, passed on as two values.
    assert re.search(r"\bpool, pool_1, _ = .*pool.*\(", text), text
    assert "self.cls_token = nn.Parameter(" in text
    assert text.index("self.cls_token =") < text.index("self.pos_embed =")
    assert_same_function(torch, path, original, torch.randn(2, 3, 4, 4))


@pytest.mark.parametrize("style", STYLES)
def test_blocks_that_return_a_list_of_branches(torch, tmp_path, style):
    """Each branch an nn.Sequential of one class in a ModuleList: each is that block
    repeated, under its own name (``branches_0``, ``branches_1``)."""
    import eject_tuple_models

    torch.manual_seed(0)
    original = eject_tuple_models.MultiResolution()
    path, _ = eject(
        tmp_path, f"{MODELS}:MultiResolution", "--style", style, "--input-shape", "3x8x8"
    )
    assert_same_function(torch, path, original, torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("style", STYLES)
def test_blocks_that_ignore_or_select_an_input(torch, tmp_path, style):
    """SelecSLS: a block given a tensor it never reads is not passed it (and the value
    computed only for it is ``_``); a block that returns one of its inputs as it is (its
    SelectSeq) is left out, and the command says so."""
    import eject_tuple_models

    torch.manual_seed(0)
    original = eject_tuple_models.PairedStages()
    path, output = eject(
        tmp_path, f"{MODELS}:PairedStages", "--style", style, "--input-shape", "3x6x6"
    )
    assert "left out what returns some of its inputs as they are: Select" in output
    assert "class Select" not in path.read_text()
    assert_same_function(torch, path, original, torch.randn(2, 3, 6, 6))


@pytest.mark.parametrize("style", STYLES)
def test_a_class_that_holds_instances_of_itself(torch, tmp_path, style):
    """DLA: one class per level of nesting, each calling the one below; a tensor given to a
    tree that computes its own is not passed, and the layer that computed it for that call
    alone keeps its weights, its output unread (``_ = self.project(x)``)."""
    import eject_tuple_models

    torch.manual_seed(0)
    original = eject_tuple_models.Trees()
    path, output = eject(tmp_path, f"{MODELS}:Trees", "--style", style, "--input-shape", "3x4x4")
    assert "Tree hold instances of it: lifted as one class per level of nesting (Tree, " in output
    assert "class Tree3(" in path.read_text()
    assert re.search(r"_ = .*project.*\(x\)", path.read_text())
    assert_same_function(torch, path, original, torch.randn(2, 3, 4, 4))
