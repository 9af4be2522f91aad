"""A description written as TOML (``spec.dump``) reads back as the same description: for every
preset, and for every example spec."""

from __future__ import annotations

import pytest
import tomllib

from conftest import ROOT
from torchscaffold.spec.dump import dump
from torchscaffold.spec.loader import load_spec, parse_spec
from torchscaffold.spec.presets import PRESETS, build_preset


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_round_trips(preset):
    model = build_preset(preset, "Net")
    assert parse_spec(tomllib.loads(dump(model)), "Net") == model


@pytest.mark.parametrize(
    "example", sorted((ROOT / "docs" / "examples").glob("*.toml")), ids=lambda p: p.stem
)
def test_every_example_round_trips(example):
    model = load_spec(example, "Net")
    assert parse_spec(tomllib.loads(dump(model)), "Net") == model
