"""eject.arguments with a list of depths (ResNet's ``layers``): the class of models whose stage
repeats follow a constructor argument, whatever the depths, the stages that follow them and
the block defaults the instance counts choose. Pure descriptions: no torch."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from torchscaffold.eject import arguments
from torchscaffold.spec.expr import Index
from torchscaffold.spec.loader import parse_spec


def model(repeats: list[int], default: int) -> object:
    """Stages of one block class; its default width ``default`` (the most common instance's,
    which the instance counts decide) and each stage's width written against it."""
    stages = [
        {"block": "Unit", "name": f"stage{k}", "repeat": r, "width": 8 * (k + 1)}
        for k, r in enumerate(repeats)
    ]
    for stage in stages[1:]:  # the first block of a later stage strides, as ResNet's do
        stage["first"] = {"stride": 2}
    for stage in stages:
        if stage["width"] == default:
            del stage["width"]
    data = {
        "model": {"input": [3, 8, 8]},
        "layers": [{"type": "Conv2d", "out_channels": 8, "kernel_size": 1}, *stages],
        "blocks": {
            "Unit": {
                "params": {"width": default, "stride": 1},
                "layers": [
                    {
                        "type": "Conv2d",
                        "out_channels": "width",
                        "kernel_size": 1,
                        "stride": "stride",
                    }
                ],
            }
        },
    }
    return parse_spec(data, "Net")


depths = st.lists(st.integers(2, 5), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(depths, st.data())
def test_each_stage_follows_the_item_it_repeats(value, data):
    # Each stage repeats an item of the argument, or a number of its own.
    follows = data.draw(
        st.lists(st.one_of(st.none(), st.integers(0, len(value) - 1)), min_size=1, max_size=4)
    )
    constant = data.draw(st.integers(2, 5))
    moved, _ = arguments.other_values(tuple(value))
    before = [constant if j is None else value[j] for j in follows]
    after = [constant if j is None else moved[j] for j in follows]
    defaults = data.draw(st.sampled_from([8 * (k + 1) for k in range(len(follows))]))
    other_default = data.draw(st.sampled_from([8 * (k + 1) for k in range(len(follows))]))
    kept = arguments.keep(
        model(before, defaults), model(after, other_default), "layers", tuple(value), moved
    )
    if all(j is None for j in follows):
        assert kept is None  # nothing follows from it
        return
    assert kept is not None
    assert dict(kept.main.params)["layers"] == tuple(value)
    stages = [s for s in kept.main.steps if s.kind == "block"]
    for stage, j in zip(stages, follows):
        assert stage.repeat == (constant if j is None else Index("layers", j))
    # The block's defaults are the model's own: its calls are unchanged.
    assert kept.blocks == model(before, defaults).blocks


@settings(max_examples=30, deadline=None)
@given(depths, st.integers(1, 3))
def test_a_repeat_that_moves_otherwise_is_not_kept(value, off):
    """A stage whose repeat grew by an amount no item grew by does not follow the argument."""
    moved, _ = arguments.other_values(tuple(value))
    before = [value[0]]
    after = [value[0] + len(value) + off]  # past every item's growth
    assert arguments.keep(model(before, 8), model(after, 8), "layers", tuple(value), moved) is None
