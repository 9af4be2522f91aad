"""The plan of a class's code, shared by every style: which modules it declares (in order), the
statements of its forward with the local variable each value lives in, and its chains.

A chain (a *run*) is consecutive module calls where each output is read only by the next call:
the sequential style declares it as one ``nn.Sequential``, the list styles loop over it, the
others call its modules one by one. Variables read like hand-written code: a chain keeps
reassigning one name (``x = self.conv1(x)``); a value that is still needed later keeps its own
(``identity``), and a chain that cannot overwrite it continues under ``out``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from torchscaffold.catalog.types import LayerType
from torchscaffold.render import code
from torchscaffold.shapes.resolved import REQUIRED_PARAM, RClass, RStep, RTensor
from torchscaffold.shapes.scope import DISCARD, value_of
from torchscaffold.spec.expr import Expr, Not, simplify

FRESH = ("out", "h", "y", "z")


@dataclass
class Statement:
    """One line (or loop) of forward. ``kind``: ``module`` (a call of a module the class
    owns), ``op`` (``code`` is the right-hand side), ``run`` (``members`` in a chain)."""

    kind: str
    target: str  # the left-hand side: "x", "y, _", "q, k, v"
    inputs: list[str] = field(default_factory=list)  # variables, positional
    step: RStep | None = None
    keywords: list[str] = field(default_factory=list)  # forward keywords of a layer
    code: str = ""  # an op's right-hand side; a functional layer's call (explicit style)
    branch: tuple[str, str] | None = None  # (condition, otherwise): forward tests it
    members: list[Statement] = field(default_factory=list)  # a run's, a group's, a stage's
    name: str = ""  # a run's container name in the sequential style
    key: str = ""  # the module's attribute in the flat styles (features_conv1, layer1_0)
    count: str = ""  # a stage's number of instances as forward reads it (add_module's loop)

    @property
    def var_in(self) -> str:
        return self.inputs[0]

    @property
    def seed(self) -> str:
        """What a loop's variables start as: the inputs its outputs replace (``var_in`` for a
        chain)."""
        return ", ".join(self.inputs[: len(self.target.split(", "))])

    @property
    def loop_args(self) -> str:
        """A loop body's call: the loop's variables, then the inputs every instance reads as
        they are (a decoder's memory, a time embedding)."""
        return ", ".join([self.target, *self.inputs[len(self.target.split(", ")) :]])

    @property
    def threaded(self) -> bool:
        """A stage of blocks that take or give several values: each instance's outputs are the
        next one's first inputs, so a container cannot call it as one module."""
        return self.step is not None and threads(self.step)


@dataclass
class ClassPlan:
    cls: RClass
    container: str  # the module list's name in the list styles: "layers" or "body"
    modules: list[RStep]  # what __init__ declares, in order
    statements: list[Statement]
    returns: str
    signature: str
    forward_signature: str
    forward_returns: str
    lets: list[tuple[str, str]]
    refuse: list[tuple[str, str]]  # (condition __init__ refuses, the one it needs), as source
    stored: list[str]
    tensors: list[tuple[RTensor, str]]
    shortcut: str  # a residual block's projection condition, for its docstring


def plan(
    cls: RClass,
    container: str,
    *,
    functional_layers: bool = False,
    counted: bool = False,
    passed: frozenset[str] = frozenset(),
) -> ClassPlan:
    """``functional_layers``: the style calls parameter-free layers as functions in forward
    (the explicit one), so the parameters their arguments read are stored on ``self`` too;
    ``counted``: its forward loops over a stage by count (add_module), which it stores too;
    ``passed``: the parameters every call of this (block) class passes."""
    variables = _Variables(cls)
    stored = {*cls.stored, *(_functional_names(cls.steps) if functional_layers else ())}
    if counted:
        stored |= {n for s in cls.steps if s.stage and s.count is not None for n in s.count.names()}
    stored = sorted(stored)
    statements = [
        _statement(step, position, variables, stored) for position, step in enumerate(cls.steps)
    ]
    statements = _runs(statements, cls, container, variables)
    modules = [s for s in cls.steps if s.owns_module and not _functional_only(s)]
    returns = ", ".join(variables.of(o) for o in cls.outputs)
    signature = ", ".join(["self"] + _parameters(cls.signature, passed))
    inputs = ", ".join(["self"] + [f"{i}: torch.Tensor" for i in cls.inputs])
    tensor_type = "torch.Tensor"
    outs = (
        tensor_type
        if len(cls.outputs) == 1
        else "tuple[" + ", ".join([tensor_type] * len(cls.outputs)) + "]"
    )
    return ClassPlan(
        cls=cls,
        container=container,
        modules=modules,
        statements=statements,
        returns=returns,
        signature=signature,
        forward_signature=inputs,
        forward_returns=outs,
        lets=[(name, code.value(expr)) for name, expr in cls.lets],
        refuse=[(code.value(c), code.value(simplify(Not(c)))) for c in cls.refuse],
        stored=stored,
        tensors=[(t, code.tensor(t)) for t in cls.tensors],
        shortcut=next(
            (code.value(st.when) for st in cls.steps if st.kind == "sequence" and st.when),
            "",
        ),
    )


def _functional_names(steps: tuple[RStep, ...]) -> set[str]:
    """The parameters read by the arguments of parameter-free layers (``p=dropout``), in the
    class's steps and its groups' members."""
    names: set[str] = set()
    for step in steps:
        if step.kind == "layer" and step.functional and step.when is None:
            for _, v in step.args:
                for item in v if isinstance(v, tuple) else (v,):
                    if isinstance(item, Expr):
                        names |= item.names()
        names |= _functional_names(step.members)
    return names


def _parameters(signature: tuple[tuple[str, object], ...], passed: frozenset[str]) -> list[str]:
    """``name: type = default``; no default where there is none (input sizes), nor on the
    leading parameters that every call passes: a default no call uses is a second copy of
    the model's own that nothing reads (nanoGPT's and torchvision's blocks take theirs bare)."""
    out, bare = [], True
    for name, default in signature:
        if default is REQUIRED_PARAM:
            out.append(f"{name}: int")
            continue
        bare = bare and name in passed
        out.append(f"{name}: {_type(default)}" + ("" if bare else f" = {default!r}"))
    return out


def _type(default: object) -> str:
    if isinstance(default, tuple):
        return "tuple[int, ...]"
    return type(default).__name__


def _functional_only(step: RStep) -> bool:
    """A parameter-free layer that an op step calls as a function owns no module."""
    return step.kind == "op"


# ----------------------------------------------------------------------------- variables
class _Variables:
    """Which local each value lives in: named values keep their names; a chain reuses its
    input's variable once that input is read for the last time."""

    def __init__(self, cls: RClass) -> None:
        self.cls = cls
        self.var: dict[str, str] = {i: i for i in cls.inputs}
        for t in cls.tensors:
            self.var[t.name] = f"self.{t.name}"
        self.last_read: dict[str, int] = {}
        for position, step in enumerate(cls.steps):
            called = (v for k, v in step.call if k in step.call_values)
            for value in (*step.inputs, *called, *step.reads):
                self.last_read[value] = position
            if step.otherwise is not None:
                self.last_read[step.otherwise] = position
        for out in cls.outputs:
            self.last_read[out] = len(cls.steps)
        self.reserved = {v for s in cls.steps if s.named for v in s.outputs} | set(cls.inputs)
        self.live: dict[str, str] = {}  # variable -> the value in it

    def of(self, value: str) -> str:
        return self.var[value]

    def assign(self, step: RStep, position: int) -> str:
        targets = []
        for k, value in enumerate(step.outputs):
            if value == DISCARD:
                targets.append(DISCARD)
                continue
            if step.named:
                var = value
            else:
                var = self._reuse(step, position) if k == 0 else None
                var = var or self._fresh()
            self.var[value] = var
            self.live[var] = value
            targets.append(var)
        self._release(position)
        return ", ".join(targets)

    def _reuse(self, step: RStep, position: int) -> str | None:
        # x = f(x) reads as a chain; y = attention(q, k, v) should not overwrite q.
        elementwise = step.entry is not None and step.entry.has("elementwise")
        if not step.inputs or (len(set(step.inputs)) > 1 and not elementwise):
            return None
        first = step.inputs[0]
        var = self.var.get(first)
        if var is None or var.startswith("self."):
            return None
        if self.last_read.get(first, -1) != position or first in self.cls.outputs:
            return None
        if any(
            self.var.get(v) == var and self.last_read.get(v, -1) > position
            for v in self.live.values()
        ):
            return None
        return var

    def _fresh(self) -> str:
        for base in FRESH:
            for n in range(1, 100):
                var = base if n == 1 else f"{base}{n}"
                if var not in self.reserved and var not in self._busy():
                    return var
        raise RuntimeError("no free variable name")  # pragma: no cover

    def _busy(self) -> set[str]:
        return {var for var, value in self.live.items() if value in self.last_read}

    def _release(self, position: int) -> None:
        for var, value in list(self.live.items()):
            if self.last_read.get(value, -1) <= position and value not in self.cls.outputs:
                del self.live[var]


# ---------------------------------------------------------------------------- statements
def _statement(step: RStep, position: int, variables: _Variables, stored: list[str]) -> Statement:
    inputs = [variables.of(v) for v in step.inputs]
    names = code.forward_names(stored, inputs[0] if inputs else None, variables.of)
    keywords = code.call_args(step, variables.of, names)
    branch = None
    if step.when is not None and (step.kind == "op" or step.otherwise != step.inputs[0]):
        branch = (code.value(step.when, names), variables.of(step.otherwise or step.inputs[0]))
    if step.kind == "op":
        rhs = (
            code.functional(step, inputs, names)
            if step.functional
            else code.op(step, inputs, names)
        )
        target = variables.assign(step, position)
        return Statement("op", _unpacked(step, target), inputs, step, code=rhs, branch=branch)
    functional = ""
    if step.functional and isinstance(step.entry, LayerType) and step.when is None:
        # A conditional one is a module (nn.Identity where absent), as entries() declares it.
        functional = code.functional(step, inputs, names)
    target = variables.assign(step, position)
    return Statement(
        "module",
        _unpacked(step, target),
        inputs,
        step,
        keywords=keywords,
        code=functional,
        branch=branch,
        members=_members(step, inputs, target, names),
        key=value_of(step.name),
        count=code.value(step.count, names) if step.stage and step.count is not None else "",
    )


def threads(step: RStep) -> bool:
    """A stage of blocks that take or give several values: each instance's outputs are the
    next one's first inputs, so a container cannot call it as one module."""
    return step.stage and (len(step.inputs) > 1 or len(step.outputs) > 1)


def _members(step: RStep, inputs: list[str], target: str, names: code.Names) -> list[Statement]:
    """A group's layers as the chain of calls the flat styles write: the first reads the
    input, every one writes the target. (A stage is one module in every style.)"""
    if step.kind != "group":
        return []
    out = []
    threaded = len(target.split(", "))  # a stage's outputs are the next instance's inputs
    for k, (key, leaf, when) in enumerate(_leaves(step, value_of(step.name), None)):
        args = inputs if k == 0 else [target, *inputs[threaded:]]
        functional = ""
        if leaf.kind == "layer" and leaf.functional and when is None:
            functional = code.functional(leaf, args, names)
        out.append(Statement("module", target, args, leaf, code=functional, key=key))
    return out


def _leaves(step: RStep, key: str, when: Expr | None) -> Iterator[tuple[str, RStep, Expr | None]]:
    """The modules a step declares in the flat styles, in order, with their attribute keys and
    conditions: groups opened (a member of an absent group is absent too): features_conv1."""
    when = step.when if step.when is not None else when
    if step.kind == "group":
        for m in step.members:
            yield from _leaves(m, f"{key}_{m.name}", when)
    else:
        yield key, step, when


def _unpacked(step: RStep, target: str) -> str:
    """A multi-output layer's results as its call returns them: ``y, (h, c)``; an LSTM's
    unused states collapse to ``_``."""
    entry = step.entry
    if not isinstance(entry, LayerType) or entry.unpack is None:
        return target
    names = target.split(", ")
    names += [DISCARD] * (len(entry.output_names) - len(names))
    text = entry.unpack.format(*names)
    return text.replace(f"({DISCARD}, {DISCARD})", DISCARD)


def _runs(
    statements: list[Statement], cls: RClass, container: str, variables: _Variables
) -> list[Statement]:
    """Consecutive module calls that form a chain, grouped into runs (of two or more)."""
    out: list[Statement] = []
    current: list[Statement] = []
    readers = _readers(cls)

    def flush() -> None:
        if len(current) >= 2:
            first, last = current[0], current[-1]
            name = _run_name(current, cls, container, len(current) == len(statements))
            out.append(
                Statement("run", last.target, first.inputs, members=list(current), name=name)
            )
        else:
            out.extend(current)
        current.clear()

    for s in statements:
        if s.kind == "module" and not s.key:
            s.key = value_of(s.step.name) if s.step else ""
        if _chainable(s) and (
            not current
            or (
                s.inputs == [current[-1].target]
                and _only_reader(current[-1].step, s.step, cls, readers)
                and s.step.label == current[-1].step.label
            )
        ):
            current.append(s)
            continue
        flush()
        if _chainable(s):
            current.append(s)
        else:
            out.append(s)
    flush()
    return out


def _chainable(s: Statement) -> bool:
    step = s.step
    return (
        s.kind == "module"
        and step is not None
        and len(step.inputs) == 1
        and len(step.outputs) == 1
        and not s.keywords
        and s.branch is None
        and not (isinstance(step.entry, LayerType) and step.entry.unpack)
        and step.kind in ("layer", "block", "group", "sequence")
        and not (step.kind == "sequence" and step.when is not None)
    )


def _readers(cls: RClass) -> dict[str, list[int]]:
    """Each value's readers (positions of the steps that read it), found in one pass: asking
    the steps per value made a long chain quadratic."""
    readers: dict[str, list[int]] = {}
    for position, step in enumerate(cls.steps):
        read = set(step.inputs) | ({step.otherwise} if step.otherwise is not None else set())
        for value in read:
            readers.setdefault(value, []).append(position)
    return readers


def _only_reader(
    producer: RStep | None, reader: RStep | None, cls: RClass, readers: dict[str, list[int]]
) -> bool:
    if producer is None or reader is None:
        return False
    value = producer.outputs[0]
    if value in cls.outputs:
        return False
    found = readers.get(value, [])
    return len(found) == 1 and cls.steps[found[0]] is reader


def _run_name(run: list[Statement], cls: RClass, container: str, whole: bool) -> str:
    if whole:
        return container
    label = run[0].step.label if run[0].step is not None else None
    if label:
        return label
    last = run[-1].step
    if last is not None and last.named:
        return last.outputs[0]
    first = run[0].step
    assert first is not None and last is not None
    return value_of(f"{first.name}_to_{last.name}")


# ------------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class Entry:
    """One module in a flat container (the list styles, add_module, explicit attributes)."""

    key: str  # conv1, features_conv1, layer1_0
    constructor: str
    step: str  # the step it belongs to
    functional: bool = False  # a parameter-free layer: the explicit style calls a function


def entries(steps: list[RStep]) -> list[Entry]:
    """Every module of the class, groups and repeated blocks spelled out, in order."""
    out: list[Entry] = []
    for step in steps:
        out += _entries(step, value_of(step.name))
    return out


def _entries(step: RStep, key: str) -> list[Entry]:
    out = []
    for k, (leaf_key, leaf, when) in enumerate(_leaves(step, key, None)):
        if leaf.stage:
            ctor = code.stage(leaf, "nn.ModuleList" if threads(leaf) else "nn.Sequential")
        else:
            ctor = code.constructor(leaf)
        functional = leaf.kind == "layer" and leaf.functional and when is None
        out.append(Entry(leaf_key, code.when(when, ctor), step.name, functional))
    return out


def span(steps: list[RStep], name: str) -> tuple[int, int]:
    """Where a step's modules sit in the flat container: [start, stop)."""
    index = 0
    for step in steps:
        size = len(_entries(step, value_of(step.name)))
        if step.name == name:
            return index, index + size
        index += size
    raise KeyError(name)  # pragma: no cover - a template bug


def member_index(steps: list[RStep], path: str) -> int:
    """The flat index of ``step`` or ``group.member``."""
    flat = entries(steps)
    key = path.replace(".", "_")
    for i, e in enumerate(flat):
        if e.key == key:
            return i
    raise KeyError(path)  # pragma: no cover


def locate(plan: ClassPlan, path: str, numbered: bool) -> str:
    """Where the sequential style puts the module of ``step`` or ``group.member``: an attribute,
    or an entry of the chain (run) it joined (``body.bn2``, or ``body[4]`` when numbered)."""
    names = {s.name for s in plan.modules}
    head, member = (path, "") if path in names else path.rsplit(".", 1)
    for stmt in plan.statements:
        if stmt.kind == "run":
            for index, m in enumerate(stmt.members):
                if m.step is not None and m.step.name == head:
                    key = value_of(head)
                    where = f"{stmt.name}[{index}]" if numbered else f"{stmt.name}.{key}"
                    return _member(where, m.step, member, numbered)
        elif stmt.step is not None and stmt.step.name == head:
            return _member(value_of(head), stmt.step, member, numbered)
    raise KeyError(path)  # pragma: no cover - a template bug


def _member(where: str, step: RStep, member: str, numbered: bool) -> str:
    if not member:
        return where
    index = [m.name for m in step.members].index(member)
    return f"{where}[{index}]" if numbered else f"{where}.{member}"


def uses_sequential(plans: list[ClassPlan]) -> bool:
    """Whether the sequential style writes an nn.Sequential of named layers (a chain or a
    group), so the file imports OrderedDict."""
    return any(
        stmt.kind == "run" or (stmt.step is not None and stmt.step.kind == "group")
        for p in plans
        for stmt in p.statements
    )


def uses_functional(plans: list[ClassPlan], *, explicit: bool) -> bool:
    """Whether the code calls ``F.``: an op (attention, a functional activation) in any style,
    a parameter-free layer written as a function in the explicit one."""

    def statements(items: list[Statement]) -> list[Statement]:
        return [s for item in items for s in (item, *statements(item.members))]

    for p in plans:
        for stmt in statements(p.statements):
            if stmt.kind == "op" and "F." in stmt.code:
                return True
            if explicit and stmt.kind == "module" and stmt.code.startswith("F."):
                return True
    return False


# -------------------------------------------------------------------------------- nested
@dataclass(frozen=True)
class Space:
    """A namespace of the nested style: an nn.ModuleDict holding the modules (and namespaces)
    whose dotted names start with it."""

    name: str
    items: tuple[RStep | Space, ...]


def namespaces(steps: list[RStep]) -> list[RStep | Space]:
    """The class's modules as the nested style declares them: dotted names gathered into
    namespaces, each where its first module comes."""
    return _spaces([(s.name.split("."), s) for s in steps], "")


def _spaces(parts: list[tuple[list[str], RStep]], prefix: str) -> list[RStep | Space]:
    out: list[RStep | Space] = []
    seen: dict[str, list[tuple[list[str], RStep]]] = {}
    for path, step in parts:
        if len(path) == 1:
            out.append(step)
            continue
        head = path[0]
        if head not in seen:
            seen[head] = []
            out.append(Space(head, ()))
        seen[head].append((path[1:], step))
    return [
        (
            Space(item.name, tuple(_spaces(seen[item.name], f"{prefix}{item.name}.")))
            if isinstance(item, Space)
            else item
        )
        for item in out
    ]


def numbered(step: RStep) -> bool:
    """A group is numbered (features.0) unless every member was given its name."""
    return not all(m.given_name for m in step.members)


def nested_ref(plan: ClassPlan, path: str) -> str:
    """The nested style's reference to ``step`` or ``group.member``: ``transformer.wte``,
    ``features[3]``, ``heads.head``."""
    names = {s.name: s for s in plan.modules}
    if path in names:
        return path
    head, _, member = path.rpartition(".")
    group = names[head]
    index = [m.name for m in group.members].index(member)
    return f"{head}[{index}]" if numbered(group) else f"{head}.{member}"


def uses_ordered_dict(plans: list[ClassPlan], style: str, is_numbered: bool) -> bool:
    """Whether the code writes an nn.Sequential of named entries (OrderedDict)."""

    def named_stage(step: RStep) -> bool:
        if step.stage and step.instance_names is not None:
            return style != "add_module" and not (style != "nested" and threads(step))
        return any(named_stage(m) for m in step.members)

    if any(named_stage(s) for p in plans for s in p.modules):
        return True
    if style == "sequential":
        return not is_numbered and uses_sequential(plans)
    if style == "nested":

        def named_group(step: RStep) -> bool:
            # A group with conditional members is built as a list, so its names are positions.
            as_list = any(m.when for m in step.members)
            return step.kind == "group" and (
                not (numbered(step) or as_list) or any(named_group(m) for m in step.members)
            )

        return any(named_group(s) for p in plans for s in p.modules)
    return False


# ---------------------------------------------------------------------------- modulelist
def whole_chain(plan: ClassPlan) -> bool:
    """Whether forward is one chain through every module of the class (``for layer in
    self.layers``)."""
    flat = entries(plan.modules)
    if len(plan.statements) != 1 or not flat:
        return False
    stmt = plan.statements[0]
    keys = [e.key for e in entries([m.step for m in stmt.members if m.step is not None])]
    if stmt.kind != "run":
        keys = [e.key for e in entries([stmt.step])] if stmt.step is not None else []
        return len(keys) > 1 and keys == [e.key for e in flat] and not stmt.threaded
    return keys == [e.key for e in flat]


def module_locals(plan: ClassPlan) -> dict[str, str]:
    """The local name each module of a list style's container is unpacked into at the start of
    forward (its key: ``conv1``), so forward names modules instead of indexing them; a key that
    is also one of forward's variables gets a ``_layer`` suffix."""
    taken = {"self", "layer", *plan.cls.inputs}

    def collect(stmts: list[Statement]) -> None:
        for s in stmts:
            for part in (s.target, *s.inputs):
                taken.update(n.strip("() ") for n in part.split(","))
            collect(s.members)

    collect(plan.statements)
    return {e.key: (f"{e.key}_layer" if e.key in taken else e.key) for e in entries(plan.modules)}


def locals_of(plan: ClassPlan, steps: list[RStep]) -> str:
    """The unpacked names of ``steps``' modules, as a tuple to loop over."""
    names = module_locals(plan)
    return "(" + ", ".join(names[e.key] for e in entries(steps)) + ")"
