"""Shape inference over the description: every value's dims, every argument's final value, every
class's signature, each block instance resolved once.

A class is resolved per distinct instance (its arguments' numbers and its inputs' dims): with its
own names for expressions (what its code says) and the instance's numbers for checks. Two
instances must produce the same code; their outputs are translated into the caller's terms by
substituting the callee's names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from torchscaffold import catalog
from torchscaffold.catalog import rules, symbolic
from torchscaffold.catalog.types import (
    BATCH,
    VARYING,
    Dim,
    Dims,
    LayerType,
    OpType,
    input_symbol,
    length_symbol,
    whole_product,
)
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.shapes import residual, scope
from torchscaffold.shapes.block_steps import BlockSteps
from torchscaffold.shapes.layer_steps import LayerSteps
from torchscaffold.shapes.op_steps import OpSteps
from torchscaffold.shapes.resolved import (
    REQUIRED_PARAM,
    RClass,
    Resolved,
    ResolvedModel,
    RInput,
    RStep,
    RTensor,
    SummaryRow,
)
from torchscaffold.shapes.tensor_steps import TensorSteps
from torchscaffold.shapes.values import BATCH_DIM, Val
from torchscaffold.spec.expr import (
    Expr,
    Lit,
    Name,
    Size,
    evaluate,
    simplify,
    substitute,
    to_source,
)
from torchscaffold.spec.ir import Block, Model, Step


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
class _ClassScope(LayerSteps, OpSteps, BlockSteps, TensorSteps):
    """Resolves one instance of one class: lets, tensors, steps in order, outputs, in-place
    safety, the signature. Each kind of step resolves in its own module (layer_steps,
    op_steps, block_steps, tensor_steps); what they share (values, expressions, aliases) is
    here."""

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
        self.last_axis: dict[str, int] = {}  # input -> the axis of its sample's last dim
        self.features: dict[str, str] = {}  # placeholder -> the auto parameter it became
        self.forward_names: set[str] = set()  # names forward code reads (stored on self)
        self.ctor_exprs: list[Expr] = []  # every expression constructors use
        self.aliases: dict[str, str] = {}  # value -> the value whose storage it shares
        self.inplace_steps: list[tuple[int, str]] = []
        self.residual_norm: str | None = None  # set by residual.attach
        self.weights: dict[str, tuple[int, ...]] = {}  # layer -> its weight's shape (ties)
        self.layers_built: dict[str, tuple] = {}  # layer -> (type, arguments, parameters)
        self.guards: list[symbolic.Guard] = []  # decisions on parameters the code relies on
        for position, (name, val) in enumerate(inputs.items()):
            self.values[name] = self._bind_input(name, position, val) if auto else val

    # ---------------------------------------------------------------------------- inputs
    def _bind_input(self, name: str, position: int, val: Val) -> Val:
        """Inside a block, its inputs' sizes are its names: ``in_channels`` (the first input's
        channels), ``in_features`` (its last dimension), ``skip_channels`` for another input
        ``skip``; the rest (spatial sizes) are placeholders that become numbers if used. An
        input without a batch (a mask per window) has sizes fixed per instance only."""
        if val.batch_like:
            # Its batch times its windows (swin's attention, levit's tokens): the class's own
            # batch, which the caller reads back as the size it gave (block_steps._translate).
            val = Val((Dim(val.dims[0].value, Name(BATCH)), *val.dims[1:]), val.dtype)
        if not val.batched and any(d.varying for d in val.dims):
            raise TorchgenError(f"{self.where}: input {name!r} {val} has no batch dimension")
        batch = next((v.dims[0] for v in self.values.values() if v.batched), None)
        if val.batched and batch is not None and val.dims[0] != batch:
            raise TorchgenError(
                f"{self.where}: input {name!r} {val} has another batch than the input before "
                f"it ({batch.value})"
            )
        prefix = "in" if position == 0 else name
        sample = val.dims[val.leading :]
        self.last_axis[name] = len(sample) - 1
        dims = list(val.dims[: val.leading])
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
            # ``B * self.patch_area`` stays a product the shapes can follow, and so does an
            # exact quotient (swin's ``x.size(0) // num_windows``); other arithmetic on the
            # batch (``B // 2`` rounds down) is only known at run time.
            product = whole_product(symbolic)
            return Dim(value, simplify(symbolic) if product else Name(VARYING))
        return Dim(value, symbolic)

    def _read(self, value: str, position: int) -> Val:
        self.readers.setdefault(value, []).append(position)
        return self.values[value]

    def _write(self, name: str, val: Val) -> None:
        if name != scope.DISCARD:
            self.values[name] = val

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
        full = tuple(tuple(d.value for d in v.dims) for v in outs)
        return replace(rstep, full_shapes=full), outs

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
                args=self._op_values(step),
                inputs=w.inputs,
                outputs=w.outputs,
            )
            return rstep, []
        if step.kind == "layer":
            entry = catalog.layer(step.target)
            args, _ = self._layer_args(entry, step.args, ins, where)
            ctor = self._ctor_args(entry.args, args)
            rstep = RStep("layer", w.name, entry, args=ctor, inputs=w.inputs, outputs=w.outputs)
            return rstep, []
        raise TorchgenError(
            f"{where}: it does not fit its input in this instance, where its condition "
            f"{step.when!r} is false"
        )

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
        numbers: dict[str, Expr] = {
            input_symbol(name, axis): Lit(size) for name, axis, size in self.placeholders
        }  # each placeholder its own number, not the whole dim's
        numbers.update({symbol: Name(auto) for symbol, auto in self.features.items()})
        expr = substitute(
            value.expr,
            lambda leaf: numbers.get(leaf.name) if isinstance(leaf, Name) else None,
        )
        if any(n.startswith("@in:") for n in expr.names()):
            expr = Lit(value.value)
        self.ctor_exprs.append(expr)
        return expr

    def _channels_last(self, dim: Dim) -> None:
        """A size a layer reads as its features (the last dimension) that is a multiple of an
        input's last axis and of no other size of the inputs: that input is channels-last
        (swin's (H, W, C)), and its last axis is its features, a parameter as ``in_features``
        is (``nn.LayerNorm(4 * in_features)``), not a number of one instance."""
        names = dim.expr.names()
        symbols = [n for n in names if n.startswith("@in:")]
        if len(symbols) != 1 or names & set(self.auto) or symbols[0] in self.features:
            return
        for name, axis, size in self.placeholders:
            if input_symbol(name, axis) == symbols[0] and axis == self.last_axis[name]:
                auto = f"{'in' if name == self.b.inputs[0] else name}_features"
                if auto in self.names:
                    return
                self.auto[auto] = (name, axis)
                self.names[auto] = Dim(size, Name(auto))
                self.features[symbols[0]] = auto

    def _track_aliases(self, entry: LayerType | OpType, w: scope.Wired) -> None:
        """Outputs that may share their input's storage (a view, Identity, eval-mode dropout)
        are the same value for in-place safety."""
        if entry.has("alias") or entry.has("view"):
            self.aliases.update({out: w.inputs[0] for out in w.outputs})

    # ---------------------------------------------------------------------------- checks
    def _check_used(self, outputs: tuple[str, ...], tensors: tuple[RTensor, ...]) -> None:
        """A value computed and never read is a mistake (a wrong ``in``): refused, naming it.
        So is a learned tensor never read (it would get no gradient); a buffer may be state
        the forward does not read in eval (a rope table for training's augmentation, kept so
        that the checkpoint loads)."""
        producer = {o: s.name for s in self.steps for o in s.outputs if o != scope.DISCARD}
        learned = [t.name for t in tensors if not t.buffer]
        for name in [*self.b.inputs, *producer, *learned]:
            if name in self.readers or name in outputs:
                continue
            if name in self.b.inputs:
                what = f"the input {name!r}"
            elif name in producer:
                what = f"the value {name!r} (of step {producer[name]!r})"
            else:
                what = f"the tensor {name!r}"
            raise TorchgenError(
                f"{self.where}: {what} is never used; read it, or name the output '_' to discard it"
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


# ------------------------------------------------------------------------------- helpers
def _all_steps(steps: Iterable[RStep]) -> Iterable[RStep]:
    """Steps and, inside groups and sequences, their members."""
    for s in steps:
        yield s
        yield from _all_steps(s.members)


def _as_present(absent: Val, present: Val) -> Val:
    """The value of a step that is absent here (its ``otherwise``), in the terms the step
    gives it where present, if those are the same numbers; else the ``otherwise`` value."""
    same = present.dtype == absent.dtype and [d.value for d in present.dims] == [
        d.value for d in absent.dims
    ]
    return present if same else absent


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
