"""The lifting mechanisms the zoos need, each on a small model with the shape of a torchvision
forward: ejected, imported, loaded with its ``--weights`` (strict) and compared with the
original."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_eject import assert_same_function, eject

MODELS = Path(__file__).resolve().parent / "eject_lifting_models.py"


@pytest.mark.parametrize("style", ["explicit", "nested", "sequential"])
def test_a_block_called_with_the_list_of_every_output_before_it(torch, tmp_path, style):
    """DenseNet: each layer gets the list so far as that many inputs (the list is recorded as
    it was at the call, not as it grew); the layers, which read more than the previous output,
    are steps of the model; ``torch.cat`` of one tensor is that tensor."""
    import eject_lifting_models

    torch.manual_seed(0)
    original = eject_lifting_models.TinyDenseNet()
    path, output = eject(
        tmp_path, f"{MODELS}:TinyDenseNet", "--style", style, "--input-shape", "3x8x8"
    )
    assert "lifted as 3 classes" in output  # one, two and three inputs
    assert_same_function(torch, path, original, torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("style", ["explicit", "nested"])
def test_instances_differing_in_tuples_and_tensor_sizes(torch, tmp_path, style):
    """ConvNeXt: a Permute order that differs makes two classes (a parameter is a number);
    a tensor of the class sized by its width is sized by a parameter; EfficientNetV2: a
    repeated stage's first block spells out its default where the others differ."""
    import eject_lifting_models

    torch.manual_seed(0)
    path, output = eject(tmp_path, f"{MODELS}:Stages", "--style", style, "--input-shape", "3x4x4")
    assert "lifted as 2 classes (Permute, Permute2)" in output
    text = path.read_text()
    assert "nn.Parameter(torch.zeros(" in text and "torch.zeros(12, 1, 1)" not in text
    assert_same_function(torch, path, eject_lifting_models.Stages(), torch.randn(2, 3, 4, 4))


def test_a_block_given_a_number_and_a_builtin_functional(torch, tmp_path):
    import eject_lifting_models

    torch.manual_seed(0)
    path, _ = eject(tmp_path, f"{MODELS}:Literals", "--input-shape", "4x6x6")
    assert "F.avg_pool2d(" in path.read_text() or "nn.AvgPool2d(" in path.read_text()
    assert_same_function(torch, path, eject_lifting_models.Literals(), torch.randn(2, 4, 6, 6))
