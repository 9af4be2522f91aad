"""Shape inference over the IR, in pure Python: fills inferred arguments, checks what the user
wrote, counts parameters, and resolves the description into what the templates render.

A dimension carries its value and the Python expression that produces it in generated code, so a
block class can say ``nn.BatchNorm2d(channels)`` while each instance is checked with numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from torchscaffold.errors import TorchgenError
from torchscaffold.layers import CATALOG, REFERABLE_KINDS, LayerType, ShapeError, check_limits
from torchscaffold.names import snake_case
from torchscaffold.spec.ir import Block, BlockCall, Group, Layer, Model

# Attribute names the templates use for containers; no layer may take them.
RESERVED = frozenset({"layers", "body", "after", "shortcut"})


@dataclass(frozen=True)
class Dim:
    value: int
    expr: str  # Python source: a literal, a parameter name, or a product of those


Dims = tuple[Dim, ...]


@dataclass(frozen=True)
class RLayer:
    name: str
    type: LayerType
    args: tuple[str, ...]  # rendered constructor arguments: positional, then keyword=value
    # Per-instance numbers; left out of equality, which compares the code a block class renders.
    in_shape: tuple[int, ...] = field(compare=False)
    out_shape: tuple[int, ...] = field(compare=False)
    params: int = field(compare=False)
    values: tuple[tuple[str, Any], ...] = field(compare=False, default=())

    @property
    def functional(self) -> bool:
        """Whether the explicit style writes this parameter-free layer as a call in forward."""
        return self.type.functional is not None

    def call(self, var: str) -> str:
        """The functional call on ``var``, e.g. ``F.max_pool2d(x, kernel_size=2)``."""
        given = {a.split("=", 1)[0] for a in self.args}
        extra = [f"{k}={v}" for k, v in self.type.call_defaults if k not in given]
        if self.type.needs_training:
            extra.append("training=self.training")
        return f"{self.type.functional}({', '.join([var, *self.args, *extra])})"


@dataclass(frozen=True)
class RInstance:
    block: str
    args: tuple[str, ...]
    in_shape: tuple[int, ...] = field(compare=False)
    out_shape: tuple[int, ...] = field(compare=False)
    params: int = field(compare=False)


@dataclass(frozen=True)
class RRun:
    """Consecutive instances of one block: a stage when ``repeat > 1``."""

    name: str
    instances: tuple[RInstance, ...]

    @property
    def repeat(self) -> int:
        return len(self.instances)

    @property
    def loop_from(self) -> int:
        """Instances from this index on are constructed alike (the add_module loop)."""
        return 0 if self.instances[0].args == self.instances[-1].args else 1

    @property
    def params(self) -> int:
        return sum(i.params for i in self.instances)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.instances[-1].out_shape


Entry = RLayer | RRun


@dataclass(frozen=True)
class RGroup:
    name: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class RProjection:
    condition: str  # when the shortcut needs a projection, as a Python expression
    layers: tuple[tuple[str, tuple[str, ...]], ...]  # (nn class, rendered arguments)


@dataclass(frozen=True)
class RBlock:
    name: str
    doc: str
    in_param: str
    params: tuple[tuple[str, int], ...]
    entries: tuple[Entry, ...]
    after: tuple[RLayer, ...]
    residual: bool
    projection: RProjection | None
    norm: str | None  # name of the residual branch's last norm layer (zero-init target)
    in_rank: int
    out_feature: str  # the output's feature dimension as an expression of the parameters


@dataclass(frozen=True)
class SummaryRow:
    name: str
    type: str
    out_shape: tuple[int, ...]
    params: int


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    doc: str
    params: tuple[tuple[str, int], ...]
    input_shape: tuple[int, ...]
    integer_input: int | None  # vocabulary size when the input is integer ids
    output_shape: tuple[int, ...]
    entries: tuple[Entry | RGroup, ...]
    blocks: tuple[RBlock, ...]  # dependencies first
    total_params: int
    rows: tuple[SummaryRow, ...]

    def flat(self) -> list[tuple[str, Entry]]:
        return _flatten(self.entries)


def _flatten(entries: tuple[Entry | RGroup, ...] | list[Entry | RGroup]) -> list[tuple[str, Entry]]:
    """Top-level entries with groups flattened into ``group_name`` names (the flat styles)."""
    out: list[tuple[str, Entry]] = []
    for e in entries:
        if isinstance(e, RGroup):
            out += [(f"{e.name}_{sub.name}", sub) for sub in e.entries]
        else:
            out.append((e.name, e))
    return out


def resolve(model: Model) -> ResolvedModel:
    """Infer every shape of ``model`` (after spec.options.finalize) and resolve it."""
    return _Resolver(model).model()


# ------------------------------------------------------------------------------------- internals
def _literal(value: Any) -> str:
    return repr(tuple(value) if isinstance(value, list) else value)


def _product(dims: Dims) -> str:
    literal = math.prod(d.value for d in dims if d.expr == str(d.value))
    symbols = [d.expr for d in dims if d.expr != str(d.value)]
    if not symbols:
        return str(literal)
    return " * ".join(symbols + ([str(literal)] if literal != 1 else []))


def _shape(dims: Dims) -> tuple[int, ...]:
    return tuple(d.value for d in dims)


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def _scope_names(nodes: tuple[Layer | BlockCall, ...], where: str) -> list[str]:
    """Attribute names in one scope: the user's, else conv1, conv2, bn1, ... (bare if single)."""

    def base(node: Layer | BlockCall) -> str:
        return CATALOG[node.type].base_name if isinstance(node, Layer) else snake_case(node.block)

    counts = Counter(base(n) for n in nodes if n.name is None)
    seen: Counter[str] = Counter()
    result = []
    for node in nodes:
        if node.name is not None:
            result.append(node.name)
            continue
        b = base(node)
        seen[b] += 1
        result.append(f"{b}{seen[b]}" if counts[b] > 1 else b)
    for name, n in Counter(result).items():
        if n > 1:
            raise TorchgenError(f"{where}: the name {name!r} is used twice; give the layers names")
        if name in RESERVED:
            raise TorchgenError(f"{where}: {name!r} is reserved for containers; rename the layer")
    return result


class _Resolver:
    def __init__(self, model: Model) -> None:
        self.m = model
        self.blocks: dict[str, RBlock] = {}
        self.order: list[str] = []
        self.visiting: list[str] = []
        # (block, arguments, input dims) -> the instance: each distinct call is resolved once,
        # so nested blocks cost the size of the description, not 2 ** depth.
        self.resolved: dict[tuple[Any, ...], tuple[RInstance, Dims]] = {}

    # -------------------------------------------------------------------------------- model
    def model(self) -> ResolvedModel:
        m = self.m
        bindings = {p: Dim(v, p) for p, v in m.params}
        dims = tuple(
            Dim(v, m.input_param if i == 0 and m.input_param else str(v))
            for i, v in enumerate(m.input_shape)
        )
        integer_input = None
        entries: list[Entry | RGroup] = []
        rows: list[SummaryRow] = []
        top = [n for n in m.body if not isinstance(n, Group)]
        top_names = iter(_scope_names(tuple(top), "the model"))
        group_names = {n.name for n in m.body if isinstance(n, Group)}
        first = True
        for node in m.body:
            if isinstance(node, Group):
                sub, dims = self.scope(node.body, dims, bindings, f"group {node.name!r}", first)
                entries.append(RGroup(node.name, tuple(sub)))
                rows += [self.row(f"{node.name}.{e.name}", e) for e in sub]
            else:
                name = next(top_names)
                if name in group_names:
                    raise TorchgenError(f"the model: {name!r} names both a group and a layer")
                (entry,), dims = self.entries((node,), (name,), dims, bindings, "the model", first)
                entries.append(entry)
                rows.append(self.row(name, entry))
            if first:
                integer_input = self.integer_input(node)
            first = False
        flat = [n for n, _ in _flatten(entries)]
        for name, n in Counter(flat).items():
            if n > 1:
                raise TorchgenError(f"the model: {name!r} is used twice once groups are flattened")
        return ResolvedModel(
            name=m.name,
            doc=m.doc,
            params=m.params,
            input_shape=m.input_shape,
            integer_input=integer_input,
            output_shape=_shape(dims),
            entries=tuple(entries),
            blocks=tuple(self.blocks[b] for b in self.order),
            total_params=sum(r.params for r in rows),
            rows=tuple(rows),
        )

    def integer_input(self, node: Any) -> int | None:
        node = self.m.leading_layer(node)
        if CATALOG[node.type].integer_input:
            return dict(node.args)["num_embeddings"]
        return None

    @staticmethod
    def row(name: str, e: Entry) -> SummaryRow:
        if isinstance(e, RLayer):
            return SummaryRow(name, e.type.name, e.out_shape, e.params)
        block = e.instances[0].block
        return SummaryRow(
            name, f"{block} x{e.repeat}" if e.repeat > 1 else block, e.out_shape, e.params
        )

    def scope(self, nodes, dims, bindings, where, first=False):
        names = _scope_names(nodes, where)
        return self.entries(nodes, tuple(names), dims, bindings, where, first)

    def entries(
        self, nodes, names, dims: Dims, bindings: dict[str, Dim], where: str, first: bool = False
    ) -> tuple[list[Entry], Dims]:
        out: list[Entry] = []
        for i, (node, name) in enumerate(zip(nodes, names)):
            if isinstance(node, Layer):
                layer, dims = self.layer(node, name, dims, bindings, where, first and i == 0)
                out.append(layer)
            else:
                run, dims = self.run(node, name, dims, bindings, where)
                out.append(run)
        return out, dims

    # -------------------------------------------------------------------------------- layers
    def layer(
        self, node: Layer, name: str, dims: Dims, bindings: dict[str, Dim], where: str, first: bool
    ) -> tuple[RLayer, Dims]:
        t = CATALOG[node.type]
        label = f"{where}, layer {name!r} ({t.name})"
        if t.integer_input and not first:
            raise TorchgenError(f"{label}: Embedding takes integer ids, so it must come first")
        if len(dims) not in t.ranks:
            raise TorchgenError(
                f"{label}: expects an input of rank {' or '.join(map(str, t.ranks))} per sample, "
                f"got {_fmt(_shape(dims))}"
            )
        given = dict(node.args)
        values: dict[str, Dim] = {}
        for arg in t.args:
            if arg.name in given:
                v = given[arg.name]
                if (
                    isinstance(v, str)
                    and arg.kind in REFERABLE_KINDS
                    and v not in ("same", "valid")
                ):
                    if v not in bindings:
                        raise TorchgenError(f"{label}: {arg.name} = {v!r} is not a parameter here")
                    values[arg.name] = bindings[v]
                else:
                    values[arg.name] = Dim(v, _literal(v))  # type: ignore[arg-type]
        if t.inferred:
            source = dims[t.in_dim] if t.inferred != "normalized_shape" else dims[-1]
            if t.inferred in values:
                if values[t.inferred].value != source.value:
                    raise TorchgenError(
                        f"{label}: {t.inferred}={values[t.inferred].value} does not match its "
                        f"input {_fmt(_shape(dims))}; expected {source.value}"
                    )
            else:
                values[t.inferred] = source
        plain = {a.name: values[a.name].value if a.name in values else a.default for a in t.args}
        try:
            out_values = t.out_shape(_shape(dims), plain)
        except ShapeError as exc:
            raise TorchgenError(f"{label}: {exc} (input {_fmt(_shape(dims))})") from None
        except (OverflowError, MemoryError):  # absurd sizes that the rule's arithmetic refuses
            raise TorchgenError(f"{label}: its sizes are too large to build") from None
        too_large = check_limits(plain, out_values, t.params(plain))
        if too_large:
            raise TorchgenError(f"{label}: {too_large}")
        if t.name == "Flatten":
            full = (Dim(1, "1"), *dims)
            s, e = plain["start_dim"] % len(full), plain["end_dim"] % len(full)
            out = (*full[1:s], Dim(out_values[s - 1], _product(full[s : e + 1])), *full[e + 1 :])
        elif len(out_values) == len(dims):
            out = tuple(d if d.value == v else Dim(v, str(v)) for d, v in zip(dims, out_values))
        else:
            out = (*dims, Dim(out_values[-1], str(out_values[-1])))
        if t.out_arg:
            idx = t.out_dim % len(out)
            out = (*out[:idx], values[t.out_arg], *out[idx + 1 :])
        rendered = []
        for arg in t.args:
            if arg.required:
                expr = values[arg.name].expr
                rendered.append(f"{arg.name}={expr}" if arg.keyword else expr)
            elif arg.name in values and (
                arg.always
                or values[arg.name].value != arg.default
                or values[arg.name].expr != _literal(values[arg.name].value)  # a parameter
            ):
                rendered.append(f"{arg.name}={values[arg.name].expr}")
            elif arg.always:
                rendered.append(f"{arg.name}={_literal(arg.default)}")
        layer = RLayer(
            name,
            t,
            tuple(rendered),
            _shape(dims),
            out_values,
            t.params(plain),
            tuple(plain.items()),
        )
        return layer, out

    # -------------------------------------------------------------------------------- blocks
    def run(
        self, call: BlockCall, name: str, dims: Dims, bindings: dict[str, Dim], where: str
    ) -> tuple[RRun, Dims]:
        block = self.m.block(call.block)
        declared = dict(block.params)
        instances = []
        for i in range(call.repeat):
            given = dict(call.args)
            if i == 0:
                given.update(call.first)
            for key in given:
                if key not in declared:
                    raise TorchgenError(
                        f"{where}, {name!r}: block {block.name} has no parameter {key!r}; "
                        f"it takes {', '.join(declared) or 'none'}"
                    )
            call_values = {
                k: bindings[v] if isinstance(v, str) else Dim(v, str(v)) for k, v in given.items()
            }
            instance, dims = self.instance(block, call_values, dims, f"{where}, {name!r}[{i}]")
            instances.append(instance)
        return RRun(name, tuple(instances)), dims

    def instance(
        self, block: Block, given: dict[str, Dim], dims: Dims, where: str
    ) -> tuple[RInstance, Dims]:
        if block.name in self.visiting:
            raise TorchgenError(f"block {block.name} contains itself")
        key = (block.name, tuple(sorted(given.items())), dims)
        if key not in self.resolved:
            self.resolved[key] = self._instance(block, given, dims, where)
        return self.resolved[key]

    def _instance(
        self, block: Block, given: dict[str, Dim], dims: Dims, where: str
    ) -> tuple[RInstance, Dims]:
        in_param = self.in_param(block)
        values = {p: given.get(p, Dim(v, str(v))) for p, v in block.params}
        feature = self.feature_index(block, len(dims))
        # Symbolic pass: what the class's code says, with parameter names for expressions.
        symbolic = {p: Dim(d.value, p) for p, d in values.items()}
        sym_dims = tuple(
            Dim(d.value, in_param if i == feature else str(d.value)) for i, d in enumerate(dims)
        )
        self.visiting.append(block.name)
        try:
            resolved, params, _ = self.block_body(block, sym_dims, symbolic, where)
            # Call-site pass: the same body with the caller's expressions, for the output dims.
            _, _, out = self.block_body(block, dims, values, where)
        finally:
            self.visiting.pop()
        if block.name in self.blocks:
            if self.blocks[block.name] != resolved:
                raise TorchgenError(
                    f"block {block.name}: its layers come out differently for different inputs "
                    f"(a size inferred from the spatial shape?); give those sizes explicitly"
                )
        else:
            self.blocks[block.name] = resolved
            self.order.append(block.name)
        args = [dims[feature].expr] + [
            f"{k}={given[k].expr}" for k, _ in block.params if k in given
        ]
        return RInstance(block.name, tuple(args), _shape(dims), _shape(out), params), out

    def in_param(self, block: Block) -> str:
        first = CATALOG[self.m.leading_layer(block.body[0]).type]
        return "in_features" if first.in_dim == -1 else "in_channels"

    def feature_index(self, block: Block, rank: int) -> int:
        return CATALOG[self.m.leading_layer(block.body[0]).type].in_dim % rank

    def block_body(
        self, block: Block, dims: Dims, bindings: dict[str, Dim], where: str
    ) -> tuple[RBlock, int, Dims]:
        where = f"{where} (block {block.name})"
        names = _scope_names((*block.body, *block.after), where)
        body_names, after_names = names[: len(block.body)], names[len(block.body) :]
        entries, out = self.entries(block.body, tuple(body_names), dims, bindings, where)
        params = sum(e.params for e in entries)
        projection = None
        norm = None
        if block.residual:
            projection, extra = self.shortcut(block, entries, dims, out, where)
            params += extra
            norms = [e.name for e in entries if isinstance(e, RLayer) and "Norm" in e.type.name]
            norm = norms[-1] if norms else None
        after, out = self.entries(block.after, tuple(after_names), out, bindings, where)
        params += sum(e.params for e in after)
        resolved = RBlock(
            name=block.name,
            doc=block.doc,
            in_param=self.in_param(block),
            params=block.params,
            entries=tuple(entries),
            after=tuple(after),  # type: ignore[arg-type]
            residual=block.residual,
            projection=projection,
            norm=norm,
            in_rank=len(dims),
            out_feature=out[self.feature_index(block, len(out))].expr,
        )
        return resolved, params, out

    def shortcut(
        self, block: Block, entries: list[Entry], dims: Dims, out: Dims, where: str
    ) -> tuple[RProjection | None, int]:
        """The projection shortcut (torchvision's ``downsample``): a strided 1x1 convolution and
        the body's norm, or a linear layer, used where the body changes the shape."""
        if len(dims) != len(out):
            raise TorchgenError(
                f"{where}: the residual body maps {_fmt(_shape(dims))} to {_fmt(_shape(out))}; "
                "a shortcut needs both of the same rank"
            )
        if _shape(dims) == _shape(out) and not block.projection:
            return None, 0
        layers = [e for e in entries if isinstance(e, RLayer)]
        convs = [
            e for e in layers if e.type.name.startswith("Conv") and "Transpose" not in e.type.name
        ]
        feature = self.feature_index(block, len(dims))
        in_expr, out_expr = dims[feature].expr, out[feature].expr
        if not block.projection or not (convs or any(e.type.name == "Linear" for e in layers)):
            if _shape(dims) != _shape(out):
                raise TorchgenError(
                    f"{where}: the residual body maps {_fmt(_shape(dims))} to "
                    f"{_fmt(_shape(out))}, and the shortcut cannot project (projection = false "
                    "or no conv/linear layer)"
                )
            return None, 0
        if convs:
            strides = [d for e in convs for d in self.stride_exprs(e)]
            if len(set(strides)) > 1:
                raise TorchgenError(f"{where}: a residual body may downsample in one layer only")
            stride = strides[0] if strides else "1"
            n = len(dims) - 1
            conv_args = [in_expr, out_expr, "kernel_size=1"]
            if stride != "1":
                conv_args.append(f"stride={stride}")
            conv_args.append("bias=False")
            proj = [(f"Conv{n}d", tuple(conv_args))]
            norm = next((e.type.name for e in layers if e.type.name.startswith("BatchNorm")), None)
            if norm:
                proj.append((norm, (out_expr,)))
            s = self.stride_value(convs)
            expected = (out[0].value, *(-(-d.value // s) for d in dims[1:]))
            needed = s != 1 or dims[0].value != out[0].value
            params = (
                (dims[0].value * out[0].value + (2 * out[0].value if norm else 0)) if needed else 0
            )
            conditions = ([f"{stride} != 1"] if stride != "1" else []) + (
                [f"{in_expr} != {out_expr}"] if in_expr != out_expr else []
            )
        else:
            # A linear projection maps the last dimension, whichever the block's first layer
            # reads its size from.
            in_expr, out_expr = dims[-1].expr, out[-1].expr
            proj = [("Linear", (in_expr, out_expr))]
            expected = (*_shape(dims)[:-1], out[-1].value)
            needed = dims[-1].value != out[-1].value
            params = (dims[-1].value + 1) * out[-1].value if needed else 0
            conditions = [f"{in_expr} != {out_expr}"] if in_expr != out_expr else []
        if _shape(out) != (expected if needed else _shape(dims)):
            raise TorchgenError(
                f"{where}: the residual body maps {_fmt(_shape(dims))} to {_fmt(_shape(out))}, "
                "which a strided 1x1 projection cannot match (check padding)"
            )
        if not conditions:
            return None, 0
        return RProjection(" or ".join(conditions), tuple(proj)), params

    @staticmethod
    def stride_exprs(layer: RLayer) -> list[str]:
        return [a.split("=", 1)[1] for a in layer.args if a.startswith("stride=")]

    @staticmethod
    def stride_value(convs: list[RLayer]) -> int:
        strides = [dict(c.values)["stride"] for c in convs]
        return max((s if isinstance(s, int) else max(s) for s in strides), default=1)
