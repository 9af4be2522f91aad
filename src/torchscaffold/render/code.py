"""How resolved values read as Python: expressions, constructor calls, op calls.

Everything here returns source text for one expression; where statements go is the templates'
business. ``Names`` says how a parameter is spelled where the text goes: bare in ``__init__``
(a local), ``self.name`` in forward.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torchscaffold.catalog.types import LayerType, OpType
from torchscaffold.shapes.resolved import RInstance, RStep, RTensor
from torchscaffold.shapes.stage import INDEX
from torchscaffold.spec.expr import Expr, Lit, to_source


@dataclass(frozen=True)
class Names:
    """Spelling of parameter names (and ``size(i)``) in the code being written."""

    name: Callable[[str], str] = str
    size: Callable[[int, str | None], str] | None = None


INIT = Names()


def forward_names(
    stored: Sequence[str], first: str | None = None, variable: Callable[[str], str] = str
) -> Names:
    """Names in forward: stored parameters on self; ``size(i)`` of the op's first input (the
    variable ``first``), ``x.size(i)`` of the value ``x`` (its variable)."""

    def name(n: str) -> str:
        return f"self.{n}" if n in stored else n

    def size(i: int, value: str | None) -> str:
        return f"{variable(value) if value else first}.size({i})"

    return Names(name, size)


def value(v: Any, names: Names = INIT) -> str:
    """A literal, an expression, or a tuple of those, as source."""
    if isinstance(v, Expr):
        return to_source(v, names.name, names.size)
    if isinstance(v, tuple):
        items = [value(x, names) for x in v]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return repr(v)


# ---------------------------------------------------------------------------------- modules
def written(entry: LayerType, args: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The arguments a layer's call writes, of all it has: the required ones, those it always
    spells out, and the others where they name a parameter or differ from the default."""
    given = dict(args)
    out = []
    for a in entry.args:
        if a.name not in given:
            if a.always and not a.required:
                out.append((a.name, a.default))
            continue
        v = given[a.name]
        if a.required or a.always or _symbolic(v) or _plain(v) != a.default:
            out.append((a.name, v))
    return out


def op_args(entry: OpType, args: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """An op's arguments as its call writes them: the given ones, and those it always spells
    out at their defaults."""
    given = dict(args)
    return [
        (a.name, given.get(a.name, a.default))
        for a in entry.args
        if a.name in given or (a.always and not a.required)
    ]


def _symbolic(v: Any) -> bool:
    if isinstance(v, tuple):
        return any(_symbolic(x) for x in v)
    return isinstance(v, Expr) and not isinstance(v, Lit)


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    return v.value if isinstance(v, Lit) else v


def layer_args(entry: LayerType, args: Sequence[tuple[str, Any]], names: Names = INIT) -> list[str]:
    """Required arguments positionally (in torch's order), the rest as keywords."""
    spec = {a.name: a for a in entry.args}
    out = []
    for key, v in written(entry, args):
        a = spec[key]
        text = value(v, names)
        out.append(text if a.required and not a.keyword else f"{key}={text}")
    return out


def constructor(step: RStep) -> str:
    """The module a step owns: ``nn.Conv2d(...)``, a sequence's ``nn.Sequential(...)``."""
    if step.kind == "layer":
        assert isinstance(step.entry, LayerType)
        return f"nn.{step.entry.name}({', '.join(layer_args(step.entry, step.args))})"
    if step.kind == "sequence":
        return "nn.Sequential(" + ", ".join(constructor(m) for m in step.members) + ")"
    if step.stage:
        return stage(step)
    if step.kind == "block":
        return instance(step.instances[0])
    raise ValueError(f"no single constructor for {step.kind} {step.name}")


def conditional(step: RStep, ctor: str) -> str:
    """A module that exists only where its condition holds: the identity elsewhere (the step's
    output is then its input)."""
    return when(step.when, ctor)


def when(condition: Expr | None, ctor: str) -> str:
    return ctor if condition is None else f"{ctor} if {value(condition)} else nn.Identity()"


def instance(i: RInstance, index: str = "i") -> str:
    """``Block(...)``; in a stage's loop, its index is the variable ``index``."""
    names = Names(lambda n: index if n == INDEX.name else n)
    parts = [value(p, names) for p in i.positional]
    parts += [f"{k}={value(v, names)}" for k, v in i.keywords]
    return f"{i.block}({', '.join(parts)})"


def stage_items(step: RStep, names: Names = INIT) -> list[str]:
    """The modules of a stage as items of a list or an ``nn.Sequential(...)``: each instance,
    or a first that differs and a loop over the rest, as torchvision's ``_make_layer`` and
    nanoGPT write them (``*[Block(n_embd) for _ in range(n_layer)]``)."""
    pattern = step.instance_names

    def item(ctor: str, k: int | None) -> str:
        # Named members go into an OrderedDict: ("encoder_layer_0", ...) or an f-string.
        if pattern is None:
            return ctor
        key = pattern.format(i=k) if k is not None else pattern
        return f'({"f" if k is None else ""}"{key}", {ctor})'

    if not step.looped:
        return [item(instance(i), k) for k, i in enumerate(step.instances)]
    assert step.loop is not None and step.count is not None
    first = [item(instance(i), k) for k, i in enumerate(step.instances[: step.loop_start])]
    var = "i" if pattern is not None else loop_variable(step)
    count = value(step.count, names)
    bounds = count if step.loop_start == 0 else f"{step.loop_start}, {count}"
    return [*first, f"*[{item(instance(step.loop, var), None)} for {var} in range({bounds})]"]


def loop_variable(step: RStep) -> str:
    """The loop's variable: ``i`` where the instances read it, else ``_``."""
    assert step.loop is not None
    reads = any(
        INDEX.name in v.names()
        for v in (*step.loop.positional, *(v for _, v in step.loop.keywords))
        if isinstance(v, Expr)
    )
    return "i" if reads else "_"


def stage(step: RStep, container: str = "nn.Sequential") -> str:
    """A stage as one module: ``nn.Sequential(...)`` (or ``nn.ModuleList([...])`` where its
    blocks pass several values on)."""
    parts = stage_items(step)
    items = ", ".join(parts)
    # A list that is one comprehension is the comprehension: [Block() for _ in range(n)].
    listed = parts[0][1:] if len(parts) == 1 and parts[0].startswith("*[") else f"[{items}]"
    if container == "nn.ModuleList":
        return f"nn.ModuleList({listed})"
    if step.instance_names is not None:
        return f"nn.Sequential(OrderedDict({listed}))"
    return f"nn.Sequential({items})"


def tensor(t: RTensor) -> str:
    """A learned tensor or buffer's initial value."""
    shape = ", ".join(value(s) for s in t.shape)
    if isinstance(t.init, float):
        size = f"({shape},)" if len(t.shape) == 1 else f"({shape})"
        return f"torch.full({size}, {t.init!r})"
    if t.init == "tril":
        return f"torch.tril(torch.ones({shape}, dtype=torch.bool))"
    if t.init == "normal":
        return f"torch.empty({shape}).normal_(std={t.std!r})"
    if t.dtype != "float32":
        return f"torch.{t.init}({shape}, dtype=torch.{t.dtype})"
    return f"torch.{t.init}({shape})"


# ----------------------------------------------------------------------------------- calls
def functional(step: RStep, inputs: Sequence[str], names: Names) -> str:
    """A parameter-free layer as a function call: ``F.max_pool2d(x, kernel_size=2)``."""
    entry = step.entry
    assert isinstance(entry, LayerType) and entry.functional
    kept = written(entry, step.args)
    given = {k for k, _ in kept}
    args = [f"{k}={value(v, names)}" for k, v in kept]
    args += [f"{k}={v}" for k, v in entry.call_defaults if k not in given]
    if entry.needs_training:
        args.append("training=self.training")
    return f"{entry.functional}({', '.join([*inputs, *args])})"


def call_args(step: RStep, variables: Callable[[str], str], names: Names) -> list[str]:
    """A layer's forward keywords: masks as the values' variables, flags as literals."""
    return [
        f"{k}={variables(v) if k in step.call_values else value(v, names)}" for k, v in step.call
    ]


_FIELD = re.compile(r"\{([^{}]*)\}")


def op(step: RStep, inputs: Sequence[str], names: Names) -> str:
    """An op's call from its catalog pattern. ``{0}``: an input; ``{inputs}``: all of them;
    ``{1:}``: the inputs from the second on (optional tensors, as many as given);
    ``{name}``: an argument; ``{name*}``: a list argument spread; ``{1|other}``: the second input
    or else the argument; ``{args}``: the given arguments not used elsewhere, as keywords;
    ``{index@dim}`` and ``{slice@dim}``: an indexing expression along ``dim``."""
    entry = step.entry
    assert isinstance(entry, OpType)
    items = op_args(entry, step.args)
    args = dict(items)
    used: set[str] = set()

    def field(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.isdigit():
            return inputs[int(key)]
        if key.endswith(":") and key[:-1].isdigit():
            return ", ".join(inputs[int(key[:-1]) :])
        if key == "inputs":
            return ", ".join(inputs)
        if "|" in key:
            position, name = key.split("|")
            used.add(name)
            return (
                inputs[int(position)]
                if len(inputs) > int(position)
                else _literal(args[name], names)
            )
        if "@" in key:
            what, dim_name = key.split("@")
            used.update({dim_name, "index", "start", "length", "stop", "step"})
            # The dim left out at its default (x[idx]: 0) is still where the index goes.
            given = {a.name: a.default for a in entry.args if not a.required} | args
            if what.isdigit():  # an input as the index: x[:, idx]
                return _indexing("item", {**given, "item": inputs[int(what)]}, dim_name, names)
            return _indexing(what, given, dim_name, names)
        if key == "args":
            return "{args}"  # filled in last, once every other field has claimed its argument
        spread = key.endswith("*")
        name = key.rstrip("*")
        used.add(name)
        text = value(args[name], names) if name in args else "None"
        if spread and isinstance(args.get(name), tuple):
            return text.strip("(),") if text.endswith(",)") else text[1:-1]
        return text

    text = _FIELD.sub(field, entry.code)
    rest = [f"{k}={_keyword(entry, k, v, names)}" for k, v in items if k not in used]
    text = text.replace("{args}", ", ".join(rest))
    # Fields left empty (no keywords, no optional tensors) leave no commas behind.
    return re.sub(r"\((, )+|(, )+\)|(, ){2,}", lambda m: m.group(0).strip(", ") or ", ", text)


def _keyword(entry: OpType, key: str, v: Any, names: Names) -> str:
    text = value(v, names)
    if entry.arg(key).while_training and text not in ("0", "0.0"):
        return f"{text} if self.training else 0.0"
    return text


def _literal(v: Any, names: Names) -> str:
    return value(v, names)


def _indexing(what: str, args: dict[str, Any], dim_name: str, names: Names) -> str:
    dim = args[dim_name]
    dim = dim.value if isinstance(dim, Lit) else dim
    if isinstance(dim, int) and dim < 0:
        lead = "..., "
        trail = ", :" * (-dim - 1)
    else:
        lead = ":, " * int(dim)
        trail = ""
    if what == "index":
        return f"{lead}{value(args['index'], names)}{trail}"
    if what == "item":
        return f"{lead}{args['item']}{trail}"
    start = args.get("start", 0)
    start_text = value(start, names)
    length = value(args["length"], names) if args.get("length") is not None else None
    stop = args.get("stop")
    end = "" if stop is None else value(stop, names)
    if length is not None:
        end = length if start_text == "0" else f"{start_text} + {length}"
    begin = "" if start_text == "0" else start_text
    step = value(args["step"], names) if args.get("step") not in (None, 1) else ""
    return f"{lead}{begin}:{end}{':' + step if step else ''}{trail}"
