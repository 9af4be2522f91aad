"""Tracing one instance of a user's class with torch.fx, its values computed as it goes.

Each node of the graph is also run on the instance's real input (recorded during one forward of
the whole model), so that a condition on sizes only (``assert t <= block_size``) is decided by
the sizes it saw and leaves no trace, while a condition on values (``if x.sum() > 0``) is refused:
the class would not compute the same function on another input. Catalog layers and the user's
other classes are leaves (each traced on its own); ``nn.Sequential``, ``nn.ModuleList`` and
``nn.ModuleDict`` are traced through.
"""

from __future__ import annotations

import contextlib
import operator
import os
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torchscaffold import catalog
from torchscaffold.errors import TorchgenError, first_line

if TYPE_CHECKING:
    from torch import fx, nn

# What a node's value is where it could not be computed (never read as a size).
UNKNOWN = object()
# Sizes are read through these; a node computed from tensors only through them is "shape only".
SIZE_READS = ("size", "shape", "dim", "ndim", "device", "dtype")
# Methods that read their tensor's dtype and device only: a tensor they make is built from sizes.
FACTORY_METHODS = ("new_zeros", "new_ones", "new_full", "new_empty", "new_tensor")


def is_container(module: nn.Module) -> bool:
    """nn.Sequential (or a subclass that keeps its forward), nn.ModuleList, nn.ModuleDict."""
    from torch import nn

    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        return True
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def is_torch_module(module: nn.Module) -> bool:
    return type(module).__module__.startswith("torch.")


def catalog_layer(module: nn.Module) -> str | None:
    """The catalog's name for a torch.nn layer, or None."""
    name = type(module).__name__
    return name if is_torch_module(module) and name in catalog.LAYERS else None


def is_user_class(module: nn.Module) -> bool:
    """A class with its own forward, to be lifted into a block."""
    return not is_torch_module(module) and not is_container(module)


@dataclass(frozen=True)
class Traced:
    graph: fx.Graph
    values: dict[fx.Node, Any]  # what each node computed on the instance's input
    # What the class holds as the trace computed it from the sizes it saw (Swin's mask).
    fixed: list[str] = field(default_factory=list)


def where(node: fx.Node) -> str:
    """``file.py:LINE`` of the user's code that made ``node``, or ''."""
    stack = node.stack_trace or ""
    found = [
        line
        for line in stack.splitlines()
        if line.strip().startswith("File ") and not is_ours(line)
    ]
    if not found:
        return ""
    parts = found[-1].strip().split(",")
    path = parts[0].removeprefix("File ").strip().strip('"')
    line = parts[1].strip().removeprefix("line ") if len(parts) > 1 else "?"
    return f"{os.path.basename(path)}:{line}"


def is_ours(filename: str) -> bool:
    """torch's code or torchgen's, not the user's."""
    return f"{os.sep}torch{os.sep}" in filename or f"{os.sep}torchscaffold{os.sep}" in filename


def user_frame() -> str:
    for frame in reversed(traceback.extract_stack()):
        if not is_ours(frame.filename):
            return f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return "?"


def trace(
    module: nn.Module,
    label: str,
    inputs: dict[str, Any],
    concrete: dict[str, Any],
    recorded: Callable[[str, tuple, dict], Any] | None = None,
) -> Traced:
    """The graph of ``module.forward`` on ``inputs`` (its tensor arguments, by name), the
    other arguments in ``concrete`` fixed (their defaults: ``targets=None``). ``recorded``
    gives what a submodule returned on the same inputs in the model's forward (UNKNOWN where
    it has not seen them): it is read rather than run again."""
    import torch
    from torch import fx

    from torchscaffold.eject import writes

    class Tracer(fx.Tracer):
        def __init__(self) -> None:
            super().__init__()
            self.record_stack_traces = True
            # A buffer read by attribute is the module's tensor, not a value of the trace's
            # making: ``self.index.view(-1)`` stays a read of ``index`` (MaxViT), where fx
            # would run it at trace time and keep the result as ``_tensor_constant0``.
            self.proxy_buffer_attributes = True
            self.values: dict[fx.Node, Any] = {}
            self.writes = writes.Writes()
            self.computing = False  # running a node on real tensors: nothing to record

        def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
            if self.computing:
                return forward(*args, **kwargs)
            return super().call_module(m, forward, args, kwargs)

        def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
            if self.computing:
                return attr_val
            return super().getattr(attr, attr_val, parameter_proxy_cache)

        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return not is_container(m)

        def proxy(self, node: fx.Node) -> fx.Proxy:
            made = writes.proxy_type()(node, self)
            self.writes.proxies[node] = made
            return made

        def create_node(self, kind: str, target: Any, *rest: Any, **kw: Any) -> fx.Node:
            node = super().create_node(kind, target, *rest, **kw)
            if kind == "get_attr" and node not in self.values:
                # A buffer the forward reads, or a constant fx keeps on the module
                # (``_tensor_constant0``): made without a proxy, so valued here.
                self.values[node] = self._compute(node)
            return node

        def create_proxy(
            self, kind: str, target: Any, args: Any, kwargs: Any, *more: Any, **kw: Any
        ):
            proxy = super().create_proxy(kind, target, args, kwargs, *more, **kw)
            self.values[proxy.node] = self._compute(proxy.node)
            return proxy

        def _compute(self, node: fx.Node) -> Any:
            if node.op == "placeholder":
                return inputs.get(str(node.target), UNKNOWN)
            args = fx.node.map_arg(node.args, lambda n: self.values.get(n, UNKNOWN))
            kwargs = fx.node.map_arg(node.kwargs, lambda n: self.values.get(n, UNKNOWN))
            if contains(args, UNKNOWN) or contains(kwargs, UNKNOWN):
                return UNKNOWN
            self.computing = True
            try:
                with torch.no_grad():
                    if node.op == "get_attr":
                        return operator.attrgetter(node.target)(self.root)
                    if node.op == "call_module":
                        known = UNKNOWN if recorded is None else recorded(node.target, args, kwargs)
                        if known is not UNKNOWN:
                            return known
                        return self.root.get_submodule(node.target)(*args, **kwargs)
                    if node.op == "call_function":
                        return node.target(*args, **kwargs)
                    if node.op == "call_method":
                        return getattr(args[0], node.target)(*args[1:], **kwargs)
            except Exception:  # noqa: BLE001 - a value we could not follow is only unknown
                return UNKNOWN
            finally:
                self.computing = False
            return UNKNOWN

        def to_bool(self, obj: fx.Proxy) -> bool:
            value = self.values.get(obj.node, UNKNOWN)
            if value is not UNKNOWN and shape_only(obj.node, self.values):
                return bool(value)
            raise Refused(
                f"data-dependent control flow (node {obj.node.name!r}, {user_frame()}): "
                "a branch on the values of a tensor"
            )

        def iter(self, obj: fx.Proxy) -> Iterator:
            value = self.values.get(obj.node, UNKNOWN)
            if isinstance(value, (tuple, list, torch.Size)):
                return iter(obj[i] for i in range(len(value)))
            return super().iter(obj)

    tracer = Tracer()
    try:
        with _no_autograd_functions(), _wrapped_traced_through():
            graph = tracer.trace(module, concrete_args=concrete or None)
    except Refused as exc:
        raise TorchgenError(f"cannot lift {label}: {exc}; nothing was written") from None
    except TorchgenError:
        raise
    except Exception as exc:  # noqa: BLE001 - fx's refusal of the user's code, whatever its type
        raise TorchgenError(
            f"cannot lift {label} ({_user_frame_of(exc)}): torch.fx cannot trace it: "
            f"{type(exc).__name__}: {first_line(exc)}; nothing was written"
        ) from None
    return Traced(graph, tracer.values, tracer.writes.fixed)


class Refused(Exception):
    """Raised inside the trace; becomes a one-line TorchgenError naming the class."""


def _user_frame_of(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not is_ours(frame.filename):
            return f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return "?"


@contextlib.contextmanager
def _no_autograd_functions() -> Iterator[None]:
    """fx would trace a custom ``autograd.Function``'s forward as plain ops, losing its
    backward: refuse it instead."""
    import torch
    from torch import fx

    original = torch.autograd.Function.__dict__["apply"]

    def apply(cls: type, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, fx.Proxy) for a in args):
            raise Refused(
                f"a custom autograd.Function, {cls.__name__}.apply ({user_frame()}): its "
                "backward is its own, not the ops of its forward"
            )
        return original.__func__(cls, *args, **kwargs)

    torch.autograd.Function.apply = classmethod(apply)  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.autograd.Function.apply = original  # type: ignore[method-assign]


@contextlib.contextmanager
def _wrapped_traced_through() -> Iterator[None]:
    """Functions a library marks ``torch.fx.wrap`` (torchvision's
    ``shifted_window_attention``, ``stochastic_depth``) are one opaque call to fx; traced
    through, they are the ops a reader can follow and edit, which torchgen's catalog has."""
    from torch.fx import _symbolic_trace

    functions = dict(_symbolic_trace._wrapped_fns_to_patch)
    methods = list(_symbolic_trace._wrapped_methods_to_patch)
    _symbolic_trace._wrapped_fns_to_patch.clear()
    _symbolic_trace._wrapped_methods_to_patch.clear()
    try:
        yield
    finally:
        _symbolic_trace._wrapped_fns_to_patch.update(functions)
        _symbolic_trace._wrapped_methods_to_patch.extend(methods)


def contains(tree: Any, item: object) -> bool:
    if tree is item:
        return True
    if isinstance(tree, (tuple, list)):
        return any(contains(t, item) for t in tree)
    if isinstance(tree, dict):
        return any(contains(t, item) for t in tree.values())
    return False


def shape_only(node: fx.Node, values: dict[fx.Node, Any], *, made: bool = False) -> bool:
    """Whether ``node`` is computed from sizes only: tensors enter it only through their
    ``size()``/``shape``/``dim()``. With ``made``, a tensor counts too where it is built from
    sizes and the module's buffers alone (``x.new_zeros((H, W))``, never the input's values or
    a learned tensor; ``numel()`` a size): a constant at the sizes traced (eject.writes)."""
    import torch
    from torch import nn

    reads = (*SIZE_READS, "numel") if made else SIZE_READS
    reads_size = (node.op == "call_method" and node.target in reads) or (
        node.op == "call_function" and node.target is getattr and node.args[1] in reads
    )
    if reads_size:
        return True
    inputs = node.all_input_nodes
    value = values.get(node)
    if isinstance(value, torch.Tensor):
        if not made or node.op == "placeholder" or isinstance(value, nn.Parameter):
            return False
        if node.op == "call_method" and node.target in FACTORY_METHODS:
            inputs = [n for n in inputs if n is not node.args[0]]  # its dtype and device only
    return all(shape_only(n, values, made=made) for n in inputs)
