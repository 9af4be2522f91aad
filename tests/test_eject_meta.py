"""Eject lifts a model on a meta-device copy (shapes, no arithmetic): the description is the
one the real tensors give, and a forward that needs its values falls back to them."""

from __future__ import annotations

import pytest

from reference import torchvision_models


def _both(model, example):
    from torchscaffold.eject import model as eject_model

    meta = eject_model._lift(eject_model._meta_copy(model), "Net", [x.to("meta") for x in example])
    real = eject_model._lift(model, "Net", example)
    return meta.model, real.model


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_the_meta_copy_lifts_what_the_real_model_does(torch, name):
    model = getattr(torchvision_models(), name)().eval()
    meta, real = _both(model, [torch.randn(2, 3, 64, 64)])
    assert meta == real


def test_the_meta_copy_keeps_parameters_ties_and_leaves_the_original_alone(torch):
    from torch import nn

    from torchscaffold.eject.model import _meta_copy

    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    model[1].weight = model[0].weight
    copy = _meta_copy(model)
    assert all(p.is_meta for p in copy.parameters())
    assert isinstance(copy[1].weight, nn.Parameter) and copy[1].weight is copy[0].weight
    assert not any(p.is_meta for p in model.parameters())


def test_a_forward_that_reads_values_is_lifted_on_real_tensors(torch):
    """``.item()`` cannot run on the meta device: lift_model falls back to the real tensors and
    answers what they give (here the same refusal, as one line)."""
    from torch import nn

    from torchscaffold.eject import model as eject_model
    from torchscaffold.errors import TorchgenError

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.register_buffer("scale", torch.tensor(2.0))

        def forward(self, x):
            return self.fc(x) * float(self.scale)

    def outcome(call):
        try:
            return call().model
        except TorchgenError as exc:
            return str(exc)

    model, example = Scaled().eval(), [torch.randn(2, 4)]
    meta_copy = eject_model._meta_copy(model)
    on_meta = outcome(lambda: eject_model._lift(meta_copy, "Net", [example[0].to("meta")]))
    assert "meta" in str(on_meta)  # the meta device cannot give the value
    assert outcome(lambda: eject_model.lift_model(model, "Net", example)) == outcome(
        lambda: eject_model._lift(model, "Net", example)
    )
