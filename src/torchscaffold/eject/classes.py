"""The instances of one user class, merged into one block class with constructor parameters.

Instances of a class compute the same steps with different literals (a ResNet's blocks differ
in width and stride): each argument that differs becomes a parameter of the block, named after
the original class's attribute that holds it where there is one (``stride``), else after the
argument (``out_channels``) or the step and the argument (``conv3_out_channels``); an argument
that is always a fixed multiple of another is written as that multiple (``4 * out_channels``).
A step that only some instances have (ResNet's ``downsample``) becomes conditional on a boolean
parameter of that name. Instances that differ beyond that become separate classes
(``Block``, ``Block2``), and the lift says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from torchscaffold import catalog, names
from torchscaffold.eject import naming
from torchscaffold.eject.lift import CHILD, Draft
from torchscaffold.spec.expr import BinOp, Expr, Lit, Name, Size
from torchscaffold.spec.ir import Block, Step

DONT_CARE = object()  # an instance without the step


@dataclass(frozen=True)
class Call:
    """How an instance is made: its class and the arguments that differ from the defaults."""

    block: str
    args: tuple[tuple[str, Any], ...]
    params: tuple[tuple[str, Any], ...] = ()  # the class's parameters and their defaults


@dataclass
class Merged:
    block: Block
    calls: dict[str, Call]  # instance path -> its call


def resolve_children(steps: list[Step] | tuple[Step, ...], calls: dict[str, Call]) -> list[Step]:
    """Block steps with their class and arguments, in place of the instance they called; a
    run of ``h.0``, ``h.1``... of one class and arguments becomes ``h`` repeated."""
    defaults = {c.block: dict(c.params) for c in calls.values()}
    out = []
    for step in steps:
        if step.kind == "block" and step.target.startswith(CHILD):
            call = calls[step.target[len(CHILD) :]]
            step = replace(step, target=call.block, args=call.args)
        elif step.kind == "group":
            body = tuple(resolve_children(step.body, calls))
            step = _stage(replace(step, body=body), defaults)
        out.append(step)
    return _repeats(out, defaults)


def _first(first: Step, rest: Step, defaults: dict[str, dict[str, Any]]) -> tuple:
    """The first instance's arguments where they differ from the others' (a call names only
    what differs from the class's defaults: the first's default is spelt out where the others
    set another value)."""
    own = dict(first.args)
    params = defaults.get(first.target, {})
    full = {k: own.get(k, params.get(k)) for k in dict.fromkeys([*own, *dict(rest.args)])}
    return tuple((k, v) for k, v in full.items() if dict(rest.args).get(k, params.get(k)) != v)


def _stage(group: Step, defaults: dict[str, dict[str, Any]]) -> Step:
    """An nn.Sequential of instances of one class that differ only in the first (torchvision's
    ``layer2``: a strided block with a downsample, then plain ones) as one block step repeated:
    the ``_make_layer`` of the references, with the same ``state_dict`` keys (``layer2.0.``)."""
    body = group.body
    first, rest = body[0], body[1:]
    alike = all(
        s.kind == "block" and s.target == first.target and s.when is None and not s.first
        for s in body
    )
    if not rest or not alike or any(s.args != rest[0].args for s in rest):
        return group
    return replace(
        first,
        name=group.name,
        repeat=len(body),
        args=rest[0].args,
        first=_first(first, rest[0], defaults),
        inputs=group.inputs,
        outputs=group.outputs,
        when=group.when,
        otherwise=group.otherwise,
    )


def _repeats(steps: list[Step], defaults: dict[str, dict[str, Any]]) -> list[Step]:
    out: list[Step] = []
    i = 0
    while i < len(steps):
        step = steps[i]
        head, _, index = (step.name or "").rpartition(".")
        # A step repeated already (HRNet's ``branches.0``, an nn.Sequential of one class
        # in a ModuleList) is a run of its own, not a member of one.
        if step.kind != "block" or index != "0" or step.repeat != 1:
            out.append(step)
            i += 1
            continue
        j = i + 1
        while (
            j < len(steps)
            and steps[j].kind == "block"
            and steps[j].repeat == 1
            and steps[j].name == f"{head}.{j - i}"
            and steps[j].target == step.target
            and steps[j].inputs == steps[j - 1].outputs
            and (j == i + 1 or steps[j].args == steps[i + 1].args)
        ):
            j += 1
        rest = steps[i + 1 : j]
        args = rest[0].args if rest else step.args
        out.append(
            replace(
                step,
                name=head,
                repeat=j - i,
                args=args,
                first=_first(step, rest[0], defaults) if rest else (),
                outputs=steps[j - 1].outputs,
            )
        )
        i = j
    return out


def merge(name: str, drafts: list[Draft], defaults: dict[str, dict[str, Any]]) -> list[Merged]:
    """One block class for the drafts of one class where they align, else several.
    ``defaults``: each known block's parameter defaults (a block step's unset arguments)."""
    partitions: list[list[Draft]] = []
    # Each draft is aligned with its partition's template once, not again for every draft
    # that joins (a DenseNet's 58 layers made that quadratic: most of a lift's time).
    aligned: dict[tuple[int, int], dict | None] = {}

    def align(template: Draft, draft: Draft) -> dict | None:
        key = (id(template), id(draft))
        if key not in aligned:
            aligned[key] = _align(template, draft)
        return aligned[key]

    for draft in drafts:
        for part in partitions:
            template = _template(part + [draft])
            if (
                align(template, draft) is not None
                and all(align(template, d) is not None for d in part)
                and _writable(part + [draft], defaults, align)
            ):
                part.append(draft)
                break
        else:
            partitions.append([draft])
    out = []
    for k, part in enumerate(partitions):
        out.append(_merge(name if k == 0 else f"{name}{k + 1}", part, defaults))
    return out


def _count(steps: tuple[Step, ...] | list[Step]) -> int:
    return sum(1 + _count(s.body) for s in steps)


def _template(drafts: list[Draft]) -> Draft:
    return max(drafts, key=lambda d: _count(d.steps))


Path = tuple[int, ...]  # a step of the template: its index, then member indices in groups
TENSOR: Path = ()  # the slots of the class's own tensors' sizes
MODULES = ("block", "layer")  # the steps a constructor builds
# What a missing step's output is where it is absent: the input it passes on (a chain member
# passes on the previous one's output: None).
Missing = dict[Path, "str | None"]


def _align(template: Draft, draft: Draft) -> Missing | None:
    """The template's steps the draft lacks (in the class, or members of its groups), or None
    where it differs more."""
    if template.inputs != draft.inputs or len(template.tensors) != len(draft.tensors):
        return None
    outputs, theirs = _returns(template), _returns(draft)

    def returns_the_same(renamed: dict[str, str]) -> bool:
        return tuple(renamed.get(o, o) for o in outputs) == theirs

    found = _align_steps(template.steps, draft.steps, (), returns_the_same)
    return None if found is None else found[1]


def _same_name(a: str | None, b: str | None, *, member: bool) -> bool:
    """A group's members are named after their class and position (``conv2d_norm_activation1``):
    where one is absent, the same member has another number."""
    if a == b:
        return True
    return (
        member
        and a is not None
        and b is not None
        and a.rstrip("0123456789") == b.rstrip("0123456789")
    )


def _returns(draft: Draft) -> tuple[str, ...]:
    """What the forward returns: its outputs, or the last step's."""
    if draft.outputs is not None:
        return tuple(draft.outputs)
    return tuple(draft.steps[-1].outputs or ()) if draft.steps else tuple(draft.inputs)


def _align_steps(
    steps: tuple[Step, ...],
    theirs: tuple[Step, ...],
    prefix: Path,
    accept: Any = None,
) -> tuple[int, Missing] | None:
    """Match ``steps`` with ``theirs`` in order, each either the same step or absent there: the
    alignment whose matched steps differ in the fewest arguments (MobileNetV2's expansion is
    absent before its depthwise convolution, not after), with what it lacks; None if there is
    none. An absent step of a forward passes one of its inputs on (ResNet's downsample its x,
    a residual add the branch's output): each choice is tried, and ``accept`` (given what
    the values became) must take the whole."""

    def walk(i: int, j: int, renamed: dict[str, str]) -> tuple[int, Missing] | None:
        if i == len(steps):
            ok = j == len(theirs) and (accept is None or accept(renamed))
            return (0, {}) if ok else None
        step, path = steps[i], (*prefix, i)
        options: list[tuple[int, Missing]] = []
        if j < len(theirs):
            matched = _match(step, theirs[j], renamed, path)
            if matched is not None:
                # Values are named per trace (conv_2 here, conv_3 there): follow theirs.
                same = dict(zip(step.outputs or (), theirs[j].outputs or ()))
                rest = walk(i + 1, j + 1, {**renamed, **same})
                if rest is not None:
                    options.append((matched[0] + rest[0], {**matched[1], **rest[1]}))
        if len(steps) - i > len(theirs) - j:  # room for a step they lack
            if step.outputs is None:  # a chain member: the next one reads what it would have
                rest = walk(i + 1, j, renamed)
                if rest is not None:
                    options.append((rest[0], {path: None, **rest[1]}))
            elif len(step.outputs) == 1 and step.inputs:
                for passed in dict.fromkeys(step.inputs):
                    value = renamed.get(passed, passed)
                    rest = walk(i + 1, j, {**renamed, step.outputs[0]: value})
                    if rest is not None:
                        options.append((rest[0], {path: passed, **rest[1]}))
        return min(options, key=lambda o: o[0]) if options else None

    return walk(0, 0, {})


def _match(a: Step, b: Step, renamed: dict[str, str], path: Path) -> tuple[int, Missing] | None:
    """The same step (up to arguments, and to members of its groups that ``b`` lacks): how
    many arguments differ and what it lacks; else None."""

    def names(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(renamed.get(v, v) for v in values)

    if not (
        a.kind == b.kind
        and (a.target == b.target or a.kind == "group")
        and _same_name(a.name, b.name, member=len(path) > 1)
        and a.repeat == b.repeat
        and names(a.inputs) == b.inputs
        and len(a.outputs or ()) == len(b.outputs or ())
        and a.call == b.call
    ):
        return None
    body = _align_steps(a.body, b.body, path)
    if body is None:
        return None
    mine, theirs = dict(_all_args(a)), dict(_all_args(b))
    differ = sum(_hashable(mine.get(k)) != _hashable(theirs.get(k)) for k in {*mine, *theirs})
    return differ + body[0], body[1]


def _writable(
    drafts: list[Draft],
    defaults: dict[str, dict[str, Any]],
    align: Callable[[Draft, Draft], dict | None] | None = None,
) -> bool:
    """Whether each argument that differs between the drafts can be a constructor parameter:
    a number, a flag or an expression (a ``permute`` order that differs, ConvNeXt's two
    ``Permute``, makes two classes instead)."""
    template = _template(drafts)
    absent = [(align or _align)(template, d) or {} for d in drafts]
    rows = [_by_path(template.steps, d.steps, (), a) for d, a in zip(drafts, absent)]
    slots: list[tuple[tuple[int, ...], str, list[Any]]] = []
    for i, step in enumerate(template.steps):
        _slots(step, (i,), rows, slots, defaults)
    return all(
        _constant(vector)
        or (
            not _syntactic(_at(template.steps, path), key)
            and all(v is DONT_CARE or isinstance(v, (int, float, Expr)) for v in vector)
        )
        for path, key, vector in slots
    )


def _syntactic(step: Step, key: str) -> bool:
    """An op's argument its code writes as syntax, not a value (the dim of ``x[:, a:b]``, the
    number of ``:, `` before the slice): it cannot be a parameter."""
    return step.kind == "op" and f"@{key}}}" in catalog.op(step.target).code


def _merge(name: str, drafts: list[Draft], defaults: dict[str, dict[str, Any]]) -> Merged:
    template = _template(drafts)
    absent = [_align(template, d) or {} for d in drafts]
    params: dict[str, Any] = {}
    values: dict[str, list[Any]] = {}  # parameter -> its value in each instance

    conditional = sorted({path for a in absent for path in a})
    whens: dict[Path, tuple[str, str | None]] = {}  # path -> (flag, what passes where absent)
    for path in conditional:
        vector = [path not in a for a in absent]
        flag = _flag(_at(template.steps, path), vector, drafts, params)
        params[flag] = _most_common(vector)
        values[flag] = vector
        passed = next(a[path] for a in absent if path in a)
        whens[path] = (flag, passed)

    whens_flags = {flag for flag, _ in whens.values()}
    # Each instance's steps by the template's paths (None where it lacks one).
    rows = [_by_path(template.steps, d.steps, (), a) for d, a in zip(drafts, absent)]

    slots: list[tuple[tuple[int, ...], str, list[Any]]] = []  # (step path, arg, per instance)
    for i, step in enumerate(template.steps):
        _slots(step, (i,), rows, slots, defaults)
    slots += _tensor_slots(drafts)

    # Varying arguments that agree wherever both are known share one parameter.
    groups: list[tuple[list[Any], list[tuple[tuple[int, ...], str]]]] = []
    replaced: dict[tuple[tuple[int, ...], str], Any] = {}
    for path, arg, vector in slots:
        if _constant(vector):
            replaced[(path, arg)] = next((v for v in vector if v is not DONT_CARE), DONT_CARE)
            continue
        for known, members in groups:
            if _compatible(known, vector):
                known[:] = [k if v is DONT_CARE else v for k, v in zip(known, vector)]
                members.append((path, arg))
                break
        else:
            groups.append((list(vector), [(path, arg)]))
    arg_names = Counter(a for _, members in groups for a in {a for _, a in members})
    for vector, members in groups:
        path, arg = members[0]
        expr = None
        # A module's width, not an op's number (x[:, :c] is the same slice at every input).
        built = all(p != TENSOR and _at(template.steps, p).kind in MODULES for p, _ in members)
        if built and any(_under(p, whens) for p, _ in members):
            expr = _input_size(vector, template.inputs, drafts)
        if expr is None:
            expr = _parameter(template, path, arg, vector, drafts, params, values, arg_names)
        for member in members:
            replaced[member] = expr
    # A block only some instances have is built in every one (nn.Identity() where absent),
    # from the arguments the present ones agree on: one that follows a parameter there
    # (MobileNetV3's squeeze-excitation, as wide as its input) is written so, to fit every
    # instance's width.
    for path, arg, vector in slots:
        # A width there follows a parameter; an op's number (a slice's dim) stays a number.
        if _under(path, whens) and _at(template.steps, path).kind in MODULES and _constant(vector):
            multiple = (
                _as_sibling(template.steps, path, arg, vector, replaced, values)
                or _multiple(vector, {k: v for k, v in values.items() if k not in whens_flags})
                or _input_size(vector, template.inputs, drafts)
            )
            if multiple is not None:
                replaced[(path, arg)] = multiple

    steps = [
        _with_whens(_with_args(step, (i,), replaced), (i,), whens)
        for i, step in enumerate(template.steps)
    ]
    module = drafts[0].module
    tensors = tuple(
        replace(
            t,
            shape=tuple(replaced.get((TENSOR, f"{t.name}:{d}"), n) for d, n in enumerate(t.shape)),
        )
        for t in template.tensors
    )
    tensors = tuple(
        replace(t, shape=tuple(v if v is not DONT_CARE else n for v, n in zip(t.shape, o.shape)))
        for t, o in zip(tensors, template.tensors)
    )
    block = Block(
        name=name,
        steps=tuple(steps),
        inputs=template.inputs,
        outputs=template.outputs,
        params=tuple(params.items()),
        tensors=tensors,
        ties=tuple(template.ties),
        doc=f"Lifted from {naming.origin(type(module))}.",
    )
    calls = {}
    for k, draft in enumerate(drafts):
        args = tuple(
            (p, vector[k])
            for p, vector in values.items()
            if vector[k] is not DONT_CARE and vector[k] != params[p]
        )
        calls[draft.path] = Call(name, args, tuple(params.items()))
    return Merged(block, calls)


def _tensor_slots(drafts: list[Draft]) -> list[tuple[Path, str, list[Any]]]:
    """The sizes of the tensors a class owns, per instance (ConvNeXt's ``layer_scale``, one
    per channel of its stage), as arguments of the class: ``name:dim``."""
    out: list[tuple[Path, str, list[Any]]] = []
    for k, tensor in enumerate(drafts[0].tensors):
        for dim in range(len(tensor.shape)):
            vector = [
                d.tensors[k].shape[dim] if len(d.tensors[k].shape) == len(tensor.shape) else None
                for d in drafts
            ]
            out.append((TENSOR, f"{tensor.name}:{dim}", vector))
    return out


def _at(steps: tuple[Step, ...], path: Path) -> Step:
    step = steps[path[0]]
    for n in path[1:]:
        step = step.body[n]
    return step


def _by_path(
    steps: tuple[Step, ...], theirs: tuple[Step, ...], prefix: Path, absent: Missing
) -> dict[Path, Step | None]:
    """An instance's steps (and group members) under the template's paths."""
    out: dict[Path, Step | None] = {}
    it = iter(theirs)
    for i, step in enumerate(steps):
        path = (*prefix, i)
        mine = None if path in absent else next(it)
        out[path] = mine
        if mine is not None:
            out.update(_by_path(step.body, mine.body, path, absent))
    return out


def _flag(step: Step, vector: list[bool], drafts: list[Draft], taken: dict[str, Any]) -> str:
    """The parameter a conditional step hangs on: the instances' own boolean attribute that
    says it (torchvision's ``use_res_connect``), else ``has_<step>`` (a parameter cannot share
    the step's name: an attribute)."""
    module = drafts[0].module
    for attribute, value in vars(module).items():
        public = attribute.isidentifier() and not attribute.startswith("_")
        says_it = all(getattr(d.module, attribute, None) is v for d, v in zip(drafts, vector))
        if isinstance(value, bool) and public and attribute not in taken and says_it:
            return attribute
    return _fresh(f"has_{names.snake_case(step.name or step.target)}", taken)


def _with_whens(step: Step, path: Path, whens: dict[Path, tuple[str, str | None]]) -> Step:
    body = tuple(_with_whens(m, (*path, n), whens) for n, m in enumerate(step.body))
    step = replace(step, body=body)
    if path not in whens:
        return step
    flag, passed = whens[path]
    if step.kind == "op" and passed is not None:
        return replace(step, when=flag, otherwise=passed)
    return replace(step, when=flag)


def _slots(
    step: Step,
    path: Path,
    rows: list[dict[Path, Step | None]],
    out: list,
    defaults: dict[str, dict[str, Any]],
) -> None:
    instances = [row.get(path) for row in rows]
    keys = list(dict.fromkeys(k for s in instances if s is not None for k, _ in _all_args(s)))
    if step.kind == "block" and None in instances:  # its arguments, to fit where it is absent
        keys += [k for k in defaults.get(step.target, {}) if k not in keys]
    for key in keys:
        vector = []
        for s in instances:
            if s is None:
                vector.append(DONT_CARE)
            else:
                vector.append(dict(_all_args(s)).get(key, _default(step, key, defaults)))
        out.append((path, key, vector))
    for n, member in enumerate(step.body):
        _slots(member, (*path, n), rows, out, defaults)


def _all_args(step: Step) -> tuple[tuple[str, Any], ...]:
    """A step's arguments; a repeated block's first-instance overrides as ``first:`` keys."""
    return step.args + tuple((f"first:{k}", v) for k, v in step.first)


def _default(step: Step, key: str, defaults: dict[str, dict[str, Any]]) -> Any:
    key = key.removeprefix("first:")
    if step.kind == "block":
        return defaults.get(step.target, {}).get(key)
    entry = catalog.layer(step.target) if step.kind == "layer" else catalog.op(step.target)
    try:
        arg = entry.arg(key)
    except KeyError:
        return None
    return None if arg.required else arg.default


def _constant(vector: list[Any]) -> bool:
    seen = [v for v in vector if v is not DONT_CARE]
    return all(_hashable(v) == _hashable(seen[0]) for v in seen)


def _compatible(a: list[Any], b: list[Any]) -> bool:
    return all(
        x is DONT_CARE or y is DONT_CARE or _hashable(x) == _hashable(y) for x, y in zip(a, b)
    )


def _hashable(value: Any) -> Any:
    return (type(value).__name__, repr(value))


def _most_common(vector: list[Any]) -> Any:
    seen = [v for v in vector if v is not DONT_CARE]
    counts = Counter(_hashable(v) for v in seen)
    best = max(counts.values())
    return next(v for v in seen if counts[_hashable(v)] == best)


def _fresh(base: str, taken: dict[str, Any]) -> str:
    base = base.replace(".", "_")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def _parameter(
    template: Draft,
    path: tuple[int, ...],
    arg: str,
    vector: list[Any],
    drafts: list[Draft],
    params: dict[str, Any],
    values: dict[str, list[Any]],
    arg_names: Counter,
) -> Expr:
    """A new parameter for a varying argument, or a multiple of an existing one."""
    seen = [(k, v) for k, v in enumerate(vector) if v is not DONT_CARE]
    multiple = _multiple(vector, values)
    if multiple is not None:
        return multiple
    name = _attribute_named(arg.removeprefix("first:"), seen, drafts)
    if name is None and path == TENSOR:  # a tensor's size: layer_scale:0 -> layer_scale_size0
        name = arg.replace(":", "_size")
    if name is None:
        step = _at(template.steps, path)
        clean = arg.replace("first:", "first_")
        owner = names.snake_case(step.name or step.target)
        name = clean if arg_names[arg] == 1 else f"{owner}_{clean}"
    name = _fresh(name, params)
    params[name] = _most_common(vector)
    values[name] = vector
    return Name(name)


def _multiple(vector: list[Any], values: dict[str, list[Any]]) -> Expr | None:
    """``vector`` as a fixed multiple of a parameter's values, where it is one."""
    seen = [(k, v) for k, v in enumerate(vector) if v is not DONT_CARE]
    if not seen or not all(isinstance(v, int) and not isinstance(v, bool) and v for _, v in seen):
        return None
    for name, other in values.items():
        pairs = [(v, other[k]) for k, v in seen]
        if all(isinstance(o, int) and not isinstance(o, bool) and o for _, o in pairs):
            ratios = {v // o for v, o in pairs if v % o == 0}
            if len(ratios) == 1 and all(v % o == 0 for v, o in pairs):
                ratio = ratios.pop()
                return Name(name) if ratio == 1 else BinOp("*", Lit(ratio), Name(name))
    return None


def _as_sibling(
    steps: tuple[Step, ...],
    path: Path,
    arg: str,
    vector: list[Any],
    replaced: dict[tuple[Path, str], Any],
    values: dict[str, list[Any]],
) -> Expr | None:
    """The expression another step of the same class or layer has for the same argument
    (``conv1_out_channels`` of a stage's other blocks), where it gives ``vector``'s values
    too: a width seen in one instance is its stage's width, not the first parameter that
    happens to divide it (``128 * stride``)."""
    target = _at(steps, path).target
    seen = [(k, v) for k, v in enumerate(vector) if v is not DONT_CARE]
    for (other, key), expr in replaced.items():
        if key != arg or other == path or other == TENSOR or _at(steps, other).target != target:
            continue
        if isinstance(expr, (Name, BinOp)) and all(_value(expr, values, k) == v for k, v in seen):
            return expr
    return None


def _value(expr: Expr, values: dict[str, list[Any]], k: int) -> Any:
    """A parameter, or a multiple of one, in instance ``k``."""
    if isinstance(expr, Name):
        return values.get(expr.name, [DONT_CARE] * (k + 1))[k]
    if isinstance(expr, BinOp) and expr.op == "*" and isinstance(expr.left, Lit):
        right = _value(expr.right, values, k)
        return expr.left.value * right if isinstance(right, int) else DONT_CARE
    return DONT_CARE


def _under(path: Path, whens: dict[Path, Any]) -> bool:
    """Whether the step at ``path`` is conditional, or inside a conditional step."""
    return any(path[: n + 1] in whens for n in range(len(path)))


def _input_size(vector: list[Any], inputs: tuple[str, ...], drafts: list[Draft]) -> Expr | None:
    """``vector`` as the channels (or the features: the last dim) of an input of the class,
    where every instance that has the step is given that many (GhostNet's shortcut, a
    depthwise convolution as wide as the block's input): so the step, absent elsewhere, fits
    there too."""
    seen = [(k, v) for k, v in enumerate(vector) if v is not DONT_CARE]
    if not seen or not all(isinstance(v, int) and not isinstance(v, bool) for _, v in seen):
        return None
    for name in inputs:
        shapes = [d.shapes.get(name) for d in drafts]
        if any(s is None or len(s) < 2 for s in shapes) or len({len(s) for s in shapes}) > 1:
            continue
        for dim in dict.fromkeys((1, -1)):
            if all(shapes[k][dim] == v for k, v in seen):
                return Size(dim if dim > 0 else len(shapes[0]) - 1, name)
    return None


def _attribute_named(arg: str, seen: list[tuple[int, Any]], drafts: list[Draft]) -> str | None:
    """The instances' own attribute of the argument's name holding the same values
    (torchvision's ``self.stride``)."""
    for k, value in seen:
        if getattr(drafts[k].module, arg, DONT_CARE) != value:
            return None
    return arg if arg.isidentifier() else None


def _with_args(step: Step, path: tuple[int, ...], replaced: dict) -> Step:
    def pick(items: tuple[tuple[str, Any], ...], prefix: str) -> tuple[tuple[str, Any], ...]:
        out = []
        for key, _ in items:
            value = replaced.get((path, prefix + key), DONT_CARE)
            if value is not DONT_CARE and not (
                not isinstance(value, Expr)
                and step.kind != "block"
                and _is_default(step, key, value)
            ):
                out.append((key, value))
        return tuple(out)

    keys = {
        k.removeprefix("first:") for (p, k) in replaced if p == path and not k.startswith("first:")
    }
    firsts = {k[6:] for (p, k) in replaced if p == path and k.startswith("first:")}
    args = pick(tuple((k, None) for k in sorted(keys, key=_order(step))), "")
    first = pick(tuple((k, None) for k in sorted(firsts, key=_order(step))), "first:")
    body = tuple(_with_args(m, (*path, n), replaced) for n, m in enumerate(step.body))
    return replace(step, args=args, first=first, body=body)


def _order(step: Step) -> Any:
    names = [k for k, _ in step.args] + [k for k, _ in step.first]
    return lambda key: names.index(key) if key in names else len(names)


def _is_default(step: Step, key: str, value: Any) -> bool:
    default = _default(step, key, {})
    return default is not None and _hashable(default) == _hashable(value)
