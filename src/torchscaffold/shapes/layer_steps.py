"""Layer steps: a catalog layer's arguments (the inferred one from its input), its shape
rule run on Syms so every output size keeps its expression, its forward keywords, and the
constructor arguments its code writes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from torchscaffold import catalog
from torchscaffold.catalog import rules, symbolic
from torchscaffold.catalog.types import (
    Dim,
    Dims,
    LayerType,
    ShapeError,
)
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.shapes import scope
from torchscaffold.shapes.args import has_expr as _has_expr
from torchscaffold.shapes.args import plain as _plain
from torchscaffold.shapes.args import show as _show
from torchscaffold.shapes.resolved import RStep
from torchscaffold.shapes.values import Val
from torchscaffold.spec.expr import Expr
from torchscaffold.spec.ir import Step

if TYPE_CHECKING:
    from torchscaffold.shapes.resolver import _ClassScope


class LayerSteps:
    """Mixed into the resolver's class scope (shapes.resolver._ClassScope)."""

    def _layer(
        self: _ClassScope, step: Step, w: scope.Wired, ins: list[Val], where: str
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
        self._track_aliases(entry, w)
        if entry.inplace and values.get("inplace"):
            self.inplace_steps.append((len(self.steps), w.inputs[0]))
        if entry.weight is not None:
            self.weights[w.name] = entry.weight(values)
        ctor = self._ctor_args(entry.args, args)
        self.layers_built[w.name] = (entry.name, ctor, params)
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
                args=ctor,
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
        self: _ClassScope,
        entry: LayerType,
        given: tuple[tuple[str, Any], ...],
        ins: list[Val],
        where: str,
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
            if trailing or entry.in_dim == -1:
                self._channels_last(source)
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

    def _arg(self: _ClassScope, raw: Any, what: str) -> Any:
        """A given argument: expressions evaluated to dims (kept per element in lists)."""
        if isinstance(raw, Expr):
            return self._dim(raw, what)
        if isinstance(raw, tuple):
            return tuple(self._arg(r, what) for r in raw)
        return raw

    def _apply_layer(
        self: _ClassScope,
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
            sample, batch = _split_batch(entry, val, values)
            if batch is None and not entry.unbatched:
                raise TorchgenError(f"{where}: its input {val} has no batch dimension")
            samples.append(sample)
        batch = _split_batch(entry, first, values)[1]
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
            too_large = catalog.check_limits(values, _plain(tuple(shape)), params)
            if too_large:
                raise TorchgenError(f"{where}: {too_large}")
            dims = _out_dims(entry, samples[0], shape, args, k)
            if batch is not None:
                at = batch_axis if entry.outputs is not None else 0
                dims = (*dims[:at], batch, *dims[at:])
            dtype = first.dtype if entry.has("alias") else "float32"
            outs.append(Val(tuple(dims), dtype))
        return outs, params

    def _call_args(
        self: _ClassScope, entry: LayerType, step: Step, w: scope.Wired, where: str
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

    def _ctor_args(
        self: _ClassScope, spec: Iterable[catalog.Arg], args: dict[str, Any]
    ) -> tuple[tuple[str, Any], ...]:
        """Every argument the step has (given or inferred) as a value of the constructor:
        sizes as its expressions. Which of them a call writes is render's to say."""
        return tuple((a.name, self._ctor(args[a.name], a.name)) for a in spec if a.name in args)


def _sample(entry: LayerType, val: Val, args: dict[str, Any], where: str) -> Dims:
    values = {a.name: _plain(args[a.name]) if a.name in args else a.default for a in entry.args}
    return _split_batch(entry, val, values)[0]


def _split_batch(entry: LayerType, val: Val, values: dict[str, Any]) -> tuple[Dims, Dim | None]:
    """The per-sample dims of a value the layer is given, and the dim torch treats as its
    batch (None: the layer takes it whole, as one sample)."""
    axis = entry.batch_axis(values) or 0
    if val.batched:
        if axis == 0:
            return val.dims[1:], val.dims[0]
        # batch_first=False: the value is (L, N, ...); its batch dimension is where N is.
        dims = list(val.dims)
        batch = next(i for i, d in enumerate(dims) if d.is_batch)
        return (*dims[:batch], *dims[batch + 1 :]), dims[batch]
    if val.batch_like and axis == 0 and not entry.unbatched:
        # A block's batch times its windows (BatchNorm1d over every token of every sample).
        return val.dims[1:], val.dims[0]
    return val.dims, None


def _out_dims(
    entry: LayerType, sample: Dims, shape: tuple[Any, ...], args: dict[str, Any], k: int
) -> Dims:
    """A layer's output dims with their expressions: as its rule computed them on Syms, or its
    own symbolic rule where it has one (Flatten multiplies, Unflatten splits)."""
    if entry.symbolic is not None and k == 0:
        values = {a.name: _plain(args[a.name]) if a.name in args else a.default for a in entry.args}
        return entry.symbolic(sample, values, args)
    return tuple(symbolic.as_dim(v) for v in shape)
