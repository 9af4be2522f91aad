"""render.inline writes a value into the line that reads it: over random straight-line
forwards (calls of layers, methods on values, residual adds, values read twice or later), the
rewritten forward computes the same result with the same calls in the same order."""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st

from torchscaffold.render.inline import forward_temporaries


class Val:
    """A value that records every operation on it in the shared log."""

    def __init__(self, text: str, log: list[str]) -> None:
        self.text, self.log = text, log

    def _new(self, text: str) -> Val:
        self.log.append(text)
        return Val(text, self.log)

    def __add__(self, other: Val) -> Val:
        return self._new(f"({self.text} + {other.text})")

    def t(self, k: int = 0) -> Val:
        return self._new(f"{self.text}.t({k})")


class Layers:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __getattr__(self, name: str):
        def call(*values: Val) -> Val:
            text = f"{name}({', '.join(v.text for v in values)})"
            self.log.append(text)
            return Val(text, self.log)

        return call


@st.composite
def forwards(draw) -> str:
    names = ["x"]
    lines = []
    for k in range(draw(st.integers(1, 9))):
        a = draw(st.sampled_from(names))
        b = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["layer", "layer2", "method", "add", "add_call"]))
        value = {
            "layer": f"self.layers.f{k}({a})",
            "layer2": f"self.layers.g{k}({a}, {b})",
            "method": f"{a}.t({k})",
            "add": f"{a} + {b}",
            "add_call": f"{a} + self.layers.h{k}({b})",
        }[kind]
        target = draw(st.sampled_from([a, f"v{k}"]))  # rebinding a name, or a new one
        lines.append(f"{target} = {value}")
        if target not in names:
            names.append(target)
    ret = draw(st.sampled_from(names))
    body = "\n".join(f"        {line}" for line in [*lines, f"return {ret}"])
    return f"class Net:\n    def forward(self, x):\n{body}\n"


def run(source: str) -> tuple[str, list[str]]:
    log: list[str] = []
    scope: dict = {}
    exec(compile(source, "<forward>", "exec"), scope)  # noqa: S102 - our own random code
    net = scope["Net"]()
    net.layers = Layers(log)
    return net.forward(Val("x", log)).text, log


@settings(max_examples=300, deadline=None)
@given(forwards())
def test_the_rewritten_forward_computes_the_same_in_the_same_order(source):
    rewritten = forward_temporaries(source)
    ast.parse(rewritten)
    assert run(rewritten) == run(source), rewritten


def test_nanogpt_block_reads_as_nanogpt():
    source = (
        "class Block:\n    def forward(self, x):\n        out = self.ln_1(x)\n"
        "        out = self.attn(out)\n        x1 = x + out\n        out = self.ln_2(x1)\n"
        "        out = self.mlp(out)\n        x2 = x1 + out\n        return x2\n"
    )
    assert forward_temporaries(source).splitlines()[2:] == [
        "        x1 = x + self.attn(self.ln_1(x))",
        "        return x1 + self.mlp(self.ln_2(x1))",
    ]


def test_a_chain_of_layers_stays_a_line_each():
    source = (
        "class Net:\n    def forward(self, x):\n        x = self.conv1(x)\n"
        "        x = self.bn1(x)  # kept\n        x = self.relu(x)\n        return x\n"
    )
    assert forward_temporaries(source).splitlines()[2:] == [
        "        x = self.conv1(x)",
        "        x = self.bn1(x)  # kept",
        "        return self.relu(x)",
    ]
