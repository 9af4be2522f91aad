"""Shape inference over the description: every value's dims, every argument's final value, every
class's signature, each block instance resolved once.

A class is resolved per distinct instance (its arguments' numbers and its inputs' dims): with its
own names for expressions (what its code says) and the instance's numbers for checks. Two
instances must produce the same code; their outputs are translated into the caller's terms by
substituting the callee's names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from torchscaffold import catalog
from torchscaffold.catalog import rules, symbolic
from torchscaffold.catalog.types import (
    VARYING,
    Dim,
    Dims,
    LayerType,
    OpType,
    ShapeError,
    input_symbol,
    length_symbol,
)
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.shapes import residual, scope, stage
from torchscaffold.shapes.resolved import (
    REQUIRED_PARAM,
    RClass,
    ResolvedModel,
    RInput,
    RInstance,
    RStep,
    RTensor,
    SummaryRow,
)
from torchscaffold.shapes.values import BATCH_DIM, Val
from torchscaffold.spec.expr import BinOp, Expr, Lit, Name, Size, evaluate, substitute, to_source
from torchscaffold.spec.ir import Block, Model, Step
from torchscaffold.spec.loader import MAX_REPEAT

MAX_TENSOR_ELEMENTS = catalog.MAX_LAYER_PARAMS


@dataclass(frozen=True)
class Resolved:
    """One resolved instance of a class: its code, its outputs (in its own names), its
    parameter count, and how to read its names in the caller's terms."""

    cls: RClass
    outputs: tuple[Val, ...]
    params: int
    lets: tuple[tuple[str, Expr], ...]
    placeholders: tuple[tuple[str, int, int], ...]  # (input, axis, value) of spatial sizes
    sizes: tuple[tuple[str, str, int], ...]  # every input-size name bound: (name, input, axis)


def resolve(model: Model) -> ResolvedModel:
    """Infer every shape of ``model`` (after spec.options.finalize) and resolve it."""
    return _Resolver(model).model()


class _Resolver:
    def __init__(self, model: Model) -> None:
        self.m = model
        self.classes: dict[str, RClass] = {}
        self.order: list[str] = []
        self.visiting: list[str] = []
        self.memo: dict[tuple[Any, ...], Resolved] = {}

    # ---------------------------------------------------------------------------- the model
    def model(self) -> ResolvedModel:
        m = self.m
        lengths = dict(m.lengths)
        inputs: dict[str, Val] = {}
        for k, spec_input in enumerate(m.inputs):
            dims = [BATCH_DIM]
            for axis, size in enumerate(spec_input.shape):
                if isinstance(size, str):
                    dims.append(Dim(lengths[size], Name(length_symbol(size))))
                elif k == 0 and axis == 0 and m.input_param:
                    dims.append(Dim(size, Name(m.input_param)))
                else:
                    dims.append(Dim.literal(size))
            inputs[spec_input.name] = Val(tuple(dims), spec_input.dtype)
        names = {p: Dim(v, Name(p)) for p, v in m.main.params}
        scope_ = _ClassScope(self, m.main, names, inputs, "the model", auto=False)
        resolved = scope_.resolve()
        self.order.append(m.main.name)
        rows = tuple(r for step in resolved.cls.steps for r in _rows(step, ""))
        rinputs = tuple(
            RInput(
                name=i.name,
                shape=inputs[i.name].sample,
                dtype=i.dtype,
                vocab=scope_.vocab.get(i.name),
                varying=tuple(s if isinstance(s, str) else None for s in i.shape),
            )
            for i in m.inputs
        )
        return ResolvedModel(
            name=m.name,
            doc=m.doc,
            inputs=rinputs,
            output_shapes=tuple(v.sample for v in resolved.outputs),
            main=resolved.cls,
            blocks=tuple(self.classes[b] for b in self.order if b != m.main.name),
            total_params=resolved.params,
            rows=rows,
            lengths=m.lengths,
        )

    # ------------------------------------------------------------------------- block calls
    def instance(
        self, block: Block, args: dict[str, Dim], inputs: list[Val], where: str
    ) -> Resolved:
        """``block`` built with ``args`` on ``inputs``; resolved once per distinct call."""
        if block.name in self.visiting:
            raise TorchgenError(f"{where}: block {block.name} contains itself")
        key = (
            block.name,
            tuple(sorted((k, d.value) for k, d in args.items())),
            tuple(
                tuple((d.value, d.expr if d.varying else None) for d in v.dims) + (v.dtype,)
                for v in inputs
            ),
        )
        if key not in self.memo:
            self.visiting.append(block.name)
            try:
                names = {
                    p: Dim(args[p].value if p in args else v, Name(p)) for p, v in block.params
                }
                values = dict(zip(block.inputs, inputs))
                where = f"{where} (block {block.name})"
                resolved = _ClassScope(self, block, names, values, where, auto=True).resolve()
            finally:
                self.visiting.pop()
            known = self.classes.get(block.name)
            if known is None:
                self.classes[block.name] = resolved.cls
                self.order.append(block.name)
            elif known != resolved.cls:
                raise TorchgenError(
                    f"block {block.name}: its code comes out differently for different inputs "
                    "(a size taken from the spatial shape?); give those sizes as parameters"
                )
            self.memo[key] = resolved
        return self.memo[key]


def _rows(step: RStep, prefix: str) -> Iterable[SummaryRow]:
    # An op's row is named after the value it computes, where the description names it.
    label = step.outputs[0] if step.kind == "op" and step.named else step.name
    name = f"{prefix}{label}"
    if step.kind == "group":
        for member in step.members:
            yield from _rows(member, f"{name}.")
        return
    if step.kind == "block":
        block = step.block or ""
        kind = f"{block} x{step.repeat}" if step.repeat > 1 else block
    elif step.kind == "sequence":
        kind = "Sequential"
    else:
        kind = step.entry.name if step.entry is not None else step.kind
    shape = step.out_shapes[0] if step.out_shapes else ()
    yield SummaryRow(name, kind, shape, step.params)


# ---------------------------------------------------------------------------- one class
class _ClassScope:
    """Resolves one instance of one class: lets, tensors, steps in order, outputs, in-place
    safety, the signature."""

    def __init__(
        self,
        resolver: _Resolver,
        block: Block,
        names: dict[str, Dim],
        inputs: dict[str, Val],
        where: str,
        *,
        auto: bool,
    ) -> None:
        self.r = resolver
        self.b = block
        self.where = where
        self.auto_inputs = auto  # a block (its inputs' sizes are parameters), not the model
        self.names: dict[str, Any] = dict(names)
        self.values: dict[str, Val] = {}
        self.readers: dict[str, list[int]] = {}  # value -> positions of the steps that read it
        self.steps: list[RStep] = []
        self.params = 0
        self.vocab: dict[str, int] = {}  # integer input -> the smallest table it indexes
        self.auto: dict[str, tuple[str, int]] = {}  # auto parameter -> (input, axis)
        self.placeholders: list[tuple[str, int, int]] = []
        self.forward_names: set[str] = set()  # names forward code reads (stored on self)
        self.ctor_exprs: list[Expr] = []  # every expression constructors use
        self.aliases: dict[str, str] = {}  # value -> the value whose storage it shares
        self.inplace_steps: list[tuple[int, str]] = []
        self.residual_norm: str | None = None  # set by residual.attach
        self.weights: dict[str, tuple[int, ...]] = {}  # layer -> its weight's shape (ties)
        self.guards: list[symbolic.Guard] = []  # decisions on parameters the code relies on
        for position, (name, val) in enumerate(inputs.items()):
            self.values[name] = self._bind_input(name, position, val) if auto else val

    # ---------------------------------------------------------------------------- inputs
    def _bind_input(self, name: str, position: int, val: Val) -> Val:
        """Inside a block, its inputs' sizes are its names: ``in_channels`` (the first input's
        channels), ``in_features`` (its last dimension), ``skip_channels`` for another input
        ``skip``; the rest (spatial sizes) are placeholders that become numbers if used."""
        if not val.batched:
            raise TorchgenError(f"{self.where}: input {name!r} {val} has no batch dimension")
        prefix = "in" if position == 0 else name
        sample = val.dims[1:]
        dims = [val.dims[0]]
        for axis, d in enumerate(sample):
            if d.varying:
                dims.append(d)
                continue
            if axis == 0 and len(sample) >= 2:
                auto = f"{prefix}_channels"
            elif axis == len(sample) - 1 and len(sample) <= 2:
                auto = f"{prefix}_features"
            else:
                symbol = input_symbol(name, axis)
                self.placeholders.append((name, axis, d.value))
                dims.append(Dim(d.value, Name(symbol)))
                continue
            self.auto[auto] = (name, axis)
            self.names.setdefault(auto, Dim(d.value, Name(auto)))
            dims.append(Dim(d.value, Name(auto)))
        return Val(tuple(dims), val.dtype)

    # ---------------------------------------------------------------------------- resolve
    def resolve(self) -> Resolved:
        b = self.b
        for name, expr in b.lets:
            self.names[name] = Dim(self._eval(expr, f"let {name}"), Name(name))
        tensors = tuple(self._tensor(t) for t in b.tensors)
        steps = (*b.steps, *b.after)
        containers = scope.BLOCK_CONTAINERS if self.auto_inputs else scope.MODEL_CONTAINERS
        names = scope.scope_names(steps, self.where, containers)
        if b.residual and {residual.IDENTITY, b.shortcut} & set(names):
            taken = min({residual.IDENTITY, b.shortcut} & set(names))
            raise TorchgenError(
                f"{self.where}: {taken!r} is the residual shortcut's; rename the step"
            )
        self._check_attributes(names, tensors)
        body_names = names[: len(b.steps)]
        wired = scope.wire(b.steps, body_names, b.inputs, self.where)
        for w in scope.order(wired, (*b.inputs, *(t.name for t in tensors)), self.where):
            self._step(w)
        last = self.steps[-1].outputs[0] if self.steps else b.inputs[0]
        if b.residual:
            last = residual.attach(self, names[len(b.steps) :], last)
        outputs = b.outputs or (last,)
        for out in outputs:
            if out not in self.values:
                raise TorchgenError(
                    f"{self.where}: the output {out!r} is never computed"
                    f"{did_you_mean(out, list(self.values))}"
                )
        self._check_used(outputs, tensors)
        self._fix_inplace(outputs)
        return self._finish(tensors, outputs)

    def _check_attributes(self, names: list[str], tensors: tuple[RTensor, ...]) -> None:
        taken: dict[str, str] = {}
        for kind, items in (
            ("step", names),
            ("tensor", [t.name for t in tensors]),
            ("parameter", [p for p, _ in self.b.params]),
        ):
            for item in items:
                if item in taken and taken[item] != kind:
                    raise TorchgenError(
                        f"{self.where}: {item!r} names both a {taken[item]} and a {kind}"
                    )
                taken[item] = kind

    # ---------------------------------------------------------------------------- values
    def _eval(self, expr: Expr, what: str, first: Dims | None = None) -> Any:
        """The number ``expr`` gives here (``first``: the dims ``size(i)`` reads)."""
        values = {k: (v.value if isinstance(v, Dim) else v) for k, v in self.names.items()}
        try:
            return evaluate(expr, values, lambda i, v: self._size(i, v, first, what).value)
        except KeyError as exc:
            missing = str(exc.args[0]) if exc.args else "?"
            raise TorchgenError(
                f"{self.where}, {what}: {missing!r} is not a parameter here"
                f"{did_you_mean(missing, list(self.names))}"
            ) from None
        except (ZeroDivisionError, OverflowError):
            raise TorchgenError(f"{self.where}, {what}: the arithmetic fails") from None

    def _size(self, dim: int, value: str | None, first: Dims | None, what: str) -> Dim:
        """The dim ``size(dim)`` (of the op's first input) or ``value.size(dim)`` reads."""
        if value is None and first is None:
            raise TorchgenError(
                f"{self.where}, {what}: size(i) is only known in forward (in an op)"
            )
        if value is not None:
            if value not in self.values:
                raise TorchgenError(
                    f"{self.where}, {what}: no step computes {value!r}"
                    f"{did_you_mean(value, list(self.values))}"
                )
            self._read(value, len(self.steps))
            first = self.values[value].dims
        assert first is not None
        if not -len(first) <= dim < len(first):
            raise TorchgenError(
                f"{self.where}, {what}: size({dim}) is out of range for {rules.fmt_dims(first)}"
            )
        return first[dim]

    def _dim(self, expr: Expr, what: str, first: Dims | None = None) -> Dim:
        """``expr`` as a dim: its number here and, as expression, the class's own terms
        (a ``size(i)`` becomes the dim it reads)."""
        value = self._eval(expr, what, first)
        if not expr.runtime():
            return Dim(value, expr)
        read: list[Dim] = []

        def leaf(e: Expr) -> Expr | None:
            if isinstance(e, Size):
                d = self._size(e.dim, e.value, first, what)
                read.append(d)
                return d.expr
            return None

        symbolic = substitute(expr, leaf)
        if any(d.varying for d in read):
            return Dim(value, symbolic if isinstance(expr, Size) else Name(VARYING))
        return Dim(value, symbolic)

    def _read(self, value: str, position: int) -> Val:
        self.readers.setdefault(value, []).append(position)
        return self.values[value]

    def _write(self, name: str, val: Val) -> None:
        if name != scope.DISCARD:
            self.values[name] = val

    # ---------------------------------------------------------------------------- tensors
    def _tensor(self, t: Any) -> RTensor:
        where = f"tensor {t.name!r}"
        dims = []
        for size in t.shape:
            expr = size if isinstance(size, Expr) else Lit(size)
            value = self._eval(expr, where)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TorchgenError(f"{self.where}, {where}: sizes must be positive integers")
            dims.append(Dim(value, expr))
        numel = math.prod(d.value for d in dims)
        if numel > MAX_TENSOR_ELEMENTS:
            raise TorchgenError(f"{self.where}, {where}: {numel:,} elements is too large to build")
        if t.init == "tril" and (len(dims) < 2 or dims[-1].value != dims[-2].value):
            raise TorchgenError(f"{self.where}, {where}: a tril mask needs a square shape")
        self.ctor_exprs += [d.expr for d in dims]
        self.values[t.name] = Val(tuple(dims), "bool" if t.init == "tril" else "float32", True)
        if not t.buffer:
            self.params += numel
        return RTensor(
            t.name, tuple(d.expr for d in dims), t.init, t.std, t.buffer, t.persistent, numel
        )

    # ---------------------------------------------------------------------------- steps
    def _step(self, w: scope.Wired) -> None:
        where = f"{self.where}, step {w.name!r}"
        position = len(self.steps)
        ins = [self._read(v, position) for v in w.inputs]
        otherwise = w.step.otherwise
        fallback = self._read(otherwise, position) if otherwise is not None else None
        rstep, outs = self._resolve(w, ins, where, fallback)
        if len(outs) < len(w.outputs):
            raise TorchgenError(
                f"{where}: it gives {len(outs)} value{'s' if len(outs) != 1 else ''}, "
                f"out names {len(w.outputs)}"
            )
        for name, val in zip(w.outputs, outs):
            self._write(name, val)
        self.params += rstep.params
        self.steps.append(rstep)

    def _resolve(
        self, w: scope.Wired, ins: list[Val], where: str, fallback: Val | None = None
    ) -> tuple[RStep, list[Val]]:
        """One step of any kind, its condition included: where the condition is false, its
        outputs are ``fallback`` (the ``otherwise`` value) or its input."""
        step = w.step
        enabled = True
        if step.when is not None:
            condition = self._eval(Name(step.when), f"{where} when")
            if not isinstance(condition, bool):
                raise TorchgenError(f"{where}: when = {step.when!r} must be true or false")
            enabled = condition
            if self._needs_branch(step, w):
                self.forward_names.add(step.when)
        try:
            if step.kind == "layer":
                rstep, outs = self._layer(step, w, ins, where)
            elif step.kind == "op":
                rstep, outs = self._op(step, w, ins, where)
            elif step.kind == "block":
                rstep, outs = self._block(step, w, ins, where)
            else:
                rstep, outs = self._group(step, w, ins, where)
        except TorchgenError:
            if enabled:
                raise
            # Left out in this instance: its code must still be written for the others, from
            # what is known without running it.
            rstep, outs = self._disabled(step, w, ins, where)
        rstep = replace(rstep, named=step.outputs is not None, given_name=step.name is not None)
        if step.when is not None:
            rstep = replace(rstep, when=Name(step.when), otherwise=step.otherwise or w.inputs[0])
            if not enabled:
                absent = fallback or ins[0]
                # Where the step would give the same numbers, its value keeps the terms it has
                # where present (``hidden``, not ``in_channels``), so that the code after it
                # comes out the same in every instance.
                outs = [_as_present(absent, present) for present in outs] + [absent] * (
                    len(w.outputs) - len(outs)
                )
                self.aliases.update({o: step.otherwise or w.inputs[0] for o in w.outputs})
                # Absent, it writes nothing: its in-place flag is the present instances' to set.
                position = len(self.steps)
                self.inplace_steps = [(p, v) for p, v in self.inplace_steps if p != position]
                rstep = replace(rstep, params=0, out_shapes=tuple(v.sample for v in outs))
        return rstep, outs

    def _needs_branch(self, step: Step, w: scope.Wired) -> bool:
        """Whether forward must test the condition itself (an op, or an output other than the
        step's input); a module that is absent is written as nn.Identity()."""
        return step.kind == "op" or (step.otherwise not in (None, w.inputs[0]))

    def _disabled(
        self, step: Step, w: scope.Wired, ins: list[Val], where: str
    ) -> tuple[RStep, list[Val]]:
        """A step whose condition is false here and that does not fit its inputs (which is
        why it has a condition): its code from its arguments alone, its shapes unchecked."""
        if step.kind == "op":
            op = catalog.op(step.target)
            rstep = RStep(
                "op",
                w.name,
                op,
                args=self._op_rendered(op, step),
                inputs=w.inputs,
                outputs=w.outputs,
            )
            return rstep, []
        if step.kind == "layer":
            entry = catalog.layer(step.target)
            args, values = self._layer_args(entry, step.args, ins, where)
            rendered = tuple(self._render_args(entry.args, args, values))
            rstep = RStep("layer", w.name, entry, args=rendered, inputs=w.inputs, outputs=w.outputs)
            return rstep, []
        raise TorchgenError(
            f"{where}: it does not fit its input in this instance, where its condition "
            f"{step.when!r} is false"
        )

    # ---------------------------------------------------------------------------- layers
    def _layer(
        self, step: Step, w: scope.Wired, ins: list[Val], where: str
    ) -> tuple[RStep, list[Val]]:
        entry = catalog.layer(step.target)
        where = f"{where} ({entry.name})"
        if len(ins) > len(entry.inputs):
            raise TorchgenError(
                f"{where}: it takes {len(entry.inputs)} input"
                f"{'s' if len(entry.inputs) != 1 else ''} ({', '.join(entry.inputs)}), "
                f"got {len(ins)}"
            )
        # Inputs after the first default to the first: attention over the query itself.
        w = replace(w, inputs=w.inputs + (w.inputs[0],) * (len(entry.inputs) - len(ins)))
        ins = ins + [ins[0]] * (len(entry.inputs) - len(ins))
        args, values = self._layer_args(entry, step.args, ins, where)
        outs, params = self._apply_layer(entry, values, args, ins, where)
        call, call_values = self._call_args(entry, step, w, where)
        if entry.has("attention"):
            weights_used = len(w.outputs) > 1 and w.outputs[1] != scope.DISCARD
            call = (
                *[(k, v) for k, v in call if k != "need_weights"],
                ("need_weights", weights_used),
            )
        rendered = tuple(self._render_args(entry.args, args, values))
        self._track_aliases(entry, w)
        if entry.inplace and values.get("inplace"):
            self.inplace_steps.append((len(self.steps), w.inputs[0]))
        if entry.weight is not None:
            self.weights[w.name] = entry.weight(values)
        if entry.integer_input:
            source = self._root(w.inputs[0])
            if source in self.b.inputs:  # ids of that input must stay below the table's size
                size = values["num_embeddings"]
                self.vocab[source] = min(self.vocab.get(source, size), size)
        return (
            RStep(
                kind="layer",
                name=w.name,
                entry=entry,
                args=rendered,
                inputs=w.inputs,
                outputs=w.outputs,
                call=call,
                call_values=call_values,
                functional=entry.functional is not None,
                out_shapes=tuple(v.sample for v in outs),
                params=params,
            ),
            outs,
        )

    def _layer_args(
        self, entry: LayerType, given: tuple[tuple[str, Any], ...], ins: list[Val], where: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each argument as a dim or literal (``args``) and as a plain value (``values``),
        the inferred one taken from the input, every value checked."""
        valid = {a.name: a for a in entry.args}
        args: dict[str, Any] = {}
        for key, raw in given:
            if key not in valid:
                raise TorchgenError(
                    f"{where}: unknown argument {key!r}{did_you_mean(key, list(valid))}"
                )
            args[key] = self._arg(raw, f"{where} {key}")
        if not ins:
            raise TorchgenError(f"{where}: it reads no value")
        first = ins[0]
        sample = _sample(entry, first, args, where)
        if entry.inferred:
            # A shape-kind argument (LayerNorm's normalized_shape) covers trailing dimensions;
            # inferred, it is the last one.
            trailing = entry.arg(entry.inferred).kind == "shape"
            source = sample[-1] if trailing else sample[entry.in_dim]
            if entry.inferred in args:
                given_value = _plain(args[entry.inferred])
                expected = source.value
                if trailing:
                    expected = tuple(
                        d.value for d in sample[-len(rules.as_tuple(given_value, 1)) :]
                    )
                    given_value = rules.as_tuple(given_value, 1)
                if given_value != expected:
                    raise TorchgenError(
                        f"{where}: {entry.inferred}={_show(given_value)} does not match its "
                        f"input {first}; expected {_show(expected)}"
                    )
            else:
                args[entry.inferred] = source
        values = {a.name: _plain(args[a.name]) if a.name in args else a.default for a in entry.args}
        for a in entry.args:
            if a.name in args and a.name != entry.inferred:
                expected = catalog.check_value(a, values[a.name])
                if expected:
                    raise TorchgenError(
                        f"{where}: {a.name} must be {expected}, got {_show(values[a.name])}"
                    )
        missing = [a.name for a in entry.args if a.required and a.name not in args]
        if missing:
            raise TorchgenError(f"{where}: missing required argument {', '.join(missing)}")
        return args, values

    def _arg(self, raw: Any, what: str) -> Any:
        """A given argument: expressions evaluated to dims (kept per element in lists)."""
        if isinstance(raw, Expr):
            return self._dim(raw, what)
        if isinstance(raw, tuple):
            return tuple(self._arg(r, what) for r in raw)
        return raw

    def _apply_layer(
        self,
        entry: LayerType,
        values: dict[str, Any],
        args: dict[str, Any],
        ins: list[Val],
        where: str,
        call_values: dict[str, Any] | None = None,
    ) -> tuple[list[Val], int]:
        first = ins[0]
        if entry.integer_input and first.dtype not in ("int64",):
            raise TorchgenError(
                f"{where}: it looks up integer ids, but its input {first} holds {first.dtype}"
            )
        if not entry.integer_input and first.dtype != "float32":
            raise TorchgenError(
                f"{where}: it computes on floats, but its input holds {first.dtype} "
                '(convert with op = "float")'
            )
        samples = []
        for val in ins:
            if val.batched:
                samples.append(_strip_batch(val, entry.batch_axis(values)))
            else:
                if not entry.unbatched:
                    raise TorchgenError(f"{where}: its input {val} has no batch dimension")
                samples.append(val.dims)
        shapes = tuple(tuple(d.value for d in s) for s in samples)
        if len(samples[0]) not in entry.ranks:
            raise TorchgenError(
                f"{where}: expects an input of rank {' or '.join(map(str, entry.ranks))} per "
                f"sample, got {rules.fmt(shapes[0])}"
            )
        rule_args = {**values, **(call_values or {})}
        # The rule runs on Syms: sizes given by expressions (and the input's own) come out
        # with theirs, and what it decides on a parameter is kept as a guard of the class.
        guards: list[symbolic.Guard] = []
        sym_shapes = tuple(tuple(symbolic.Sym.of(d, guards) for d in s) for s in samples)
        sym_args = {
            **rule_args,
            **{k: symbolic.wrap(v, guards) for k, v in args.items() if _has_expr(v)},
        }
        try:
            if entry.outputs is not None:
                results = entry.outputs(sym_shapes, sym_args)
            else:
                results = ((entry.out_shape(sym_shapes[0], sym_args), 0),)
            params = entry.params(rule_args)
        except ShapeError as exc:
            raise TorchgenError(f"{where}: {exc} (input {first})") from None
        except (OverflowError, MemoryError, ZeroDivisionError):
            raise TorchgenError(f"{where}: its sizes are too large to build") from None
        self.guards += [g for g in guards if g not in self.guards]
        outs = []
        for k, (shape, batch_axis) in enumerate(results):
            too_large = catalog.check_limits(values, symbolic.unwrap(tuple(shape)), params)
            if too_large:
                raise TorchgenError(f"{where}: {too_large}")
            dims = _out_dims(entry, samples[0], shape, args, k)
            if first.batched:
                at = batch_axis if entry.outputs is not None else 0
                dims = (*dims[:at], BATCH_DIM, *dims[at:])
            dtype = first.dtype if entry.has("alias") else "float32"
            outs.append(Val(tuple(dims), dtype))
        return outs, params

    def _call_args(
        self, entry: LayerType, step: Step, w: scope.Wired, where: str
    ) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...]]:
        valid = {a.name: a for a in entry.call_args}
        out, names = [], []
        for key, raw in step.call:
            if key not in valid:
                raise TorchgenError(
                    f"{where}: forward takes no {key!r}{did_you_mean(key, list(valid))}"
                )
            arg = valid[key]
            if arg.kind in ("value", "opt_value"):
                if raw not in self.values:
                    raise TorchgenError(
                        f"{where}: {key} = {raw!r}: no step computes it"
                        f"{did_you_mean(str(raw), list(self.values))}"
                    )
                self._read(raw, len(self.steps))
                names.append(key)
            else:
                expected = catalog.check_value(arg, raw)
                if expected:
                    raise TorchgenError(f"{where}: {key} must be {expected}, got {raw!r}")
            out.append((key, raw))
        return tuple(out), tuple(names)

    def _render_args(
        self, spec: Iterable[catalog.Arg], args: dict[str, Any], values: dict[str, Any]
    ) -> Iterable[tuple[str, Any]]:
        """The arguments a constructor call writes: required ones, and the others where they
        differ from the default (or name a parameter); sizes as constructor expressions."""
        for a in spec:
            if a.name not in args:
                if a.always and not a.required:
                    yield a.name, a.default
                continue
            value = args[a.name]
            symbolic = _has_expr(value)
            if a.required or a.always or symbolic or values[a.name] != a.default:
                yield a.name, self._ctor(value, a.name)

    def _ctor(self, value: Any, what: str) -> Any:
        """A dim as the constructor writes it: the class's expression, spatial placeholders as
        numbers; a size known only at run time is an error."""
        if isinstance(value, tuple):
            return tuple(self._ctor(v, what) for v in value)
        if not isinstance(value, Dim):
            return value
        if value.varying:
            raise TorchgenError(
                f"{self.where}: {what} would depend on a size known only at run time (the batch "
                "or a variable length); give it explicitly"
            )
        numbers = {input_symbol(name, axis): size for name, axis, size in self.placeholders}
        expr = substitute(
            value.expr,
            lambda leaf: (
                Lit(numbers[leaf.name])  # each placeholder its own number, not the whole dim's
                if isinstance(leaf, Name) and leaf.name in numbers
                else None
            ),
        )
        if any(n.startswith("@in:") for n in expr.names()):
            expr = Lit(value.value)
        self.ctor_exprs.append(expr)
        return expr

    def _track_aliases(self, entry: LayerType | OpType, w: scope.Wired) -> None:
        """Outputs that may share their input's storage (a view, Identity, eval-mode dropout)
        are the same value for in-place safety."""
        if entry.has("alias") or entry.has("view"):
            self.aliases.update({out: w.inputs[0] for out in w.outputs})

    # ---------------------------------------------------------------------------- ops
    def _op(
        self, step: Step, w: scope.Wired, ins: list[Val], where: str
    ) -> tuple[RStep, list[Val]]:
        op = catalog.op(step.target)
        where = f"{where} ({op.name})"
        lo, hi = op.inputs
        if not lo <= len(ins) <= (hi if hi is not None else len(ins)):
            wanted = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
            raise TorchgenError(f"{where}: it takes {wanted} inputs, got {len(ins)}")
        if op.has("functional"):
            return self._functional(op, step, w, ins, where)
        valid = {a.name: a for a in op.args}
        first = ins[0].dims if ins else ()  # what size(i) reads
        args: dict[str, Any] = {}
        for key, raw in step.args:
            if key not in valid:
                raise TorchgenError(
                    f"{where}: unknown argument {key!r}{did_you_mean(key, list(valid))}"
                )
            args[key] = self._op_arg(valid[key], raw, first, f"{where} {key}")
        missing = [a.name for a in op.args if a.required and a.name not in args]
        if missing:
            raise TorchgenError(f"{where}: missing required argument {', '.join(missing)}")
        for a in op.args:
            args.setdefault(a.name, None if a.required else a.default)
        try:
            results = op.rule([v.dims for v in ins], args)
        except ShapeError as exc:
            shapes = ", ".join(str(v) for v in ins)
            # Most rules name the shapes themselves; add them where the message does not.
            suffix = "" if ins and str(ins[0]) in str(exc) else f" (inputs {shapes})"
            raise TorchgenError(f"{where}: {exc}{suffix}") from None
        if op.has("several") and len(w.outputs) != len(results):
            raise TorchgenError(
                f"{where}: it gives {len(results)} values; name each in out = [...] "
                f"(got {len(w.outputs)})"
            )
        dtype = "int64" if op.integer_output else (ins[0].dtype if ins else "float32")
        dtype = op.dtype or dtype
        outs = [Val(tuple(r), dtype) for r in results]
        self._track_aliases(op, w)
        return (
            RStep(
                kind="op",
                name=w.name,
                entry=op,
                args=self._op_rendered(op, step),
                inputs=w.inputs,
                outputs=w.outputs,
                reads=tuple(sorted(_reads(step.args))),
                out_shapes=tuple(v.sample for v in outs),
            ),
            outs,
        )

    def _op_rendered(self, op: OpType, step: Step) -> tuple[tuple[str, Any], ...]:
        given = dict(step.args)
        return tuple(
            (a.name, self._forward_value(given.get(a.name, a.default)))
            for a in op.args
            if a.name in given or (a.always and not a.required)
        )

    def _op_arg(self, arg: catalog.Arg, raw: Any, first: Dims, what: str) -> Any:
        if arg.kind in ("int", "ints", "shape"):
            items = raw if isinstance(raw, tuple) else (raw,)
            dims = tuple(
                self._dim(r if isinstance(r, Expr) else Lit(r), what, first) for r in items
            )
            return dims if isinstance(raw, tuple) else dims[0]
        value = self._eval(raw, what, first) if isinstance(raw, Expr) else raw
        if isinstance(raw, tuple):
            value = tuple(self._eval(r, what, first) if isinstance(r, Expr) else r for r in raw)
        expected = catalog.check_value(arg, value) if value is not None else None
        if expected:
            raise TorchgenError(f"{what} must be {expected}, got {_show(value)}")
        return value

    def _forward_value(self, raw: Any) -> Any:
        """An op argument as forward code writes it; the names it reads are stored on self."""
        if isinstance(raw, tuple):
            return tuple(self._forward_value(r) for r in raw)
        if isinstance(raw, Expr):
            self.forward_names |= raw.names()
        return raw

    def _functional(
        self, op: OpType, step: Step, w: scope.Wired, ins: list[Val], where: str
    ) -> tuple[RStep, list[Val]]:
        """``relu``, ``max_pool2d``...: the parameter-free layer's rule, written as a call."""
        entry = catalog.functional_layer(op.name)
        assert entry is not None
        args, values = self._layer_args(entry, step.args, ins, where)
        outs, _ = self._apply_layer(entry, values, args, ins, where)
        # Written as a call in forward: the parameters it reads are stored on self.
        rendered = tuple(
            (k, self._forward_value(v)) for k, v in self._render_args(entry.args, args, values)
        )
        self._track_aliases(entry, w)
        if entry.inplace and values.get("inplace"):
            self.inplace_steps.append((len(self.steps), w.inputs[0]))
        return (
            RStep(
                kind="op",
                name=w.name,
                entry=entry,
                args=rendered,
                inputs=w.inputs,
                outputs=w.outputs,
                functional=True,
                out_shapes=tuple(v.sample for v in outs),
            ),
            outs,
        )

    # ---------------------------------------------------------------------------- blocks
    def _block(
        self, step: Step, w: scope.Wired, ins: list[Val], where: str
    ) -> tuple[RStep, list[Val]]:
        try:
            block = self.r.m.block(step.target)
        except KeyError:
            names = [b.name for b in self.r.m.blocks]
            raise TorchgenError(
                f"{where}: unknown block {step.target!r}{did_you_mean(step.target, names)}"
            ) from None
        declared = dict(block.params)
        if len(ins) != len(block.inputs):
            raise TorchgenError(
                f"{where}: block {block.name} takes {len(block.inputs)} input"
                f"{'s' if len(block.inputs) != 1 else ''} ({', '.join(block.inputs)}), got {len(ins)}"
            )
        count, count_expr = self._count(step, where)
        # A depth that is a parameter needs the stage's step from instance to instance: build
        # a few more than the default to see it (they count for nothing).
        built = max(count, 4) if not isinstance(count_expr, Lit) else count
        instances, total, results = [], 0, []
        current = ins
        for i in range(built):
            given = dict(step.args)
            if i == 0:
                given.update(step.first)
            for key in given:
                if key not in declared:
                    raise TorchgenError(
                        f"{where}: block {block.name} has no parameter {key!r}"
                        f"{did_you_mean(key, list(declared))}; it takes "
                        f"{', '.join(declared) or 'none'}"
                    )
            args = {
                k: self._dim(v, f"{where} {k}") if isinstance(v, Expr) else Dim(v, Lit(v))
                for k, v in given.items()
            }
            label = f"{where}[{i}]" if built > 1 else where
            try:
                res = self.r.instance(block, args, current, label)
            except TorchgenError:
                if i < count:
                    raise
                raise TorchgenError(
                    f"{where}: repeat = {to_source(step.repeat)!r} needs the stage to keep its "
                    f"shape or grow by a fixed step, and instance {i} does not fit; give repeat "
                    "a number"
                ) from None
            outs = [self._translate(v, res, args, current) for v in res.outputs]
            instances.append(self._instance(block, res, args, current, outs, label))
            results.append(outs)
            if i < count:
                total += res.params
            if built > 1 and len(res.outputs) > len(block.inputs):
                raise TorchgenError(
                    f"{where}: a repeated block gives {len(res.outputs)} values but takes "
                    f"{len(block.inputs)}; each instance's outputs are the next one's first inputs"
                )
            # The outputs feed the next instance; the inputs they do not replace (a decoder's
            # memory, a time embedding) go to every instance as they are.
            current = [*outs, *current[len(outs) :]]
        loop = stage.loop(instances)
        outs = results[count - 1]
        if not isinstance(count_expr, Lit):
            if loop is None:
                raise TorchgenError(
                    f"{where}: repeat = {to_source(step.repeat)!r}: the instances' arguments "
                    "do not follow one expression of their position; give repeat a number"
                )
            outs = [
                self._after(results, j, count_expr, count, where) for j in range(len(outs))
            ]
        instances = instances[:count]
        if built > 1 and len(outs) > 1 and scope.DISCARD in w.outputs:
            raise TorchgenError(
                f"{where}: a repeated block's outputs feed its next instance; name each of them"
            )
        if res.cls.output_aliases_input:
            self.aliases.update({o: w.inputs[0] for o in w.outputs})
        return (
            RStep(
                kind="block",
                name=w.name,
                block=block.name,
                inputs=w.inputs,
                outputs=w.outputs,
                instances=tuple(instances),
                count=count_expr,
                loop=loop.each if loop is not None else None,
                loop_start=loop.start if loop is not None else 0,
                instance_names=step.instance_names,
                out_shapes=tuple(v.sample for v in outs),
                params=total,
            ),
            list(outs),
        )

    def _count(self, step: Step, where: str) -> tuple[int, Expr]:
        """A stage's number of instances here, and as its constructor writes it."""
        if not isinstance(step.repeat, Expr):
            return step.repeat, Lit(step.repeat)
        what = f"{where} repeat"
        dim = self._dim(step.repeat, what)
        if not isinstance(dim.value, int) or isinstance(dim.value, bool):
            raise TorchgenError(f"{what}: {to_source(step.repeat)!r} must be an integer")
        if not 1 <= dim.value <= MAX_REPEAT:
            raise TorchgenError(
                f"{what}: {to_source(step.repeat)!r} is {dim.value}; a stage repeats a block "
                f"1 to {MAX_REPEAT} times"
            )
        return dim.value, self._ctor(dim, "repeat")

    def _after(
        self, results: list[list[Val]], j: int, count: Expr, count_value: int, where: str
    ) -> Val:
        """Output ``j`` of a stage of ``count`` instances (a parameter), from the instances
        built: each of its sizes a fixed step from the one before."""
        dims = []
        for axis, last in enumerate(results[-1][j].dims):
            column = [r[j].dims[axis].expr for r in results]
            if last.varying:
                dims.append(last)
                continue
            found = stage.progression(column)
            if found is None:
                raise TorchgenError(
                    f"{where}: repeat = {to_source(count)!r}: the stage's output grows by no "
                    f"fixed step ({', '.join(str(r[j].dims[axis].value) for r in results)}); "
                    "give repeat a number"
                )
            base, step_ = found
            value = results[count_value - 1][j].dims[axis].value
            if not step_:
                dims.append(Dim(value, column[0]))
                continue
            # Instance k's output is base + k * step; the last one's is at count - 1.
            dims.append(Dim(value, stage.at(base, step_, BinOp("-", count, Lit(1)))))
        return Val(tuple(dims), results[-1][j].dtype)

    def _translate(self, val: Val, res: Resolved, args: dict[str, Dim], ins: list[Val]) -> Val:
        """A value of the callee in the caller's terms: its parameters, lets, input sizes and
        spatial placeholders replaced by what the caller gave."""
        mapping: dict[str, Expr] = {}
        block_inputs = res.cls.inputs
        for p, default in res.cls.signature:
            if p in args:
                mapping[p] = args[p].expr
            elif default is not REQUIRED_PARAM:
                mapping[p] = Lit(default)
        for auto, inp, axis in res.sizes:
            idx = block_inputs.index(inp)
            mapping[auto] = ins[idx].dims[axis + 1].expr
        for inp, axis, _ in res.placeholders:
            idx = block_inputs.index(inp)
            mapping[input_symbol(inp, axis)] = ins[idx].dims[axis + 1].expr
        for name, expr in res.lets:
            mapping[name] = substitute(expr, lambda leaf: _lookup(leaf, mapping))

        def leaf(e: Expr) -> Expr | None:
            return _lookup(e, mapping)

        dims = tuple(Dim(d.value, substitute(d.expr, leaf)) for d in val.dims)
        return Val(dims, val.dtype)

    def _instance(
        self,
        block: Block,
        res: Resolved,
        args: dict[str, Dim],
        ins: list[Val],
        outs: list[Val],
        where: str,
    ) -> RInstance:
        positional = []
        for auto, inp, axis in res.cls.auto:
            dim = ins[res.cls.inputs.index(inp)].dims[axis + 1]
            positional.append(self._ctor(dim, auto))
        keywords = tuple(
            (p, self._ctor(args[p], p) if isinstance(args[p], Dim) else args[p])
            for p, _ in block.params
            if p in args
        )
        return RInstance(
            block.name,
            tuple(positional),
            keywords,
            ins[0].sample,
            outs[0].sample if outs else (),
            res.params,
        )

    # ---------------------------------------------------------------------------- groups
    def _group(
        self, step: Step, w: scope.Wired, ins: list[Val], where: str
    ) -> tuple[RStep, list[Val]]:
        names = scope.scope_names(step.body, f"{where}")
        members, current, total = [], ins, 0
        previous = w.inputs
        for sub, name in zip(step.body, names):
            sw = scope.Wired(0, sub, name, previous, (name,))
            r, current = self._resolve(sw, current, f"{where}, {name!r}")
            members.append(r)
            total += r.params
            previous = (name,)
        return (
            RStep(
                kind="group",
                name=w.name,
                inputs=w.inputs,
                outputs=w.outputs,
                members=tuple(members),
                out_shapes=tuple(v.sample for v in current),
                params=total,
            ),
            list(current),
        )

    # ---------------------------------------------------------------------------- checks
    def _check_used(self, outputs: tuple[str, ...], tensors: tuple[RTensor, ...]) -> None:
        """A value computed and never read is a mistake (a wrong ``in``): refused, naming it."""
        producer = {o: s.name for s in self.steps for o in s.outputs if o != scope.DISCARD}
        for name in [*self.b.inputs, *producer, *(t.name for t in tensors)]:
            if name in self.readers or name in outputs:
                continue
            if name in self.b.inputs:
                what = f"the input {name!r}"
            elif name in producer:
                what = f"the value {name!r} (of step {producer[name]!r})"
            else:
                what = f"the tensor {name!r}"
            raise TorchgenError(
                f"{self.where}: {what} is never used; read it, or name the output '_' to "
                "discard it"
            )

    def _root(self, value: str) -> str:
        """The value whose storage ``value`` shares (itself, unless it is a view)."""
        while value in self.aliases:
            value = self.aliases[value]
        return value

    def _fix_inplace(self, outputs: tuple[str, ...]) -> None:
        """No in-place write to a value that is read again: the caller's input, a tensor of the
        class, anything returned, or a value (or a view of it) a later step reads. Such a layer
        is written out of place."""

        root = self._root
        protected = {root(v) for v in (*self.b.inputs, *outputs)}
        protected |= {root(v) for v, val in self.values.items() if val.tensor}
        for position, value in self.inplace_steps:
            group = root(value)
            later = any(
                p > position
                for v, positions in self.readers.items()
                if root(v) == group
                for p in positions
            )
            if group in protected or later:
                self.steps[position] = _out_of_place(self.steps[position])

    # ---------------------------------------------------------------------------- the class
    def _finish(self, tensors: tuple[RTensor, ...], outputs: tuple[str, ...]) -> Resolved:
        b = self.b
        used = set()
        for expr in self.ctor_exprs:
            used |= expr.names()
        for s in _all_steps(self.steps):
            if s.when is not None:
                used |= s.when.names()
        for g, _ in self.guards:
            used |= g.names()
        used |= self.forward_names
        lets = dict(b.lets)
        needed_lets: list[tuple[str, Expr]] = []
        frontier = list(used)
        while frontier:
            name = frontier.pop()
            if name in lets and name not in dict(needed_lets):
                needed_lets.append((name, lets[name]))
                new = lets[name].names() - used
                used |= new
                frontier += list(new)
        ordered_lets = tuple((n, e) for n, e in b.lets if n in dict(needed_lets))
        auto = [a for a in self.auto if a in used]
        signature = (*((a, REQUIRED_PARAM) for a in auto), *b.params)
        root = self._root(outputs[0])
        cls = RClass(
            name=b.name,
            doc=b.doc,
            signature=tuple(signature),
            auto=tuple((a, *self.auto[a]) for a in auto),
            lets=ordered_lets,
            stored=tuple(n for n in sorted(self.forward_names) if n in self.names),
            tensors=tensors,
            steps=tuple(self.steps),
            inputs=b.inputs,
            outputs=outputs,
            ties=b.ties,
            residual=b.residual,
            residual_norm=self.residual_norm if b.residual else None,
            refuse=tuple(symbolic.violated(g) for g in self.guards),
            in_doc=tuple(_doc_dims(self.values[i].dims, used) for i in b.inputs),
            out_doc=tuple(_doc_dims(self.values[o].dims, used) for o in outputs),
            output_aliases_input=root in b.inputs,
        )
        params = self.params - self._tied()
        return Resolved(
            cls,
            tuple(self.values[o] for o in outputs),
            params,
            ordered_lets,
            tuple(self.placeholders),
            tuple((a, *where) for a, where in self.auto.items()),
        )

    def _tied(self) -> int:
        """Tied weights count once: subtract each tie's replaced weight."""
        total = 0
        for dst, src in self.b.ties:
            shapes = []
            for path in (dst, src):
                layer, _, attr = path.rpartition(".")
                if layer not in self.weights or attr != "weight":
                    raise TorchgenError(
                        f"{self.where}: tie {dst} = {src}: {path!r} is not the weight of a "
                        f"Linear or Embedding step{did_you_mean(layer, list(self.weights))}"
                    )
                shapes.append(self.weights[layer])
            if shapes[0] != shapes[1]:
                raise TorchgenError(
                    f"{self.where}: tie {dst} = {src}: the weights' shapes "
                    f"{rules.fmt(shapes[0])} and {rules.fmt(shapes[1])} differ"
                )
            total += math.prod(shapes[0])
        return total


# ------------------------------------------------------------------------------- helpers
def _all_steps(steps: Iterable[RStep]) -> Iterable[RStep]:
    """Steps and, inside groups and sequences, their members."""
    for s in steps:
        yield s
        yield from _all_steps(s.members)


def _reads(args: Iterable[tuple[str, Any]]) -> set[str]:
    out: set[str] = set()
    for _, v in args:
        for item in v if isinstance(v, tuple) else (v,):
            if isinstance(item, Expr):
                out |= item.values()
    return out


def _as_present(absent: Val, present: Val) -> Val:
    """The value of a step that is absent here (its ``otherwise``), in the terms the step
    gives it where present, if those are the same numbers; else the ``otherwise`` value."""
    same = present.dtype == absent.dtype and [d.value for d in present.dims] == [
        d.value for d in absent.dims
    ]
    return present if same else absent


def _lookup(leaf: Expr, mapping: dict[str, Expr]) -> Expr | None:
    if isinstance(leaf, Name) and leaf.name in mapping:
        return mapping[leaf.name]
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Dim):
        return value.value
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _has_expr(value: Any) -> bool:
    if isinstance(value, Dim):
        return not isinstance(value.expr, Lit)
    if isinstance(value, tuple):
        return any(_has_expr(v) for v in value)
    return False


def _show(value: Any) -> str:
    return repr(list(value) if isinstance(value, tuple) else value)


def _sample(entry: LayerType, val: Val, args: dict[str, Any], where: str) -> Dims:
    if not val.batched:
        return val.dims
    values = {a.name: _plain(args[a.name]) if a.name in args else a.default for a in entry.args}
    return _strip_batch(val, entry.batch_axis(values))


def _strip_batch(val: Val, axis: int | None) -> Dims:
    """The per-sample dims of a batched value whose batch sits at ``axis`` (0 when None)."""
    at = axis or 0
    if at == 0:
        return val.dims[1:]
    # batch_first=False: the value is (L, N, ...); its batch dimension is where N is.
    dims = list(val.dims)
    batch = next(i for i, d in enumerate(dims) if d.is_batch)
    del dims[batch]
    return tuple(dims)


def _out_dims(entry: LayerType, sample: Dims, shape: tuple[Any, ...], args: dict[str, Any], k: int) -> Dims:
    """A layer's output dims with their expressions: as its rule computed them on Syms, or its
    own symbolic rule where it has one (Flatten multiplies, Unflatten splits)."""
    if entry.symbolic is not None and k == 0:
        values = {a.name: _plain(args[a.name]) if a.name in args else a.default for a in entry.args}
        return entry.symbolic(sample, values, args)
    return tuple(symbolic.as_dim(v) for v in shape)


def _out_of_place(step: RStep) -> RStep:
    return replace(step, args=tuple((k, v) for k, v in step.args if k != "inplace"))


def _doc_dims(dims: Dims, known: set[str]) -> tuple[str, ...]:
    """A value's dims as a docstring shows them: N, a varying length's name, an expression of
    the class's parameters (``known``), or "..." for sizes that vary with the instance."""
    out = []
    for d in dims:
        if d.is_batch:
            out.append("N")
        elif d.varying:
            names = [n for n in d.expr.names() if n.startswith("@L:")]
            out.append(names[0][3:] if names else "L")
        elif isinstance(d.expr, Lit) or not d.expr.names() <= known:
            out.append("...")
        else:
            out.append(to_source(d.expr))
    collapsed: list[str] = []
    for item in out:
        if item == "..." and collapsed and collapsed[-1] == "...":
            continue
        collapsed.append(item)
    return tuple(collapsed)
