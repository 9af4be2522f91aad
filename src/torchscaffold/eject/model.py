"""A built nn.Module as torchgen's description: record, trace, lift, merge.

One forward of the model on its example input records what each of the user's class instances
receives; each instance is then traced alone (``eject.trace``) and lifted into a draft of its
class (``eject.lift``); the drafts of one class merge into one block class, leaves first
(``eject.classes``); the model's own draft becomes the model.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from torchscaffold.eject import classes, naming
from torchscaffold.eject.dense import dense_stages
from torchscaffold.eject.lift import Draft, as_layer, lift
from torchscaffold.eject.tidy import tidy_values
from torchscaffold.eject.trace import UNKNOWN, is_user_class, trace
from torchscaffold.errors import TorchgenError
from torchscaffold.spec.ir import Block, Input, Model, Step

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Lifted:
    model: Model
    notes: tuple[str, ...]  # what the user should know (classes split in two...)
    # The model's modules in the order its forward first calls them (paths, '' the model).
    called: tuple[str, ...] = ()
    output: Any = None  # what the model returned on the example


def lift_model(module: nn.Module, name: str, example: list[torch.Tensor]) -> Lifted:
    """``module`` (in eval mode) as a Model named ``name``; an integer input's first
    dimension is a length that varies (token ids: ``seq``)."""
    seen = _record(module, example)
    heads = _heads(module, example, seen)
    traced = {}
    layers: dict[str, tuple] = {}
    for path, sub in module.named_modules():
        if path and (not is_user_class(sub) or path not in seen.calls):
            continue
        args, kwargs = seen.calls.get(path, (tuple(example), {}))
        tensors, fixed = _arguments(sub, args, kwargs)
        if path and _holds_tensors(fixed):
            continue  # called with a dict of tensors: its caller's lift names the call and refuses
        where = f"{type(sub).__name__} {path!r}" if path else type(sub).__name__
        traced[path] = (sub, where, trace(sub, where, tensors, fixed, seen.output_of(path)))
        found = as_layer(traced[path][2], sub) if path else None
        if found is not None:
            layers[path] = found
            del traced[path]
    drafts = {
        path: lift(graph, sub, path, where, layers) for path, (sub, where, graph) in traced.items()
    }
    for path in heads:
        after = _attach(path, seen.calls[path][0], drafts, traced)
        if after is not None:  # called (and declared) there: its weights are taken there
            _move(seen.called, path, after)
    lifted = _assemble(module, name, drafts, example)
    notes = lifted.notes
    if heads:
        note = (
            f"kept what only training calls: {', '.join(heads)} (its weights load; the lifted "
            "forward computes it and leaves its output unread, so eval's outputs are the "
            "original's)"
        )
        notes += (note,)
    return replace(lifted, notes=notes, called=tuple(seen.called), output=seen.output)


@dataclass
class _Recording:
    """One forward of the model, as the lift needs it: what each of the user's instances
    receives, the order modules are first called in, and what each module first returned (the
    traces read those instead of running the model again: a ResNet-50 is run once, not four
    times)."""

    calls: dict[str, tuple[tuple, dict]] = field(default_factory=dict)
    called: dict[str, None] = field(default_factory=dict)
    returned: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # path: (inputs, output)
    output: Any = None

    def output_of(self, prefix: str) -> Callable[[str, tuple, dict], Any]:
        """What the module at ``prefix.target`` returned, given the same inputs, or UNKNOWN."""

        def look(target: str, args: tuple, kwargs: dict) -> Any:
            found = self.returned.get(f"{prefix}.{target}" if prefix else target)
            if found is None or not _same_inputs(found[0], (args, kwargs)):
                return UNKNOWN
            # Each module's record is read by one trace (its owner's), once: no copy.
            return found[1]

        return look


def _record(module: nn.Module, example: list[torch.Tensor]) -> _Recording:
    import torch

    seen = _Recording()
    handles = []

    inputs: dict[str, Any] = {}

    def before(path: str, user: bool):
        def record(_: nn.Module, args: tuple, kwargs: dict) -> None:
            if path not in seen.called:
                seen.called[path] = None
                # Before the call: an in-place layer (ReLU(inplace=True)) changes its input.
                inputs[path] = _fingerprint((args, kwargs))
                if user:
                    seen.calls[path] = (_cloned(args), _cloned(kwargs))

        return record

    def after(path: str):
        def record(_: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if path not in seen.returned:
                seen.returned[path] = (inputs[path], _cloned(output))

        return record

    for path, sub in module.named_modules():
        user = bool(path) and is_user_class(sub)
        handles.append(sub.register_forward_pre_hook(before(path, user), with_kwargs=True))
        handles.append(sub.register_forward_hook(after(path), with_kwargs=True))
    try:
        with torch.no_grad():
            seen.output = module(*[x.clone() for x in example])
    except BaseException as exc:  # noqa: BLE001 - the user's forward, whatever it raises
        from torchscaffold.errors import first_line

        raise TorchgenError(
            f"the model does not run on its example input {_shapes(example)}: "
            f"{type(exc).__name__}: {first_line(exc)} (give its input with --input-shape)"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _heads(module: nn.Module, example: list[torch.Tensor], seen: _Recording) -> list[str]:
    """The instances with tensors that eval never calls because their caller tests
    ``self.training`` (GoogLeNet's ``aux1``, Inception's ``AuxLogits``): recorded in one more
    forward with only their callers in train mode (so every other value is eval's), to be
    lifted and kept, their tensors in the weights."""
    unused: list[str] = []
    for path, sub in module.named_modules():
        if not path or path in seen.called or any(path.startswith(f"{u}.") for u in unused):
            continue
        if is_user_class(sub) and any(True for _ in [*sub.parameters(), *sub.buffers()]):
            unused.append(path)
    callers = {module} | {module.get_submodule(u.rpartition(".")[0]) for u in unused if "." in u}
    callers = {c for c in callers if not c.training}
    if not unused or not callers:
        return []
    for caller in callers:
        caller.training = True
    try:
        again = _record(module, example)
    except TorchgenError as exc:  # its tensors could not be held: say why, not a misfit later
        raise TorchgenError(
            f"cannot lift {', '.join(unused)}: only training calls it, and in training mode "
            f"{str(exc).removeprefix('Error: ')}"
        ) from None
    finally:
        for caller in callers:
            caller.training = False
    found = [u for u in unused if u in again.calls and u.rpartition(".")[0] in seen.called]
    for key in list(again.called):
        if any(key == u or key.startswith(f"{u}.") for u in found):
            seen.called[key] = None
            seen.returned[key] = again.returned[key]
            if key in again.calls:
                seen.calls[key] = again.calls[key]
    return found


def _move(called: dict[str, None], path: str, after: str) -> None:
    """``path`` and what it contains moved in the call order to just after ``after``'s."""
    moved = [k for k in called if k == path or k.startswith(f"{path}.")]
    rest = [k for k in called if k not in moved]
    at = max((i for i, k in enumerate(rest) if k == after or k.startswith(f"{after}.")), default=-1)
    order = rest[: at + 1] + moved + rest[at + 1 :]
    called.clear()
    called.update(dict.fromkeys(order))


def _attach(path: str, args: tuple, drafts: dict[str, Draft], traced: dict) -> str | None:
    """A head only training calls, as a step of its caller after the value it is given; its
    output is left unread, as eval leaves it. The module that computed that value, if one did."""
    import torch

    from torchscaffold.eject.lift import CHILD
    from torchscaffold.shapes.scope import DISCARD

    owner, _, name = path.rpartition(".")
    draft = drafts.get(owner)
    if draft is None or len(args) != 1 or not isinstance(args[0], torch.Tensor):
        return
    values = traced[owner][2].values
    node = next(
        (
            node
            for node, value in values.items()
            if isinstance(value, torch.Tensor)
            and value.shape == args[0].shape
            and torch.equal(value, args[0])
        ),
        None,
    )
    given = getattr(node, "name", None)
    at = next((i for i, s in enumerate(draft.steps) if given in (s.outputs or ())), None)
    if at is None:
        return None
    if draft.outputs is None and draft.steps:
        draft.outputs = draft.steps[-1].outputs
    step = Step("block", CHILD + path, name=name, inputs=(given,), outputs=(DISCARD,))
    draft.steps.insert(at + 1, step)
    if node.op != "call_module":
        return None
    return f"{owner}.{node.target}" if owner else str(node.target)


def _fingerprint(value: Any) -> Any:
    """Inputs, compared without keeping them: a tensor by its shape, dtype and a sample of
    about a hundred of its values (summing every value costs as much as a small layer; a
    sample that agrees where the inputs differ would only be caught by the final check)."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_meta:  # a lift at another argument (shapes only): nothing to sample
            return ("tensor", tuple(value.shape), str(value.dtype))
        flat = value.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 97)].tolist() if flat.numel() else []
        return ("tensor", tuple(value.shape), str(value.dtype), tuple(sample))
    if isinstance(value, (tuple, list)):
        return tuple(_fingerprint(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _fingerprint(v)) for k, v in value.items())
    return repr(value)


def _same_inputs(fingerprint: Any, inputs: Any) -> bool:
    return fingerprint == _fingerprint(inputs)


def _shapes(example: list[torch.Tensor]) -> str:
    return ", ".join(str(tuple(x.shape)) for x in example)


def _cloned(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, list):  # DenseNet appends to the list it passes
        return [_cloned(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_cloned(v) for v in value)
    if isinstance(value, dict):
        return {k: _cloned(v) for k, v in value.items()}
    return value


def _arguments(module: nn.Module, args: tuple, kwargs: dict) -> tuple[dict, dict]:
    """forward's tensor arguments by name, and the others fixed at what they were (or their
    defaults): ``targets=None`` leaves nanoGPT's loss out of the graph."""
    import torch

    signature = inspect.signature(module.forward)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    from torch.fx._symbolic_trace import PH

    tensors, fixed = {}, {}
    for key, value in bound.arguments.items():
        if isinstance(value, torch.Tensor):
            tensors[key] = value
        elif _spread(value):
            # DenseNet's layer(features): one input per tensor of the list, as fx names them.
            fixed[key] = type(value)(PH for _ in value)
            tensors.update({f"{key}_{n}": v for n, v in enumerate(value, 1)})
        else:
            fixed[key] = value
    return tensors, fixed


def _spread(value: Any) -> bool:
    """A list or tuple of tensors, which the block receives as that many inputs."""
    import torch

    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(v, torch.Tensor) for v in value)
    )


def _holds_tensors(value: Any) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(_holds_tensors(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensors(v) for v in value.values())
    return False


def _assemble(
    module: nn.Module,
    name: str,
    drafts: dict[str, Draft],
    example: list[torch.Tensor],
) -> Lifted:
    by_class: dict[Kind, list[Draft]] = {}
    kinds = _kinds(drafts)
    for path, draft in drafts.items():
        if path:
            by_class.setdefault(kinds[path], []).append(draft)
    calls: dict[str, classes.Call] = {}
    blocks: list[Block] = []
    notes: list[str] = []
    _drop_unread(drafts)
    selections = {path: d.selects for path, d in drafts.items() if path and d.selects}
    identities = {path for path in selections if drafts[path].identity}
    passed = Counter(p for d in drafts.values() for p in d.passed)
    passed.update(type(drafts[path].module).__name__ for path in identities)
    if passed:
        left = ", ".join(f"{p}{f' x{n}' if n > 1 else ''}" for p, n in passed.items())
        notes.append(
            f"left out what returns its input in eval mode: {left} (the lifted class computes "
            "what the original computes in eval; train-time regularisation is not in it)"
        )
    fixed = Counter(f for d in drafts.values() for f in d.fixed)
    if fixed:
        left = ", ".join(f"{f}{f' x{n}' if n > 1 else ''}" for f, n in fixed.items())
        notes.append(
            f"held as computed from the sizes traced: {left} (exact at inputs of these sizes, "
            "as a branch on sizes is)"
        )
    chosen = Counter(type(drafts[p].module).__name__ for p in selections if p not in identities)
    if chosen:
        left = ", ".join(f"{p}{f' x{n}' if n > 1 else ''}" for p, n in chosen.items())
        notes.append(f"left out what returns some of its inputs as they are: {left}")
    for path in selections:
        del by_class[kinds[path]][:]
    by_class = {cls: group for cls, group in by_class.items() if group}
    for draft in drafts.values():
        returns = draft.outputs or (draft.steps[-1].outputs if draft.steps else None)
        mapping: dict[str, str] = {}
        draft.steps = _without(draft.steps, selections, mapping)
        if mapping and returns:
            draft.outputs = tuple(mapping.get(v, v) for v in returns)
    _hoist_concats(drafts)
    taken = {name}
    nested: dict[type, list[str]] = {}  # each class's blocks, for a class that nests itself
    for kind in _leaves_first(by_class, kinds):
        group, cls = by_class[kind], kind[0]
        for draft in group:
            renamed_here: dict[str, str] = {}
            resolved = classes.resolve_children(draft.steps, calls)
            draft.steps = list(naming.writable(resolved, renamed_here))
            draft.ties = list(naming.ties(tuple(draft.ties), renamed_here))
        base = _fresh(naming.class_name(cls.__name__), taken)
        defaults = {b.name: dict(b.params) for b in blocks}
        merged = classes.merge(base, group, defaults)
        if len(merged) > 1:
            names = ", ".join(m.block.name for m in merged)
            notes.append(
                f"the instances of {cls.__name__} differ in more than their arguments: "
                f"lifted as {len(merged)} classes ({names})"
            )
        for m in merged:
            taken.add(m.block.name)
            blocks.append(m.block)
            calls.update(m.calls)
            nested.setdefault(cls, []).append(m.block.name)
    for cls, names in nested.items():
        if any(kind == (cls, 1) for kind in by_class):
            notes.append(
                f"the instances of {cls.__name__} hold instances of it: lifted as one class "
                f"per level of nesting ({', '.join(names)})"
            )
    root = drafts[""]
    renamed: dict[str, str] = {}
    steps = naming.writable(classes.resolve_children(root.steps, calls), renamed)
    main = Block(
        name=name,
        steps=steps,
        inputs=root.inputs,
        outputs=root.outputs,
        tensors=tuple(root.tensors),
        doc=f"Lifted from {naming.origin(type(module))}.",
        ties=naming.ties(_ties(module) + tuple(root.ties), renamed),
    )
    inputs, lens = [], []
    for input_name, x in zip(root.inputs, example):
        shape = tuple(x.shape[1:])
        if x.dtype.is_floating_point:
            inputs.append(Input(input_name, shape, "float32"))
        else:  # token ids: the first dimension is a length that varies
            inputs.append(Input(input_name, ("seq", *shape[1:]), "int64"))
            lens.append(("seq", shape[0]))
    main, blocks = dense_stages(main, blocks)
    main, blocks = tidy_values(main), [tidy_values(b) for b in blocks]
    model = Model(name, tuple(inputs), main, tuple(blocks), lengths=tuple(lens), doc=main.doc)
    return Lifted(model, tuple(notes))


def _hoist_concats(drafts: dict[str, Draft]) -> None:
    """A block whose inputs meet only in one ``torch.cat`` of them all, first thing (DenseNet's
    layer, given every output before it): the cat moves to where it is called, so the block
    takes one tensor, and its instances, however many tensors they were given, are one class
    (the input width is inferred)."""
    from torchscaffold.eject.lift import CHILD
    from torchscaffold.eject.tidy import renamed

    callers = {
        s.target.removeprefix(CHILD): owner
        for owner, d in drafts.items()
        for s in d.steps
        if s.kind == "block" and s.inputs and len(s.inputs) > 1
    }
    hoisted: dict[str, tuple] = {}
    for path, draft in drafts.items():
        if path not in callers or len(draft.inputs) < 2 or not draft.steps:
            continue
        cat, rest = draft.steps[0], draft.steps[1:]
        reads = {v for s in rest for v in (*(s.inputs or ()), s.otherwise) if v}
        if (
            cat.kind != "op"
            or cat.target != "concat"
            or cat.inputs != draft.inputs
            or cat.when is not None
            or len(cat.outputs or ()) != 1
            or reads & set(draft.inputs)
            or set(draft.outputs or ()) & set(draft.inputs)
        ):
            continue
        mapping = {cat.outputs[0]: draft.inputs[0]}
        draft.steps = [renamed(s, mapping) for s in rest]
        if draft.outputs:
            draft.outputs = tuple(mapping.get(v, v) for v in draft.outputs)
        draft.inputs = draft.inputs[:1]
        hoisted[path] = cat.args
    for owner in set(callers.values()):
        steps: list[Step] = []
        for step in drafts[owner].steps:
            args = hoisted.get(step.target.removeprefix(CHILD)) if step.kind == "block" else None
            if args is not None and step.inputs and len(step.inputs) > 1:
                value = f"{(step.outputs or (step.name,))[0]}_input"
                steps.append(Step("op", "concat", args=args, name=value, inputs=step.inputs))
                steps[-1] = replace(steps[-1], outputs=(value,))
                step = replace(step, inputs=(value,))
            steps.append(step)
        drafts[owner].steps = steps


def _drop_unread(drafts: dict[str, Draft]) -> None:
    """Each call of a block given tensors it never reads passes only those it reads."""
    from torchscaffold.eject.lift import CHILD

    def passed(steps: Any) -> tuple[Step, ...]:
        out = []
        for step in steps:
            draft = drafts.get(step.target.removeprefix(CHILD)) if step.kind == "block" else None
            if draft is not None and draft.unread and step.inputs:
                step = replace(
                    step,
                    inputs=tuple(v for k, v in enumerate(step.inputs) if k not in draft.unread),
                )
            out.append(replace(step, body=passed(step.body)) if step.body else step)
        return tuple(out)

    for draft in drafts.values():
        steps = passed(draft.steps)
        if steps != tuple(draft.steps):
            draft.steps = _unread_as_discarded(steps, draft)


def _unread_as_discarded(steps: tuple[Step, ...], draft: Draft) -> list[Step]:
    """The steps less what nothing reads any more: an op is left out, a layer or a block (its
    weights are the original's) computes an output named ``_``."""
    out = list(steps)
    while True:
        read = _values_read(out, draft)
        kept = []
        for step in out:
            unread = [o for o in step.outputs or () if o != "_" and o not in read]
            if unread and step.kind == "op" and len(unread) == len(step.outputs):
                continue
            if unread:
                step = replace(step, outputs=tuple("_" if o in unread else o for o in step.outputs))
            kept.append(step)
        if kept == out:
            return out
        out = kept


def _values_read(steps: list[Step], draft: Draft) -> set[str]:
    """The values ``steps`` read (inputs, sizes in arguments, a layer's keywords) or return."""
    from torchscaffold.eject.tidy import reads

    return set(draft.outputs or (steps[-1].outputs or () if steps else ())) | set(reads(steps))


def _without(
    steps: list[Step], selections: dict[str, tuple[int, ...]], mapping: dict[str, str]
) -> list[Step]:
    """The steps less the calls of instances that return some of their inputs as they are (a
    StochasticDepth, timm's SelectSeq), their outputs read as those inputs."""
    from torchscaffold.eject.lift import CHILD
    from torchscaffold.eject.tidy import renamed

    out: list[Step] = []
    for step in steps:
        step = renamed(step, mapping)
        chosen = selections.get(step.target.removeprefix(CHILD)) if step.kind == "block" else None
        if chosen is not None:
            if step.outputs and step.inputs:  # in a chain, its input is the next one's
                mapping.update(
                    (value, step.inputs[k])
                    for value, k in zip(step.outputs, chosen)
                    if value != "_"
                )
            continue
        if step.body:
            step = replace(step, body=tuple(_without(list(step.body), selections, {})))
        out.append(step)
    return out


def _fresh(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


# A class and how deep its instances nest instances of it (DLA's Tree holds Trees): 0 for the
# instances that hold none. One class of the lift each.
Kind = tuple[type, int]


def _kinds(drafts: dict[str, Draft]) -> dict[str, Kind]:
    """Each instance's class and nesting level: a class whose instances hold instances of it
    (DLA's ``Tree``, its ``tree1`` a ``Tree`` down to the leaves) lifts as one class per level,
    each calling the one below (a generated class cannot hold an instance of itself whose
    structure differs)."""
    levels: dict[str, int] = {}
    for path in sorted(drafts, key=lambda p: -p.count(".")):  # the deepest first
        cls = type(drafts[path].module)
        inside = [p for p in drafts if p.startswith(f"{path}.") and type(drafts[p].module) is cls]
        levels[path] = max((levels[p] + 1 for p in inside), default=0)
    return {path: (type(drafts[path].module), levels[path]) for path in drafts}


def _leaves_first(by_class: dict[Kind, list[Draft]], kinds: dict[str, Kind]) -> list[Kind]:
    """Classes ordered so that each comes after every class its instances call."""
    from torchscaffold.eject.lift import CHILD

    def callees(draft: Draft) -> set[Kind]:
        found: set[Kind] = set()

        def walk(steps: Any) -> None:
            for s in steps:
                if s.kind == "block" and s.target.startswith(CHILD):
                    found.add(kinds[s.target[len(CHILD) :]])
                walk(s.body)

        walk(draft.steps)
        return found

    needs = {k: set().union(*(callees(d) for d in group)) for k, group in by_class.items()}
    order: list[Kind] = []
    while len(order) < len(needs):
        ready = [c for c in needs if c not in order and needs[c] <= set(order)]
        if not ready:
            raise TorchgenError("cannot lift a class that contains an instance of itself")
        order += ready
    return order


def _ties(module: nn.Module) -> tuple[tuple[str, str], ...]:
    """Parameters shared under two names (a GPT's embedding and head)."""
    first: dict[int, str] = {}
    ties = []
    for key, tensor in module.named_parameters(remove_duplicate=False):
        if id(tensor) in first:
            ties.append((first[id(tensor)], key))
        else:
            first[id(tensor)] = key
    return tuple(ties)
