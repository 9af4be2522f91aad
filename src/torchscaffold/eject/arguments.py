"""The original constructor's integer arguments, kept as the lifted class's parameters.

``MyCNN(num_classes=10)`` lifts to literals (``nn.Linear(64, 10)``); which of them follow from
``num_classes`` shows by lifting the model again at another value (20) and comparing the two
descriptions: a literal that moves with the argument is a linear function of it (``10 -> 20``:
``num_classes``; ``16 -> 32`` with ``channels`` 8 -> 16: ``2 * channels``; ``64 -> 128``
from 256 -> 512: ``hidden // 4``) and is written so. An argument is kept only where the two
descriptions have the same steps, every moved literal is such a function, and it moves only
what the model's own class can say (its layers' arguments, its blocks' calls, its tensors'
shapes); the caller then checks the generated class at a third value against the original.

A factory that passes ``**kwargs`` on (``torchvision.models.resnet18``) hides the class's own
arguments: the call of the model's class is recorded (``recorded``), and its arguments are
tried by building the class again with one of them changed. A list of integers there
(ResNet's ``layers=[2, 2, 2, 2]``) is a depth argument: lifted again with each item grown by
its position plus one, a stage whose repeat grew by ``i + 1`` from ``layers[i]`` repeats
``layers[i]`` times.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from typing import Any

from torchscaffold import names
from torchscaffold.errors import TorchgenError
from torchscaffold.spec.expr import BinOp, Expr, Index, Lit, Name
from torchscaffold.spec.ir import Block, Model, Step

# At most this many arguments are tried (each costs one more build and lift of the model).
MOST = 6


class _Moved(Exception):
    """The two descriptions differ in a way an expression of the argument cannot say."""


Value = int | tuple[int, ...]  # an integer argument, or a list of them (stage depths)


def integers(make: Callable[..., Any], given: dict[str, Any]) -> dict[str, Value]:
    """The constructor's integer arguments (given, else their defaults), by name."""
    try:
        signature = inspect.signature(make)
    except (TypeError, ValueError):
        return {}
    out: dict[str, Value] = {}
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or not p.name.isidentifier():
            continue
        value = _value(given.get(p.name, p.default))
        if value is not None:
            out[p.name] = value
    return dict(list(out.items())[:MOST])


def _value(value: Any) -> Value | None:
    if type(value) is int and value > 0:
        return value
    if isinstance(value, (list, tuple)) and value and all(type(v) is int for v in value):
        return tuple(value) if all(0 < v <= 64 for v in value) else None
    return None


def passes_on(make: Callable[..., Any]) -> bool:
    """Whether ``make`` is a function that hands its ``**kwargs`` to the class it builds."""
    if inspect.isclass(make):
        return False
    try:
        parameters = inspect.signature(make).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


def recorded(build: Callable[[], Any], cls: type) -> inspect.BoundArguments | None:
    """The arguments ``cls`` was called with while ``build()`` ran (defaults applied), or
    None where it was not called or its signature cannot bind them."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    seen: list[inspect.BoundArguments] = []
    own = "__init__" in cls.__dict__
    init = cls.__init__

    def record(self: Any, *args: Any, **kwargs: Any) -> None:
        if type(self) is cls and not seen:
            try:
                seen.append(signature.bind(*args, **kwargs))
            except TypeError:
                pass
        init(self, *args, **kwargs)

    cls.__init__ = record  # type: ignore[misc]
    try:
        build()
    finally:
        if own:
            cls.__init__ = init  # type: ignore[misc]
        else:
            del cls.__init__
    if not seen:
        return None
    seen[0].apply_defaults()
    return seen[0]


def class_integers(bound: inspect.BoundArguments, skip: set[str]) -> dict[str, Value]:
    """The recorded class call's integer arguments (and lists of them), by name."""
    out: dict[str, Value] = {}
    for key, p in bound.signature.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) or key in skip:
            continue
        value = _value(bound.arguments.get(key))
        if value is not None and key.isidentifier():
            out[key] = value
    return out


def rebuild(cls: type, bound: inspect.BoundArguments, name: str, value: Value) -> Any:
    """The class called again as recorded, with ``name`` changed to ``value``."""
    again = inspect.BoundArguments(bound.signature, bound.arguments.copy())
    again.arguments[name] = list(value) if isinstance(value, tuple) else value
    return cls(*again.args, **again.kwargs)


def other_values(value: Value) -> tuple[Value, Value]:
    """The value the model is lifted again at, and the value the generated class is checked
    at (odd offsets: a size that is ``value // 2`` shows). A list's items grow by their
    position plus one, so which item a stage's repeat follows shows."""
    if isinstance(value, tuple):
        return tuple(v + i + 1 for i, v in enumerate(value)), tuple(v + 1 for v in value)
    return 2 * value, value + 3


# The fields of a step whose integers may move with an argument: sizes move with an integer,
# repeats with a list of depths.
SIZES = ("args", "first", "body", "shape")
DEPTHS = ("repeat", "body")


def keep(model: Model, other: Model, name: str, value: Value, moved: Value) -> Model | None:
    """``model`` with ``name`` (default ``value``) as a parameter of its class, every literal
    that is ``moved`` in ``other`` written as an expression of it; None where it cannot be."""
    taken = {k for k, _ in model.main.params} | {t.name for t in model.main.tensors}
    if name in taken or not _writable_name(name):
        return None
    if model.inputs != other.inputs or len(model.blocks) != len(other.blocks):
        return None
    depths = isinstance(value, tuple)
    fit = _depth(name, value, moved) if depths else _fitter(name, value, moved)  # type: ignore[arg-type]
    if depths:
        # A block's defaults are its most common instance's arguments, which the number of
        # instances can change: both sides are written against this model's defaults.
        defaults = {b.name: dict(b.params) for b in model.blocks}
        model, other = _rebased(model, defaults), _rebased(other, defaults)
    try:
        explicit: dict[str, dict[str, Expr]] = {}  # block -> parameters its calls must pass
        for a, b in zip(model.blocks, other.blocks):
            if depths and replace(a, params=()) != replace(b, params=()):
                raise _Moved  # a block's own repeats cannot follow the model's argument
            if not depths:
                _block_defaults(a, b, fit, explicit)
        main = _same(model.main, other.main, fit, ("steps", "tensors"), DEPTHS if depths else SIZES)
    except _Moved:
        return None
    if main == model.main and not explicit:
        return None  # nothing follows from it
    steps = tuple(_passed(s, explicit) for s in main.steps)
    main = replace(main, steps=steps, params=(*main.params, (name, value)))
    return replace(model, main=main)


def _fitter(name: str, value: int, moved: int) -> Callable[[int, int], Expr]:
    def fit(a: int, b: int) -> Expr:
        step = moved - value
        p: Expr = Name(name)
        if (b - a) % step == 0:
            k = (b - a) // step
            term: Expr = p if k == 1 else BinOp("*", Lit(k), p)
        elif b != a and step % (b - a) == 0 and step // (b - a) > 0:
            k = step // (b - a)
            term = BinOp("//", p, Lit(k))
        else:
            raise _Moved
        c = a - _evaluate(term, value)
        if c:
            return BinOp("+" if c > 0 else "-", term, Lit(abs(c)))
        return term

    return fit


def _writable_name(name: str) -> bool:
    """Whether a parameter of the generated class may take the original's name (not ``x``,
    ``torch``, ``self``: names the generated code uses itself); else the sizes stay numbers."""
    try:
        names.parameter_name(name, where="the lifted class", block=False)
    except TorchgenError:
        return False
    return True


def _rebased(model: Model, defaults: dict[str, dict[str, Any]]) -> Model:
    """``model`` with each block call's arguments written against ``defaults`` (each block's
    parameters in the blocks' own order), and its blocks given those defaults."""
    own = {b.name: dict(b.params) for b in model.blocks}

    def step(s: Step) -> Step:
        s = replace(s, body=tuple(step(b) for b in s.body))
        if s.kind != "block" or s.target not in defaults or s.target not in own:
            return s
        if set(own[s.target]) != set(defaults[s.target]):
            raise _Moved
        order = defaults[s.target]
        rest = own[s.target] | dict(s.args)
        first = rest | dict(s.first)  # the first's overrides are on top of the others' call
        return replace(
            s,
            args=tuple((k, rest[k]) for k in order if rest[k] != order[k]),
            first=tuple((k, first[k]) for k in order if first[k] != rest[k]),
        )

    try:
        blocks = tuple(
            replace(b, params=tuple(defaults.get(b.name, dict(b.params)).items()),
                    steps=tuple(step(x) for x in b.steps))
            for b in model.blocks
        )  # fmt: skip
        main = replace(model.main, steps=tuple(step(x) for x in model.main.steps))
    except _Moved:
        return model
    return replace(model, blocks=blocks, main=main)


def _depth(name: str, value: tuple[int, ...], moved: tuple[int, ...]) -> Callable[[int, int], Expr]:
    def fit(a: int, b: int) -> Expr:
        i = next((i for i in range(len(value)) if moved[i] - value[i] == b - a), None)
        if i is None or value[i] != a:
            raise _Moved
        return Index(name, i)

    return fit


def _evaluate(term: Expr, value: int) -> int:
    if isinstance(term, Name):
        return value
    assert isinstance(term, BinOp)
    if term.op == "*":
        return term.left.value * value  # type: ignore[attr-defined]
    return value // term.right.value  # type: ignore[attr-defined]


def _same(
    a: Any,
    b: Any,
    fit: Callable[[int, int], Expr],
    open_fields: tuple[str, ...],
    inner: tuple[str, ...] = SIZES,
) -> Any:
    """``a`` where it equals ``b``; integers that differ inside the fields named in
    ``open_fields`` (of a Step or Tensor: ``inner``'s, within the model's) as expressions;
    else _Moved."""
    if type(a) is not type(b):
        raise _Moved
    if a == b:
        return a
    if is_dataclass(a) and not isinstance(a, Expr):
        changes = {}
        for f in fields(a):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if x == y:
                continue
            changes[f.name] = _same(x, y, fit, inner if f.name in open_fields else (), inner)
        return replace(a, **changes)
    if isinstance(a, tuple) and len(a) == len(b):
        return tuple(_same(x, y, fit, open_fields, inner) for x, y in zip(a, b))
    if open_fields and type(a) is int:
        return fit(a, b)
    raise _Moved


def _block_defaults(
    a: Block, b: Block, fit: Callable[[int, int], Expr], explicit: dict[str, dict[str, Expr]]
) -> None:
    """A block class must not change, but the default of its parameter may move with the
    argument (a U-Net's DoubleConv takes ``channels`` by default): its calls then pass it."""
    if replace(a, params=()) != replace(b, params=()) or len(a.params) != len(b.params):
        raise _Moved
    for (key, x), (other_key, y) in zip(a.params, b.params):
        if key != other_key or type(x) is not type(y):
            raise _Moved
        if x != y:
            if type(x) is not int:
                raise _Moved
            explicit.setdefault(a.name, {})[key] = fit(x, y)


def _passed(step: Step, explicit: dict[str, dict[str, Expr]]) -> Step:
    """A call of a block whose default moved passes it (where it passes nothing of its own)."""
    body = tuple(_passed(s, explicit) for s in step.body)
    if step.kind != "block" or step.target not in explicit:
        return replace(step, body=body) if body != step.body else step
    given = {k for k, _ in step.args}
    extra = tuple((k, v) for k, v in explicit[step.target].items() if k not in given)
    return replace(step, args=(*step.args, *extra), body=body)


def combine(base: Model, one: Model, other: Model) -> Model | None:
    """Two arguments kept from the same ``base`` (each by ``keep``) in one model; None where
    both moved the same literal (it follows from both: neither expression is the whole)."""
    try:
        main = _three_way(
            replace(base.main, params=()), replace(one.main, params=()),
            replace(other.main, params=()),
        )  # fmt: skip
    except _Moved:
        return None
    params = dict(one.main.params) | dict(other.main.params)
    return replace(one, main=replace(main, params=tuple(params.items())))


def _three_way(base: Any, one: Any, other: Any) -> Any:
    if one == base:
        return other
    if other == base:
        return one
    if is_dataclass(base) and not isinstance(base, Expr) and type(one) is type(other):
        return replace(
            base,
            **{
                f.name: _three_way(getattr(base, f.name), getattr(one, f.name),
                                   getattr(other, f.name))
                for f in fields(base)
            },
        )  # fmt: skip
    same_length = isinstance(one, tuple) and isinstance(other, tuple) and len(one) == len(other)
    if isinstance(base, tuple) and same_length and len(base) == len(one):
        return tuple(_three_way(*items) for items in zip(base, one, other))
    raise _Moved
