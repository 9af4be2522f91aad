"""One traced instance as a draft of its class: the steps of its forward, with literal arguments.

A module call becomes a layer step (a catalog layer, its arguments read from the instance) or a
block step (another of the user's classes, resolved once every instance of that class is lifted);
calls inside an ``nn.Sequential`` gather into a group of the same name, so the nested style keeps
the original's ``state_dict`` keys. A function or method call becomes an op; a size read at run
time (``B, T, C = x.size()``) becomes an expression of the value it was read from; an
``nn.Parameter`` or buffer the forward reads becomes a tensor of the class.
"""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from torchscaffold import catalog, names
from torchscaffold.eject import ops
from torchscaffold.eject.layers import layer_args
from torchscaffold.eject.trace import UNKNOWN, Traced, catalog_layer, is_user_class
from torchscaffold.eject.trace import where as node_where
from torchscaffold.errors import TorchgenError
from torchscaffold.spec.expr import BinOp, Expr, Lit, Size
from torchscaffold.spec.ir import Step, Tensor

if TYPE_CHECKING:
    from torch import fx, nn

# Calls that only check (torch._assert) and leave nothing to compute.
CHECKS = ("_assert", "_assert_is_none")
# Tensor methods that only cast: where one returns its tensor itself, it is left out.
CASTS = ("to", "type_as", "float")
# A block step's target until its class is known: this prefix and the instance's path.
CHILD = "@"
ARITHMETIC = {
    operator.add: "+",
    operator.sub: "-",
    operator.mul: "*",
    operator.floordiv: "//",
    operator.mod: "%",
}


@dataclass
class Draft:
    """One instance's class, before the instances of its class are merged."""

    module: nn.Module
    path: str  # its qualified name in the model ('' for the model)
    inputs: tuple[str, ...]
    steps: list[Step]
    outputs: tuple[str, ...] | None
    tensors: list[Tensor] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # calls left out (identities in eval)
    fixed: list[str] = field(default_factory=list)  # what holds the sizes traced (Traced.fixed)
    ties: list[tuple[str, str]] = field(default_factory=list)  # a layer called twice
    # The positions of the tensors it is given and never reads (SelecSLS's first block of a
    # stage, given the pair [x, skip], reads x only): not inputs of the class.
    unread: tuple[int, ...] = ()

    @property
    def selects(self) -> tuple[int, ...] | None:
        """A forward that computes nothing and returns some of its inputs as they are (a
        StochasticDepth in eval; timm's SelectSeq, ``x[self.index]`` of a list): where each
        output is among the inputs. None for any other forward."""
        if self.steps or self.tensors or not self.inputs:
            return None
        outputs = self.inputs if self.outputs is None else self.outputs
        if self.outputs is None and len(self.inputs) != 1 or not set(outputs) <= set(self.inputs):
            return None
        return tuple(self.inputs.index(o) for o in outputs)

    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # its inputs', here

    @property
    def identity(self) -> bool:
        """A forward that returns its input as it is (a StochasticDepth in eval), given no
        other."""
        return len(self.inputs) == 1 and not self.unread and self.selects == (0,)


def lift(
    traced: Traced, module: nn.Module, path: str, label: str, layers: dict[str, tuple]
) -> Draft:
    """``layers``: the user's instances that are catalog layers in disguise (by path)."""
    return _Lifter(traced, module, path, label, layers).run()


def as_layer(traced: Traced, module: nn.Module) -> tuple[str, tuple] | None:
    """A class whose forward is one functional call on its own weight and bias (nanoGPT's
    LayerNorm with an optional bias): that catalog layer, with the same tensors."""
    import torch.nn.functional as F

    calls = [n for n in traced.graph.nodes if n.op in ("call_function", "call_method")]
    calls = [n for n in calls if not (n.op == "call_function" and n.target is getattr)]
    if len(calls) != 1 or calls[0].target is not F.layer_norm:
        return None
    node = calls[0]
    names = ("input", "normalized_shape", "weight", "bias", "eps")
    bound = dict(zip(names, node.args)) | dict(node.kwargs)
    weight, bias = bound.get("weight"), bound.get("bias")
    if (
        getattr(weight, "target", None) != "weight"
        or bias not in (None,)
        and getattr(bias, "target", None) != "bias"
    ):
        return None
    if len(traced.values.get(weight).shape) != 1:
        return None
    args: tuple = ()
    if bound.get("eps", 1e-5) != 1e-5:
        args += (("eps", bound["eps"]),)
    if bias is None:
        args += (("bias", False),)
    return "LayerNorm", args


def inherited_layer(module: nn.Module) -> str | None:
    """The catalog layer a user's class subclasses (BatchNorm2d for timm's BatchNormAct2d)."""
    for cls in type(module).__mro__[1:]:
        if cls.__module__.startswith("torch.nn.") and cls.__name__ in catalog.LAYERS:
            return cls.__name__
    return None


def _functional_of(layer: str) -> Any:
    import torch.nn.functional as F

    for prefix, function in (
        ("BatchNorm", F.batch_norm),
        ("LayerNorm", F.layer_norm),
        ("GroupNorm", F.group_norm),
        ("Linear", F.linear),
        ("Conv1d", F.conv1d),
        ("Conv2d", F.conv2d),
        ("Conv3d", F.conv3d),
    ):
        if layer.startswith(prefix):
            return function
    return None


def _kind_of(value: Any) -> str:
    count = (
        f"{len(value)} value{'' if len(value) == 1 else 's'}" if hasattr(value, "__len__") else ""
    )
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__.removeprefix('immutable_')} of {count}"
    if isinstance(value, dict):
        return f"a dict of {count}"
    return f"{type(value).__name__} {value!r}"


class _Lifter:
    def __init__(
        self, traced: Traced, module: nn.Module, path: str, label: str, layers: dict[str, tuple]
    ) -> None:
        self.layers = layers
        self.graph = traced.graph
        self.values = traced.values
        self.module = module
        self.path = path
        self.label = label
        self.names: dict[fx.Node, str] = {}  # value names
        # A value that is several tensors (a tuple a call returns): each item's name.
        self.items: dict[fx.Node, tuple[str, ...]] = {}
        self.taken = {node.name for node in self.graph.nodes}
        self.rows: list[tuple[tuple[str, ...], Step, fx.Node]] = []  # (groups, step, last node)
        self.tensors: list[Tensor] = []
        self.called: dict[str, int] = {}
        self.ties: list[tuple[str, str]] = []
        self.owned: dict[str, str] = {}  # tensor read -> its buffer's name (_own)
        self.passed: list[str] = []  # calls left out: what they return in eval is their input
        self.fixed = list(traced.fixed)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.borrowed: set[str] = set()  # submodules whose tensors became the class's (_borrow)
        # A subclass of a catalog layer (timm's BatchNormAct2d is an nn.BatchNorm2d): that
        # layer, and the tensors it owns, which its forward reads through the functional.
        self.base = inherited_layer(module) if path and _through_base(traced, module) else None
        self.inherited = _held(module) if self.base else set()

    def fail(self, node: fx.Node, why: str) -> TorchgenError:
        at = node_where(node)
        return TorchgenError(
            f"cannot lift {self.label}: node {node.name!r}{f' ({at})' if at else ''}: {why}; "
            "nothing was written"
        )

    def run(self) -> Draft:
        import torch

        self._prune()
        inputs: list[str] = []
        unread: list[int] = []
        outputs: tuple[str, ...] | None = None
        given = [
            n for n in self.graph.nodes
            if n.op == "placeholder" and isinstance(self.values.get(n), torch.Tensor)
        ]  # fmt: skip
        for node in self.graph.nodes:
            if node.op == "placeholder":
                if node not in given:
                    continue
                if self.path and not node.users and any(n.users for n in given):
                    unread.append(given.index(node))
                else:
                    self.names[node] = node.name
                    inputs.append(node.name)
                    self.shapes[node.name] = tuple(self.values[node].shape)
            elif node.op == "get_attr":
                if str(node.target) not in self.inherited:
                    self._tensor(node)
            elif node.op == "output":
                outputs = self._outputs(node)
            elif self._is_size(node) or self._is_piece(node):
                continue
            elif node.op == "call_module":
                self._module_call(node)
            else:
                self._op(node)
        steps = self._fold()
        # Declared as the original registered them (parameters, then buffers), not as the
        # forward reads them: the state_dict lists them in that order, and --weights
        # converts by order (CaiT reads pos_embed before cls_token, made the other way round).
        own = [n for n, _ in self.module.named_parameters(recurse=False)]
        own += [n for n, _ in self.module.named_buffers(recurse=False)]
        self.tensors.sort(key=lambda t: own.index(t.name) if t.name in own else len(own))
        last = self.rows[-1][2] if self.rows else None
        if outputs is not None and last is not None and outputs == (self.names.get(last),):
            outputs = None
        return Draft(
            self.module,
            self.path,
            tuple(inputs),
            steps,
            outputs,
            self.tensors,
            self.passed,
            self.fixed,
            self.ties,
            tuple(unread),
            self.shapes,
        )

    # -- the graph ------------------------------------------------------------------------------
    def _prune(self) -> None:
        """Drop checks (torch._assert) and what only they read."""
        for node in list(self.graph.nodes):
            if node.op == "call_function" and getattr(node.target, "__name__", "") in CHECKS:
                self.graph.erase_node(node)
        changed = True
        while changed:
            changed = False
            for node in reversed(list(self.graph.nodes)):
                if node.op in ("placeholder", "output") or node.users:
                    continue
                if node.op == "call_module" and self._has_state(node):
                    continue
                self.graph.erase_node(node)
                changed = True

    def _has_state(self, node: fx.Node) -> bool:
        sub = self.module.get_submodule(node.target)
        return any(True for _ in sub.parameters()) or any(True for _ in sub.buffers())

    def _is_tensor(self, value: Any) -> bool:
        import torch

        if hasattr(value, "op"):  # a node
            return isinstance(self.values.get(value), torch.Tensor)
        return isinstance(value, torch.Tensor)

    def _is_size(self, node: fx.Node) -> bool:
        from torchscaffold.eject.trace import shape_only

        value = self.values.get(node, UNKNOWN)
        return value is not UNKNOWN and not self._is_tensor(node) and shape_only(node, self.values)

    def _is_piece(self, node: fx.Node) -> bool:
        """``out[0]`` (or ``out[1:]``) of a call that returns several tensors: named by that
        call's outputs."""
        if not (
            hasattr(node, "op") and node.op == "call_function" and node.target is operator.getitem
        ):
            return False
        source = node.args[0]
        return isinstance(self.values.get(source), (tuple, list))

    def _is_several(self, node: Any) -> bool:
        """A node whose value is a tuple or list (what a block returns, a slice of it)."""
        return hasattr(node, "op") and isinstance(self.values.get(node), (tuple, list))

    # -- values ---------------------------------------------------------------------------------
    def ref(self, node: Any, user: fx.Node) -> str:
        if not hasattr(node, "op"):  # DenseNet's layer(features): a list, a tuple, a number
            raise self.fail(
                user,
                f"it passes {_kind_of(node)} where torchgen passes tensors, one value each",
            )
        if self._is_piece(node):
            self._pieces(node.args[0], user)
        if self._is_several(node) and node not in self.names:
            raise self.fail(
                user,
                f"it passes {node.name!r}, {_kind_of(self.values[node])}, where torchgen "
                "passes tensors, one value each",
            )
        if node not in self.names:
            raise self.fail(user, f"it reads {node.name!r}, which is not a tensor torchgen follows")
        return self.names[node]

    def refs(self, value: Any, user: fx.Node) -> tuple[str, ...]:
        """The tensors ``value`` holds, one name each: a tensor; a list or tuple of them
        (DenseNet's ``layer(features)``); a tuple a block returned, passed on whole (PiT's
        ``x = module(x)`` over ``(x, cls_tokens)``)."""
        if isinstance(value, (list, tuple)):
            return tuple(name for item in value for name in self.refs(item, user))
        if self._is_several(value) and value not in self.names:
            return self._pieces(value, user)
        return (self.ref(value, user),)

    def _pieces(self, source: fx.Node, user: fx.Node) -> tuple[str, ...]:
        """The names of the items of ``source``, a tuple of tensors, after the call that made
        it (``pool_0, pool_1``: fx's ``getitem_7`` says nothing); ``_`` for one never read,
        neither by ``source[i]`` nor with the whole tuple. A slice is its source's items."""
        if source in self.items:
            return self.items[source]
        value = self.values[source]
        if self._is_piece(source):
            parent, index = source.args
            if not isinstance(index, slice):  # a tuple inside a tuple
                raise self.fail(user, f"it reads {source.name!r}, a tuple held in a tuple")
            found = self._pieces(parent, user)[index]
        else:
            positions = range(len(value))
            read = {
                i
                for u in source.users
                if self._is_piece(u)
                for i in (positions[u.args[1]] if isinstance(u.args[1], slice) else [u.args[1]])
            }
            read = {i % len(value) for i in read}
            whole = any(not self._is_piece(u) for u in source.users)
            found = tuple(
                self._fresh(f"{source.name}_{i}") if whole or i in read else "_"
                for i in range(len(value))
            )
        self.items[source] = found
        for u in source.users:
            if self._is_piece(u) and isinstance(u.args[1], int):
                self.names[u] = found[u.args[1] % len(value)]
        return found

    def _fresh(self, name: str) -> str:
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name

    def size_of(self, value: Any, user: fx.Node) -> Any:
        """A literal, or an expression of run-time sizes, for an argument."""
        if isinstance(value, (tuple, list)):
            return tuple(self.size_of(v, user) for v in value)
        if not hasattr(value, "op"):
            if isinstance(value, (int, float, bool, str)) or value is None:
                return value
            raise self.fail(user, f"an argument {value!r} torchgen cannot write")
        several = self._shape_read(value)
        if several is not None:  # x.shape[-2:]: one size each
            tensor, dims = several
            exprs = (self._size(tensor, d, user) for d in dims)
            return tuple(e.value if isinstance(e, Lit) else e for e in exprs)
        expr = self._expr(value, user)
        return expr.value if isinstance(expr, Lit) else expr

    def _shape_read(self, node: fx.Node) -> tuple[fx.Node, range] | None:
        """``x.shape``, ``x.size()`` or a slice of either: the tensor and the dims read."""
        dims: slice = slice(None)
        if node.op == "call_function" and node.target is operator.getitem:
            node, dims = node.args
            if not isinstance(dims, slice) or not hasattr(node, "op"):
                return None
        reads = (node.op == "call_method" and node.target == "size" and len(node.args) == 1) or (
            node.op == "call_function" and node.target is getattr and node.args[1] == "shape"
        )
        if not reads or not self._is_tensor(node.args[0]):
            return None
        tensor = node.args[0]
        return tensor, range(self.values[tensor].dim())[dims]

    def _expr(self, node: fx.Node, user: fx.Node) -> Expr:
        import torch

        if not hasattr(node, "op"):
            if isinstance(node, int):
                return Lit(node)
            raise self.fail(user, f"a size {node!r} torchgen cannot write")
        target, args = node.target, node.args
        if node.op == "call_method" and target == "size" and len(args) == 2:
            return self._size(args[0], args[1], user)
        if node.op == "call_function" and target is operator.getitem:
            owner = args[0]
            reads = (
                owner.op == "call_method" and owner.target == "size" and len(owner.args) == 1
            ) or (
                owner.op == "call_function" and owner.target is getattr and owner.args[1] == "shape"
            )
            if reads and isinstance(args[1], int):
                return self._size(owner.args[0], args[1], user)
        if node.op == "call_function" and target in ARITHMETIC:
            left, right = (self._expr(a, user) for a in args)
            return BinOp(ARITHMETIC[target], left, right)
        value = self.values.get(node)
        if isinstance(value, int) and not isinstance(value, torch.Tensor):
            return Lit(value)
        if isinstance(value, float) and not self._reads_batch(node):
            # A number computed from sizes (swin's ``(C // num_heads) ** -0.5``): the
            # description's sizes are integers, so the number is written as the trace saw it.
            self.fixed.append(f"{value:.6g} ({node_where(node)})")
            return Lit(value)
        raise self.fail(user, "a size computed in a way torchgen cannot write")

    def _reads_batch(self, node: fx.Node) -> bool:
        """Whether a number computed from sizes reads a leading dim (the batch) anywhere."""
        seen: set[fx.Node] = set()
        todo = [node]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            if n.op == "call_method" and n.target == "size" and len(n.args) == 2:
                if self._leading(n.args[0], n.args[1]):
                    return True
            elif n.op == "call_function" and n.target is operator.getitem:
                owner = n.args[0]
                read = self._shape_read(owner) if hasattr(owner, "op") else None
                if read is not None and self._leading(read[0], n.args[1]):
                    return True
            todo += n.all_input_nodes
        return False

    def _leading(self, tensor: fx.Node, dim: Any) -> bool:
        value = self.values.get(tensor)
        rank = value.dim() if hasattr(value, "dim") else 0
        return isinstance(dim, int) and rank > 0 and dim % rank == 0

    def _size(self, tensor: fx.Node, dim: int, user: fx.Node) -> Expr:
        value = self.values.get(tensor)
        if dim < 0:
            dim += value.dim()
        if dim == 0 or tensor.op == "placeholder" or tensor.op != "get_attr":
            return Size(dim, self.ref(tensor, user))
        return Lit(value.shape[dim])

    # -- steps ----------------------------------------------------------------------------------
    def _add(self, step: Step, node: fx.Node, groups: tuple[str, ...] = ()) -> None:
        self.names[node] = node.name
        self.rows.append((groups, replace(step, outputs=(node.name,)), node))

    def _module_call(self, node: fx.Node) -> None:
        sub = self.module.get_submodule(node.target)
        user = is_user_class(sub)
        inputs = self._block_inputs(node) if user else tuple(self.ref(a, node) for a in node.args)
        if user:
            inputs += self._keyword_inputs(sub, node)
            call: tuple = ()
        else:
            call = tuple((k, self.size_of(v, node)) for k, v in node.kwargs.items())
        groups, name = self._groups(str(node.target))
        count = self.called.get(str(node.target), 0)
        self.called[str(node.target)] = count + 1
        if count:
            name = f"{name}_{count}"
            if self._has_state(node):
                self._again(node, sub, name, bool(groups or user))
        full = f"{self.path}.{node.target}" if self.path else str(node.target)
        layer = catalog_layer(sub)
        if full in self.layers:
            layer, args = self.layers[full]
            step = Step("layer", layer, args=args, name=name, inputs=inputs, call=call)
        elif layer is not None:
            args = layer_args(sub, layer)
            if isinstance(args, str):
                raise self.fail(node, f"{type(sub).__name__} {node.target!r}: {args}")
            step = Step("layer", layer, args=args, name=name, inputs=inputs, call=call)
            outputs = self._multi(node)
            if outputs is not None:
                step = replace(step, outputs=outputs)
                self.rows.append((groups, step, node))
                return
        elif user:
            # The instance it calls, until the classes are merged (eject.classes); a block
            # that returns a tuple (PiT's ``x, cls_tokens = self.pool(x, cls_tokens)``) has
            # one output per item, named by the reads of its items (``_`` where none).
            step = Step("block", CHILD + full, name=name, inputs=inputs)
            outputs = self._multi(node)
            if outputs is not None:
                self.rows.append((groups, replace(step, outputs=outputs), node))
                return
        else:
            kind = f"{type(sub).__module__}.{type(sub).__qualname__}"
            raise self.fail(
                node, f"the module {node.target!r} ({kind}) is not in torchgen's catalog"
            )
        self._add(step, node, groups)

    def _again(self, node: fx.Node, sub: nn.Module, name: str, nested: bool) -> None:
        """A layer with weights called again: a layer of its own whose tensors are the
        first's (``self.fc_1.weight = self.fc.weight``), so both calls compute with one set
        of weights and its state_dict lists them under both names, as a tie."""
        if nested:
            raise self.fail(
                node,
                f"the module {node.target!r} with weights is called twice (torchgen ties a "
                "layer's tensors, not a block's or a Sequential member's)",
            )
        for key, _ in (*sub.named_parameters(), *sub.named_buffers()):
            self.ties.append((f"{name}.{key}", f"{node.target}.{key}"))

    def _inherited_call(self, node: fx.Node) -> bool:
        """The functional of the layer the class inherits from, on the tensors it inherits
        (``F.batch_norm(x, self.running_mean, ...)``): that layer, as a step of the class."""
        if self.base is None or node.op != "call_function":
            return False
        if node.target is not _functional_of(self.base):
            return False
        owned = [a for a in (*node.args[1:], *node.kwargs.values()) if hasattr(a, "op")]
        if not owned or any(
            a.op != "get_attr" or str(a.target) not in self.inherited for a in owned
        ):
            return False
        args = layer_args(self.module, self.base)
        if isinstance(args, str):
            raise self.fail(node, f"{self.base} {args}")
        name = catalog.layer(self.base).base_name
        while hasattr(self.module, name):
            name += "_"
        step = Step(
            "layer", self.base, args=args, name=name, inputs=(self.ref(node.args[0], node),)
        )
        self._add(step, node)
        return True

    def _block_inputs(self, node: fx.Node) -> tuple[str, ...]:
        """A block's positional tensors, in order: a list of them (DenseNet's
        ``layer(features)``), or a tuple another block returned, as that many inputs; a number
        or a flag (MaxViT's ``partition_op(x, self.p)``) is a constant of the block's own
        trace, not an input."""
        out: list[str] = []
        for arg in node.args:
            spread = isinstance(arg, (list, tuple)) and arg and all(map(self._is_tensor, arg))
            if spread or self._is_several(arg):
                out += self.refs(arg, node)
            elif hasattr(arg, "op") or isinstance(arg, (list, tuple, dict)):
                out.append(self.ref(arg, node))
        return tuple(out)

    def _keyword_inputs(self, sub: nn.Module, node: fx.Node) -> tuple[str, ...]:
        """A block's tensors passed by keyword (timm's ``self.attn(x, attn_mask=mask)``), as
        its inputs in the order its forward takes them; a keyword fixed to a constant (a mask
        that is None) is the constant its own trace was made with, so it is not passed."""
        import inspect

        order = list(inspect.signature(sub.forward).parameters)
        out = []
        for key in sorted(node.kwargs, key=lambda k: order.index(k) if k in order else len(order)):
            value = node.kwargs[key]
            if not hasattr(value, "op"):
                continue
            if not self._is_tensor(value):
                raise self.fail(node, f"{node.target!r} is given {key}= computed at run time")
            out.append(self.ref(value, node))
        return tuple(out)

    def _passes_on(self, node: fx.Node) -> fx.Node | None:
        """The input a function call returns as it is in eval mode, or None: torchvision's
        ``stochastic_depth``, timm's ``drop_path``, ``F.dropout`` with ``training=False``;
        a cast that returns its tensor itself (``out.to(dtype=x.dtype)`` at that dtype,
        Eva's rope). What eval computes is lifted; the train-time regularisation is left out
        (a note says so)."""
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
        if node.op == "call_method" and name not in CASTS:
            return None  # x.contiguous() is x only where x is laid out so: kept
        if node.op not in ("call_function", "call_method") or str(name).endswith("_"):
            return None
        if node.kwargs.get("inplace") or not node.args or not hasattr(node.args[0], "op"):
            return None
        value = self.values.get(node, UNKNOWN)
        if value is UNKNOWN or value is not self.values.get(node.args[0]):
            return None
        self.passed.append(f"{name} ({node_where(node)})")
        return node.args[0]

    def _multi(self, node: fx.Node) -> tuple[str, ...] | None:
        if not self._is_several(node):
            return None
        return self._pieces(node, node)

    def _op(self, node: fx.Node) -> None:
        if self._inherited_call(node):
            return
        passed = self._passes_on(node)
        if passed is not None:
            self.names[node] = self.ref(passed, node)
            return
        try:
            lifted = ops.lift(node, lambda v: self.size_of(v, node), self._is_tensor)
        except ops.Unsupported as exc:
            raise self.fail(node, str(exc)) from None
        inputs = tuple(self.ref(i, node) for i in lifted.inputs)
        if lifted.op == "concat" and len(inputs) == 1 and not lifted.then:
            # torch.cat of one tensor (DenseNet's first layer) is that tensor's values.
            self.names[node] = inputs[0]
            return
        args = tuple(lifted.args.items())
        for k, (op, more) in enumerate(lifted.then):
            first = f"{node.name}_{k}"
            self.rows.append(
                (
                    (),
                    Step("op", lifted.op, args=args, name=first, inputs=inputs, outputs=(first,)),
                    node,
                )
            )
            lifted, inputs, args = ops.Lifted(op, ()), (first,), tuple(more.items())
        step = Step("op", lifted.op, args=args, name=node.name, inputs=inputs)
        outputs = self._multi(node)
        if outputs is not None:
            self.rows.append(((), replace(step, outputs=outputs), node))
            return
        self._add(step, node)

    def _tensor(self, node: fx.Node) -> None:
        import torch

        value = self.values.get(node)
        if not isinstance(value, torch.Tensor):
            raise self.fail(node, f"it reads {node.target!r}, not a tensor of its own")
        if "." in str(node.target):
            self._borrow(node)
        name = self._own(str(node.target), value)
        self._declare(name, value, node)
        self.names[node] = name

    def _declare(self, name: str, value: Any, node: fx.Node) -> None:
        import torch

        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in ("float32", "int64", "bool"):
            raise self.fail(node, f"it reads {node.target!r}, a tensor of {dtype}")
        if all(t.name != name for t in self.tensors):
            buffer = not isinstance(value, torch.nn.Parameter)
            self.tensors.append(Tensor(name, tuple(value.shape), buffer=buffer, dtype=dtype))

    def _borrow(self, node: fx.Node) -> None:
        """A tensor of a submodule the forward never calls, read through it (BEiT's
        ``F.linear(x, self.qkv.weight)``, a table read by a method of its owner): that
        submodule's tensors become the reader's own, in the original too (the submodule
        still reads them as plain attributes), so the lifted class holds them and the
        weights list them where it does."""
        owner_path = str(node.target).rpartition(".")[0]
        if owner_path in self.borrowed:
            return
        calls = any(
            n.op == "call_module"
            and (str(n.target) == owner_path or str(n.target).startswith(f"{owner_path}."))
            for n in self.graph.nodes
        )
        if calls:
            raise self.fail(
                node,
                f"it reads {node.target!r} and calls {owner_path!r} too (torchgen makes a "
                "submodule's tensors the reader's only where the reader does not call it)",
            )
        owner = self.module.get_submodule(owner_path)
        self.borrowed.add(owner_path)
        for key, value in [*owner.named_parameters(), *owner.named_buffers()]:
            holder_path, _, leaf = key.rpartition(".")
            holder = owner.get_submodule(holder_path)
            parameter = leaf in holder._parameters
            (holder._parameters if parameter else holder._buffers).pop(leaf)
            holder._non_persistent_buffers_set.discard(leaf)
            object.__setattr__(holder, leaf, value)  # the original's forward reads it still
            name = _flat(f"{owner_path}.{key}")
            while hasattr(self.module, name):
                name += "_"
            if parameter:
                self.module.register_parameter(name, value)
            else:
                self.module.register_buffer(name, value)
            self.owned[f"{owner_path}.{key}"] = name
            self._declare(name, value, node)

    def _own(self, name: str, value: Any) -> str:
        """The name of a tensor the forward reads, made a persistent buffer of the original
        where it was not (a constant fx keeps on the module, ``_tensor_constant0``; a buffer
        with ``persistent=False``): the lifted class holds it, and ``--weights`` copies its
        values from the original's ``state_dict``, which now has it."""
        module = self.module
        if name in self.owned:
            return self.owned[name]
        if name in dict(module.named_parameters(recurse=False)):
            return name
        read = name
        if name not in dict(module.named_buffers(recurse=False)):  # an fx constant
            delattr(module, name)
            name = name.lstrip("_")
            while hasattr(module, name):
                name += "_"
            module.register_buffer(name, value)
        module._non_persistent_buffers_set.discard(name)
        self.owned[read] = name
        return name

    def _outputs(self, node: fx.Node) -> tuple[str, ...]:
        result = node.args[0]
        items = result if isinstance(result, (tuple, list)) else (result,)
        # A None beside the tensors (nanoGPT's loss without targets) is left out.
        return self.refs(tuple(i for i in items if i is not None), node)

    def _groups(self, target: str) -> tuple[tuple[str, ...], str | None]:
        """The Sequentials ``target`` sits in (their paths) and its name inside the innermost."""
        from torch import nn

        parts = target.split(".")
        groups: list[str] = []
        start = 0
        for i in range(1, len(parts)):
            owner = self.module.get_submodule(".".join(parts[:i]))
            if isinstance(owner, nn.Sequential):
                groups.append(".".join(parts[:i]))
                start = i
        name = ".".join(parts[start:])
        # A Sequential's numbered member is numbered in the nested style; named by the styles.
        return tuple(groups), None if groups and name.isdigit() else name

    # -- groups ---------------------------------------------------------------------------------
    def _fold(self) -> list[Step]:
        """Rows into steps: consecutive rows in one Sequential become its group (a chain)."""
        return self._level(list(self.rows), 0)

    def _level(self, rows: list, depth: int) -> list[Step]:
        runs: list[tuple[str | None, list]] = []  # consecutive rows of one group, or one row
        for row in rows:
            group = row[0][depth] if len(row[0]) > depth else None
            if group is not None and runs and runs[-1][0] == group:
                runs[-1][1].append(row)
            else:
                runs.append((group, [row]))
        bodies = [None if g is None else self._level(members, depth + 1) for g, members in runs]
        # A group whose members read other values than the previous one's output (DenseNet's
        # layers, each reading all before it), or that ops of a traced-through forward split
        # in two: its members are steps of the class, named by their path (not a namespace
        # of the nested style, which would declare them in another order).
        seen = Counter(g for g, _ in runs if g is not None)
        broken = {g for (g, _), b in zip(runs, bodies) if g and (seen[g] > 1 or not _chain(b))}
        out: list[Step] = []
        for (group, members), body in zip(runs, bodies):
            if group is None:
                out.append(members[0][1])
                continue
            if group in broken:
                out += [replace(s, name=_flat(f"{group}.{s.name or s.target}")) for s in body]
                continue
            first, last = members[0][1], members[-1][1]
            # A Sequential in a ModuleList or ModuleDict keeps its path (downs.0: eject.naming).
            name = group if depth == 0 else self._member_name(group)
            chained = [replace(s, inputs=None, outputs=None) for s in body]
            out.append(
                Step(
                    "group",
                    name,
                    name=name,
                    body=tuple(chained),
                    inputs=first.inputs,
                    outputs=last.outputs,
                )
            )
        return out

    def _member_name(self, group: str) -> str:
        """A Sequential inside a Sequential: the nested style numbers it; the flat styles need
        a name, after its class and position."""
        module = self.module.get_submodule(group)
        key = group.rsplit(".", 1)[-1]
        base = names.snake_case(type(module).__name__)
        return key if not key.isdigit() else f"{base}{key}"


def _through_base(traced: Traced, module: nn.Module) -> bool:
    """Whether the forward reads the tensors it inherits from a catalog layer only as that
    layer's functional does (timm's BatchNormAct2d: ``F.batch_norm(x, self.running_mean,
    ...)``), so it is that layer; a class that computes from them first (a convolution that
    standardises its own weight) is the ops it runs, on tensors of its own."""
    base = inherited_layer(module)
    function = _functional_of(base) if base else None
    inherited = _held(module)
    for node in traced.graph.nodes:
        if node.op != "get_attr" or str(node.target) not in inherited:
            continue
        for user in node.users:
            read = [a for a in (*user.args[1:], *user.kwargs.values()) if hasattr(a, "op")]
            if user.target is not function or any(
                a.op != "get_attr" or str(a.target) not in inherited for a in read
            ):
                return False
    return True


def _held(module: nn.Module) -> set[str]:
    """The names of the tensors the module holds itself (not its submodules')."""
    return {n for n, _ in module.named_parameters(recurse=False)} | {
        n for n, _ in module.named_buffers(recurse=False)
    }


def _chain(steps: list[Step]) -> bool:
    """Whether each step reads the one value the step before it computed."""
    return all(
        len(b.inputs or ()) == 1 and b.inputs == a.outputs and len(a.outputs or ()) == 1
        for a, b in pairwise(steps)
    )


def _flat(path: str) -> str:
    """``features.1.denselayer1`` as one attribute name: ``features_1_denselayer1``."""
    return path.replace(".", "_").replace("-", "_")
