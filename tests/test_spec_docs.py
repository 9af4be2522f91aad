"""docs/spec-format.md and docs/examples/ stay true: every TOML block on the page is a complete
spec, and every example file is linked from it; each generates in every style, and all of them
are one network equal to an independent evaluation of the description, train (backward), export,
pass black and ruff, and regenerate byte for byte."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, assert_lint_clean
from network import assert_one_network, generate_all
from torchscaffold.generate.model import ModelRequest, plan_model

DOC = ROOT / "docs" / "spec-format.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.DOTALL)
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.toml"))
SPECS = [(f"doc{i}", text) for i, text in enumerate(BLOCKS)] + [
    (p.stem, p.read_text()) for p in EXAMPLES
]


def test_every_block_is_a_whole_spec_and_every_example_is_linked():
    assert BLOCKS and all(b.lstrip().startswith("[model]") for b in BLOCKS)
    doc = DOC.read_text()
    for example in EXAMPLES:
        assert f"examples/{example.name}" in doc or "](examples/)" in doc, example.name


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = {}
    for label, text in SPECS:
        folder = tmp_path_factory.mktemp(label)
        spec = folder / "spec.toml"
        spec.write_text(text)
        out[label] = generate_all(folder, name="Spec", spec=spec)
    return out


def test_lint_clean(generated):
    assert_lint_clean(*(path for files in generated.values() for path, _ in files.values()))


@pytest.mark.parametrize("label", [label for label, _ in SPECS])
def test_one_network_that_trains(generated, torch, label):
    assert_one_network(generated[label])


@pytest.mark.parametrize("label", [label for label, _ in SPECS])
def test_regenerating_is_identical(generated, label):
    for style, (path, _) in generated[label].items():
        req = ModelRequest(
            "Spec",
            style=style.removesuffix("_numbered"),
            numbered=style.endswith("_numbered"),
            spec=path.parent / "spec.toml",
        )
        plan, _ = plan_model(req, path)
        assert plan.files[0].content == path.read_text(), style
