"""The token classifiers on real batches of the ``sequence`` dataset kind: its generated file
imported, its synthetic data batched by its own ``pad_collate``; forward, backward, and padding
that never changes a prediction."""

from __future__ import annotations

import inspect

import pytest

from conftest import import_file, run_cli
from torchscaffold.generate.model import ModelRequest, plan_model
from torchscaffold.spec.presets import PRESETS

TEXT = ["lstm_classifier", "transformer_classifier"]


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, torch):
    path = tmp_path_factory.mktemp("data") / "tokens.py"
    assert run_cli("dataset", "Tokens", "--kind", "sequence", "-o", str(path)).exit_code == 0
    return import_file(path)


@pytest.fixture(scope="module")
def batch(tokens, torch):
    loader = torch.utils.data.DataLoader(
        tokens.synthetic(), batch_size=16, shuffle=False, collate_fn=tokens.pad_collate
    )
    return next(iter(loader))


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory):
    out = tmp_path_factory.mktemp("text")
    modules = {}
    for preset in TEXT:
        plan, resolved = plan_model(ModelRequest("Net", preset=preset), out / f"{preset}.py")
        plan.apply()
        modules[preset] = (import_file(plan.files[0].path), resolved)
    return modules


@pytest.mark.parametrize("preset", TEXT)
def test_inputs_are_what_the_collate_yields(batch, classifiers, preset):
    module, resolved = classifiers[preset]
    names = [i.name for i in resolved.inputs]
    assert names == ["input_ids", "attention_mask"]
    assert list(inspect.signature(module.Net.forward).parameters)[1:] == names
    dtypes = {"int64": "torch.int64", "bool": "torch.bool"}
    for i in resolved.inputs:
        assert str(batch[i.name].dtype) == dtypes[i.dtype]
        assert batch[i.name].dim() == 1 + len(i.shape)
    assert PRESETS[preset].init is None  # PyTorch's own layer init


@pytest.mark.parametrize("preset", TEXT)
def test_forward_and_backward_on_a_real_batch(torch, batch, classifiers, preset):
    module, resolved = classifiers[preset]
    torch.manual_seed(0)
    model = module.Net()
    logits = model(batch["input_ids"], batch["attention_mask"])
    assert logits.shape == (16, *resolved.output_shape) == (16, 2)
    targets = batch["lengths"] % 2  # any labels: the point is the gradient
    loss = torch.nn.functional.cross_entropy(logits, targets)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # Only the padding row of the token table gets no gradient (padding_idx = the pad id 0).
    assert torch.all(model.embedding.weight.grad[0] == 0)


@pytest.mark.parametrize("preset", TEXT)
def test_padding_never_changes_the_logits(torch, batch, classifiers, preset):
    """More padding, or other ids where the mask is false: the same predictions."""
    module, _ = classifiers[preset]
    torch.manual_seed(0)
    model = module.Net().eval()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert not mask.all()  # the batch really is padded
    with torch.no_grad():
        expected = model(ids, mask)
        extra = 9
        more_ids = torch.cat([ids, torch.zeros(len(ids), extra, dtype=ids.dtype)], dim=1)
        more_mask = torch.cat([mask, torch.zeros(len(ids), extra, dtype=torch.bool)], dim=1)
        padded = model(more_ids, more_mask)
        noise = torch.randint(1, 100, more_ids.shape, generator=torch.Generator().manual_seed(3))
        garbage = model(torch.where(more_mask, more_ids, noise), more_mask)
        alone = torch.cat(
            [
                model(ids[i : i + 1, :n], mask[i : i + 1, :n])
                for i, n in enumerate(batch["lengths"].tolist())
            ]
        )
    assert torch.allclose(padded, expected, atol=1e-6)
    assert torch.allclose(garbage, expected, atol=1e-6)
    assert torch.allclose(alone, expected, atol=1e-5)  # each sequence unpadded, on its own


@pytest.mark.parametrize("preset", TEXT)
def test_sizes_are_constructor_arguments(torch, batch, classifiers, preset):
    """Every width is an argument: the classifier reads the LSTM's hidden size, not the
    embedding's (equal by default)."""
    module, _ = classifiers[preset]
    sizes = {"vocab_size": 120, "embed_dim": 32, "num_classes": 5}
    sizes |= {"hidden_size": 48} if preset == "lstm_classifier" else {"num_heads": 2}
    model = module.Net(**sizes)
    assert model(batch["input_ids"], batch["attention_mask"]).shape == (16, 5)
