"""Block steps and groups: each instance of a custom block resolved (once per distinct call)
and read back in the caller's terms; a stage's count, its loop, and its output where the depth
is a parameter; a group's chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchscaffold.catalog.types import (
    BATCH,
    Dim,
    input_symbol,
)
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.shapes import scope, stage
from torchscaffold.shapes.resolved import REQUIRED_PARAM, Resolved, RInstance, RStep
from torchscaffold.shapes.values import Val
from torchscaffold.spec.expr import BinOp, Expr, Lit, Name, substitute, to_source
from torchscaffold.spec.ir import Block, Step
from torchscaffold.spec.loader import MAX_REPEAT

if TYPE_CHECKING:
    from torchscaffold.shapes.resolver import _ClassScope


class BlockSteps:
    """Mixed into the resolver's class scope (shapes.resolver._ClassScope)."""

    def _block(
        self: _ClassScope, step: Step, w: scope.Wired, ins: list[Val], where: str
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
            outs = [self._after(results, j, count_expr, count, where) for j in range(len(outs))]
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

    def _count(self: _ClassScope, step: Step, where: str) -> tuple[int, Expr]:
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
        self: _ClassScope,
        results: list[list[Val]],
        j: int,
        count: Expr,
        count_value: int,
        where: str,
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

    def _translate(
        self: _ClassScope, val: Val, res: Resolved, args: dict[str, Dim], ins: list[Val]
    ) -> Val:
        """A value of the callee in the caller's terms: its parameters, lets, input sizes and
        spatial placeholders replaced by what the caller gave."""
        # The class's batch is its inputs' leading size: the caller's batch, or the batch
        # times the windows it split its input into.
        mapping: dict[str, Expr] = {}
        batched = [v for v in ins if v.leading]
        if batched:
            mapping[BATCH] = batched[0].dims[0].expr
        block_inputs = res.cls.inputs
        for p, default in res.cls.signature:
            if p in args:
                mapping[p] = args[p].expr
            elif default is not REQUIRED_PARAM:
                mapping[p] = Lit(default)
        for auto, inp, axis in res.sizes:
            mapping[auto] = _input_dim(ins, block_inputs.index(inp), axis).expr
        for inp, axis, _ in res.placeholders:
            mapping[input_symbol(inp, axis)] = _input_dim(ins, block_inputs.index(inp), axis).expr
        for name, expr in res.lets:
            mapping[name] = substitute(expr, lambda leaf: _lookup(leaf, mapping))

        def leaf(e: Expr) -> Expr | None:
            return _lookup(e, mapping)

        dims = tuple(Dim(d.value, substitute(d.expr, leaf)) for d in val.dims)
        return Val(dims, val.dtype)

    def _instance(
        self: _ClassScope,
        block: Block,
        res: Resolved,
        args: dict[str, Dim],
        ins: list[Val],
        outs: list[Val],
        where: str,
    ) -> RInstance:
        positional = []
        for auto, inp, axis in res.cls.auto:
            dim = _input_dim(ins, res.cls.inputs.index(inp), axis)
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

    def _group(
        self: _ClassScope, step: Step, w: scope.Wired, ins: list[Val], where: str
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


def _lookup(leaf: Expr, mapping: dict[str, Expr]) -> Expr | None:
    if isinstance(leaf, Name) and leaf.name in mapping:
        return mapping[leaf.name]
    return None


def _input_dim(ins: list[Val], index: int, axis: int) -> Dim:
    """Axis ``axis`` of one sample of input ``index`` (of the whole value, where it has no
    batch)."""
    val = ins[index]
    return val.dims[axis + val.leading]
