"""``torchgen convert``'s steps, each alone: match (pure), unwrap, prefixes, storage ties,
assembly, the input a generated file's ``__main__`` builds, the output path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torchscaffold.errors import TorchgenError
from torchscaffold.generate.convert import json_args, output_path
from torchscaffold.weights import checkpoint, inputs
from torchscaffold.weights.match import Entry, Misfit, match

# -- match ---------------------------------------------------------------------------------


def listing(*specs: tuple, prefix: str = "", tied: dict[int, int] | None = None) -> list[Entry]:
    """Entries from (leaf, shape[, dtype]) with keys ``{prefix}{i}.{leaf}``; ``tied`` maps an
    index to the index whose tensor it shares."""
    tied = tied or {}
    found = []
    for i, (leaf, shape, *dtype) in enumerate(specs):
        slot = found[tied[i]].slot if i in tied else i
        found.append(Entry(f"{prefix}{i}.{leaf}", shape, (dtype or ["float32"])[0], slot))
    return found


CONV_BN = [
    ("weight", (8, 3, 3, 3)),
    ("weight", (8,)),
    ("bias", (8,)),
    ("running_mean", (8,)),
    ("running_var", (8,)),
    ("num_batches_tracked", (), "int64"),
    ("weight", (10, 8)),
    ("bias", (10,)),
]


def test_keys_differ_tensors_agree():
    source, target = listing(*CONV_BN, prefix="features."), listing(*CONV_BN, prefix="layers.")
    matched = match(source, target)
    assert matched.pairs == tuple(zip([t.key for t in target], [s.key for s in source]))
    assert matched.ties == () and matched.filled == ()


def test_the_first_misfit_is_named_with_what_the_target_expects():
    target = listing(*CONV_BN)
    source = listing(*CONV_BN[:6], ("weight", (1000, 8)), ("bias", (1000,)))
    with pytest.raises(Misfit) as err:
        match(source, target)
    assert str(err.value) == (
        "'6.weight' (1000, 8) float32 (tensor 7 of 8) does not fit: the target expects "
        "'6.weight' (10, 8) float32 there"
    )


def test_a_leaf_name_must_agree_for_a_layers_tensor():
    # A (8,) weight where a (8,) bias is expected: same shape, another tensor.
    source = listing(("weight", (8,)), ("weight", (8,)))
    target = listing(("weight", (8,)), ("bias", (8,)))
    with pytest.raises(Misfit, match=r"'1.weight' \(8,\) float32 \(tensor 2 of 2\)"):
        match(source, target)
    # A model's own parameter is named by its author: shape and dtype decide.
    own = [target[0], Entry("cls_token", (8,), "float32", 1, named=False)]
    assert match(source, own).pairs[1] == ("cls_token", "1.weight")


def test_dtype_kinds():
    half = listing(("weight", (4, 4), "float16"), ("weight", (4,), "bfloat16"))
    assert match(half, listing(("weight", (4, 4)), ("weight", (4,))))
    with pytest.raises(Misfit, match="int64"):
        match(listing(("weight", (4,), "int64")), listing(("weight", (4,))))


def test_source_longer_or_shorter():
    target = listing(*CONV_BN)
    with pytest.raises(Misfit, match="tensor 9 of 9.*the target has no tensor left for it"):
        match(listing(*CONV_BN, ("bias", (3,))), target)
    with pytest.raises(Misfit) as err:
        match(listing(*CONV_BN[:7]), target)
    assert str(err.value) == (
        "the checkpoint ends after 7 tensors, where the target expects '7.bias' (10,) "
        "float32 there"
    )


def test_num_batches_tracked_absent_from_old_checkpoints_is_filled():
    old = [spec for spec in CONV_BN if spec[0] != "num_batches_tracked"]
    matched = match(listing(*old), listing(*CONV_BN))
    assert matched.filled == ("5.num_batches_tracked",)
    assert matched.pairs[6] == ("6.weight", "5.weight")


GPT = [("weight", (100, 16)), ("weight", (32, 16)), ("weight", (16,)), ("weight", (100, 16))]


@pytest.mark.parametrize("kept", [0, 3], ids=["under-its-first-key", "under-its-last-key"])
def test_a_tied_weight_counts_once_wherever_it_is_listed(kept):
    target = listing(*GPT, tied={3: 0})
    # torch.save lists it under both keys (one storage) ...
    both = match(listing(*GPT, prefix="transformer.", tied={3: 0}), target)
    assert both.ties == () and both.pairs[3] == ("3.weight", "transformer.3.weight")
    # ... a file saved without duplicates (safetensors' save_model) under either one.
    once = [e for i, e in enumerate(listing(*GPT, prefix="t.", tied={3: 0})) if i in {kept, 1, 2}]
    matched = match(once, target)
    assert matched.pairs[0][1] == matched.pairs[3][1] == f"t.{kept}.weight"


def test_tied_in_the_target_but_two_tensors_in_the_source_is_left_to_their_values():
    matched = match(listing(*GPT), listing(*GPT, tied={3: 0}))
    assert matched.ties == ((("0.weight", "3.weight"), ("0.weight", "3.weight")),)
    # Tied in the source, two tensors in the target: both get the one tensor.
    untied = match(listing(*GPT, tied={3: 0}), listing(*GPT))
    assert untied.ties == () and untied.pairs[3] == ("3.weight", "3.weight")


SHAPES = st.lists(st.integers(1, 5), max_size=3).map(tuple)
LEAVES = st.sampled_from(["weight", "bias", "running_mean", "in_proj_weight"])


@given(st.lists(st.tuples(LEAVES, SHAPES), min_size=1, max_size=30), st.text("abc._", max_size=8))
def test_any_listing_matches_itself_under_other_keys(specs, prefix):
    source, target = listing(*specs), listing(*specs, prefix=f"{prefix}x")
    assert [s for _, s in match(source, target).pairs] == [e.key for e in source]


# -- reading and unwrapping ----------------------------------------------------------------


def test_unwrap_finds_the_weights_and_strips_prefixes(torch):
    weights = {
        "module._orig_mod.conv.weight": torch.zeros(2),
        "module._orig_mod.fc.bias": torch.ones(1),
    }
    found = checkpoint.unwrap({"epoch": 3, "optimizer": {}, "model": weights}, Path("ckpt.pt"))
    assert list(found.state) == ["conv.weight", "fc.bias"]
    assert found.within == ("model",) and found.left == ("epoch", "optimizer")
    assert found.stripped == ("_orig_mod.", "module.")
    nested = checkpoint.unwrap({"state_dict": {"model": {"a": torch.zeros(1)}, "x": 1}}, Path("c"))
    assert nested.within == ("state_dict", "model") and list(nested.state) == ["a"]


def test_compiled_submodules_and_a_module_prefix_on_some_keys_only(torch):
    state, stripped = checkpoint.strip_prefixes(
        {"encoder._orig_mod.fc.weight": 1, "module.head.weight": 2}
    )
    assert list(state) == ["encoder.fc.weight", "module.head.weight"]  # a real "module"
    assert stripped == ("_orig_mod.",)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], "not a state_dict but a list"),
        ({}, "an empty dict, no weights in it"),
        ({"epoch": 3}, "not a state_dict: 'epoch' holds a int, and there is no 'model' or"),
        ({"model": {"w": "text"}}, "not a state_dict: 'w' holds a str"),
        ({1: "tensor"}, "1 holds a str"),
        ({"model": {"module.a": 1, "a": 2}}, "holds a int"),
    ],
)
def test_unwrap_refusals(obj, message):
    with pytest.raises(TorchgenError, match=message):
        checkpoint.unwrap(obj, Path("ckpt.pt"))


def test_unwrap_refuses_a_key_that_is_not_a_string_and_a_dict_inside_itself(torch):
    with pytest.raises(TorchgenError, match="the key 1 is not a string"):
        checkpoint.unwrap({1: torch.zeros(1)}, Path("c"))
    loop: dict = {"x": 1}
    loop["model"] = loop
    with pytest.raises(TorchgenError, match="no state_dict within 4 levels"):
        checkpoint.unwrap(loop, Path("c"))
    with pytest.raises(TorchgenError, match="keys collide without the prefix '_orig_mod.'"):
        checkpoint.unwrap({"_orig_mod.a": torch.zeros(1), "a": torch.zeros(1)}, Path("c"))


def test_entries_see_one_storage_saved_under_two_keys(torch, tmp_path):
    w = torch.randn(4, 2)
    torch.save({"wte.weight": w, "wpe.weight": torch.randn(4, 2), "head.weight": w}, tmp_path / "t")
    assert [e.slot for e in checkpoint.entries(checkpoint.read(tmp_path / "t"))] == [0, 1, 0]
    # Other tensor objects on one storage: the same view is one tensor, another view is not.
    views = {"a": w[0], "b": w[1], "c": w[0], "d": w[0, :1]}
    assert [e.slot for e in checkpoint.entries(views)] == [0, 1, 0, 2]


def test_assemble_fills_counters_and_refuses_ties_that_differ(torch):
    state = {"a": torch.ones(2), "b": torch.zeros(2)}
    matched = match(
        listing(("weight", (2,)), ("weight", (2,))),
        listing(
            ("weight", (2,)), ("num_batches_tracked", (), "int64"), ("weight", (2,)), tied={2: 0}
        ),
    )
    renamed = {"0.weight": state["a"], "1.weight": state["b"]}
    with pytest.raises(TorchgenError, match="ties '0.weight' and '2.weight'.*differ"):
        checkpoint.assemble(matched, renamed)
    renamed["1.weight"] = torch.ones(2)
    out = checkpoint.assemble(matched, renamed)
    assert out["0.weight"] is out["2.weight"]
    assert out["1.num_batches_tracked"].dtype == torch.long and out["1.num_batches_tracked"] == 0


# -- the rest ------------------------------------------------------------------------------


def test_inputs_from_a_generated_main_block():
    source = (
        "import torch\n"
        "class Net: pass\n"
        'if __name__ == "__main__":\n'
        "    model = Net().eval()\n"
        "    x = torch.randint(0, 100, (2, 16))\n"
        "    mask = torch.ones(2, 16, dtype=torch.bool)\n"
        "    y = model(x, mask)\n"
    )
    assert inputs.from_main_block(source, "Net") == [
        inputs.Example((2, 16), "int", 0, 100),
        inputs.Example((2, 16), "bool"),
    ]
    assert inputs.from_main_block(source, "Other") is None
    assert inputs.from_main_block(source.replace("(2, 16))", "shape)"), "Net") is None
    assert inputs.from_main_block("def (", "Net") is None


def test_output_path(tmp_path):
    ckpt = tmp_path / "resnet18.pth"
    assert output_path(ckpt, None) == tmp_path / "resnet18.converted.pt"
    assert output_path(ckpt, str(tmp_path)) == tmp_path / "resnet18.converted.pt"
    assert output_path(ckpt, "out/") == Path("out/resnet18.converted.pt")
    assert output_path(ckpt, "x.pt") == Path("x.pt")


def test_json_args():
    assert json_args('{"num_classes": 10}', "--args") == {"num_classes": 10}
    assert json_args(None, "--args") is None
    with pytest.raises(TorchgenError, match="--args is not valid JSON"):
        json_args("{num_classes: 10}", "--args")
    with pytest.raises(TorchgenError, match="must be a JSON object"):
        json_args("[10]", "--from-args")
