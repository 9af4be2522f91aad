"""The two pieces that make sizes expressions and repeats loops, tested alone: ``Sym`` (an int
that carries its expression through a shape rule) and ``shapes.stage`` (instances as one
expression of their position)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from torchscaffold.catalog import rules, symbolic
from torchscaffold.catalog.types import Dim
from torchscaffold.shapes import stage
from torchscaffold.shapes.resolved import RInstance
from torchscaffold.spec.expr import BinOp, Lit, Name, evaluate, parse, simplify, to_source

NAMES = ("hidden", "growth", "width")


@st.composite
def exprs(draw, depth: int = 3):
    """An integer expression of the parameters: + - * // % of names and small literals."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(NAMES).map(Name) | st.integers(1, 9).map(Lit))
    op = draw(st.sampled_from(["+", "-", "*", "//", "%"]))
    left, right = draw(exprs(depth - 1)), draw(exprs(depth - 1))
    return parse(f"({to_source(left)}) {op} ({to_source(right)})", "test")


ASSIGNMENTS = st.fixed_dictionaries({n: st.integers(1, 50) for n in NAMES})


@settings(max_examples=150, deadline=None)
@given(exprs(), exprs(), ASSIGNMENTS)
def test_sym_arithmetic_keeps_an_expression_that_evaluates_to_its_value(a, b, values):
    """What a rule computes on Syms is the int result, and its expression gives that result
    for any other parameter values too (here: evaluated under fresh ones)."""
    guards: list = []
    try:
        va, vb = evaluate(a, values), evaluate(b, values)
        expected = [va + vb, va - vb, va * vb, 2 * va + 1, (va + 2 * 3 - 1) // 2 + 1]
        if vb:
            expected += [va // vb, va % vb]
    except ZeroDivisionError:
        return
    sa, sb = symbolic.Sym(va, a, guards), symbolic.Sym(vb, b, guards)
    results = [sa + sb, sa - sb, sa * sb, 2 * sa + 1, (sa + 2 * 3 - 1) // 2 + 1]
    if vb:
        results += [sa // sb, sa % sb]
    for got, want in zip(results, expected, strict=True):
        assert got.value == want
        assert evaluate(got.expr, values) == want


@settings(max_examples=200, deadline=None)
@given(exprs(depth=4), st.lists(st.integers(-40, 40), min_size=1, max_size=6), ASSIGNMENTS)
def test_simplify_keeps_the_value_and_folds_a_grown_width(expr, steps, values):
    """simplify never changes what an expression evaluates to; a width grown by literal steps
    (a DenseNet stage: ``c + 32 + 32 ...``) is one literal away from where it started."""
    grown = expr
    for n in steps:
        grown = parse(f"({to_source(grown)}) {'+' if n >= 0 else '-'} {abs(n)}", "test")
    for e in (expr, grown):
        try:
            want = evaluate(e, values)
        except ZeroDivisionError:
            return
        assert evaluate(simplify(e), values) == want
    folded = simplify(grown)
    assert not (  # no "... + 32 + 32": two literal steps in a row
        isinstance(folded, BinOp)
        and folded.op in "+-"
        and isinstance(folded.right, Lit)
        and isinstance(folded.left, BinOp)
        and folded.left.op in "+-"
        and isinstance(folded.left.right, Lit)
    ), to_source(folded)


def test_a_bidirectional_recurrent_rule_gives_twice_the_hidden_size():
    guards: list = []
    hidden = symbolic.Sym(128, Name("hidden"), guards)
    args = {
        "input_size": 32,
        "hidden_size": hidden,
        "num_layers": 1,
        "bidirectional": True,
        "batch_first": True,
        "proj_size": 0,
    }
    (out, _), *_ = rules.recurrent("LSTM")(((14, 32),), args)
    assert out[1].value == 256 and to_source(out[1].expr) == "2 * hidden"
    assert guards == []  # nothing decided on a parameter


def test_a_selection_on_a_parameter_is_a_guard():
    guards: list = []
    proj = symbolic.Sym(0, Name("proj"), guards)
    args = {
        "input_size": 32,
        "hidden_size": 64,
        "num_layers": 1,
        "bidirectional": False,
        "batch_first": True,
        "proj_size": proj,
    }
    rules.recurrent("LSTM")(((14, 32),), args)
    assert [(to_source(c), o) for c, o in guards] == [("proj", False)]
    assert to_source(symbolic.violated(guards[0])) == "proj"


def test_comparisons_and_divisibility_checks_are_not_guards():
    guards: list = []
    c = symbolic.Sym(64, Name("c"), guards)
    assert not (c % 4)
    assert c > 3 and c == 64
    assert guards == []


@settings(max_examples=150, deadline=None)
@given(exprs(2), exprs(2), st.integers(3, 7), ASSIGNMENTS)
def test_stage_instances_on_a_line_become_one_loop(base, step, n, values):
    """Instance k built with base + k * step: the loop's expression of the index gives each
    one's value back, whatever the parameters."""
    items = [parse(f"({to_source(base)}) + {k} * ({to_source(step)})", "t") for k in range(n)]
    found = stage.loop([RInstance("B", (item,), ()) for item in items])
    assert found is not None and found.start == 0
    (each,) = found.each.positional
    for k, item in enumerate(items):
        try:
            want = evaluate(item, values)
        except ZeroDivisionError:
            return
        assert evaluate(each, {**values, stage.INDEX.name: k}) == want


def test_a_first_instance_that_differs_comes_before_the_loop():
    first = RInstance("B", (Lit(64),), (("stride", Lit(2)),))
    rest = RInstance("B", (Lit(256),), ())
    found = stage.loop([first, rest, rest, rest])
    assert found is not None and found.start == 1 and found.each == rest


def test_two_instances_are_not_taken_for_a_progression():
    a, b = RInstance("B", (Lit(32),), ()), RInstance("B", (Lit(44),), ())
    found = stage.loop([a, b])
    assert found is not None and found.start == 1  # a first that differs, then one


def test_instances_off_any_line_have_no_loop():
    items = [RInstance("B", (Lit(v),), ()) for v in (16, 32, 64, 128)]
    assert stage.loop(items) is None


def test_dims_become_syms_and_back():
    d = Dim(12, Name("growth"))
    s = symbolic.Sym.of(d, [])
    assert symbolic.as_dim(s * 2 + 32) == Dim(56, parse("growth * 2 + 32", "t"))
    assert symbolic.as_dim(7) == Dim.literal(7)
