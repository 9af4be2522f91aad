"""Op steps: a tensor function's arguments (sizes read at run time included) and shape rule;
parameter-free layers called as functions (``F.relu``) take their layer's rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from torchscaffold import catalog
from torchscaffold.catalog.types import (
    DIM_KINDS,
    Dims,
    OpType,
    ShapeError,
)
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.shapes import scope
from torchscaffold.shapes.args import show as _show
from torchscaffold.shapes.resolved import RStep
from torchscaffold.shapes.values import Val
from torchscaffold.spec.expr import Expr, Lit
from torchscaffold.spec.ir import Step

if TYPE_CHECKING:
    from torchscaffold.shapes.resolver import _ClassScope


class OpSteps:
    """Mixed into the resolver's class scope (shapes.resolver._ClassScope)."""

    def _op(
        self: _ClassScope, step: Step, w: scope.Wired, ins: list[Val], where: str
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
                args=self._op_values(step),
                inputs=w.inputs,
                outputs=w.outputs,
                reads=tuple(sorted(_reads(step.args))),
                out_shapes=tuple(v.sample for v in outs),
            ),
            outs,
        )

    def _op_values(self: _ClassScope, step: Step) -> tuple[tuple[str, Any], ...]:
        """The arguments the description gives the op; the names they read are stored."""
        return tuple((k, self._forward_value(v)) for k, v in step.args)

    def _op_arg(self: _ClassScope, arg: catalog.Arg, raw: Any, first: Dims, what: str) -> Any:
        if arg.kind in DIM_KINDS:
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

    def _forward_value(self: _ClassScope, raw: Any) -> Any:
        """An op argument as forward code writes it; the names it reads are stored on self."""
        if isinstance(raw, tuple):
            return tuple(self._forward_value(r) for r in raw)
        if isinstance(raw, Expr):
            self.forward_names |= raw.names()
        return raw

    def _functional(
        self: _ClassScope, op: OpType, step: Step, w: scope.Wired, ins: list[Val], where: str
    ) -> tuple[RStep, list[Val]]:
        """``relu``, ``max_pool2d``...: the parameter-free layer's rule, written as a call."""
        entry = catalog.functional_layer(op.name)
        assert entry is not None
        args, values = self._layer_args(entry, step.args, ins, where)
        outs, _ = self._apply_layer(entry, values, args, ins, where)
        # Written as a call in forward: the parameters it reads are stored on self.
        ctor = tuple((k, self._forward_value(v)) for k, v in self._ctor_args(entry.args, args))
        self._track_aliases(entry, w)
        if entry.inplace and values.get("inplace"):
            self.inplace_steps.append((len(self.steps), w.inputs[0]))
        return (
            RStep(
                kind="op",
                name=w.name,
                entry=entry,
                args=ctor,
                inputs=w.inputs,
                outputs=w.outputs,
                functional=True,
                out_shapes=tuple(v.sample for v in outs),
            ),
            outs,
        )


def _reads(args: Iterable[tuple[str, Any]]) -> set[str]:
    out: set[str] = set()
    for _, v in args:
        for item in v if isinstance(v, tuple) else (v,):
            if isinstance(item, Expr):
                out |= item.values()
    return out
