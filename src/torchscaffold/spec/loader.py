"""Read a model description from TOML (see docs/spec-format.md) into the IR.

Only structure is checked here (known keys, value types, names, literal argument values);
whether the steps fit together is the business of shape inference.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from torchscaffold import catalog, names, paths
from torchscaffold.errors import TorchgenError, did_you_mean, first_line
from torchscaffold.spec import expr
from torchscaffold.spec.ir import Block, Input, Model, Step, Tensor

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Sane bounds, so that a typo cannot make generation run for minutes or exhaust the stack:
# ResNet-1202 repeats a block 200 times in a stage; nobody nests custom classes 32 deep.
MAX_REPEAT = 1000
MAX_NESTING = 32
MAX_RANK = 6
# A description of 50,000 steps takes 3 MB; a bigger file is a mistake (a dataset, an image),
# refused before it is read rather than parsed for minutes.
MAX_SPEC_BYTES = 16 * 2**20
BOM = "\ufeff"  # what some editors put before the first line of a UTF-8 file

CLASS_KEYS = ("params", "let", "layers", "outputs", "tensors", "ties", "doc")
MODEL_KEYS = (*CLASS_KEYS, "input", "dtype", "inputs", "lengths")
BLOCK_KEYS = (*CLASS_KEYS, "inputs", "residual", "projection", "after", "shortcut")
KIND_KEYS = ("type", "block", "op", "group")
STEP_KEYS = ("name", "in", "out", "when", "otherwise")
DTYPES = ("float32", "int64", "bool")
TENSOR_KEYS = ("shape", "init", "std", "buffer", "persistent", "dtype")
INITS = ("zeros", "ones", "normal", "tril")
# The model's parameters that its input's feature size fills (spec.options.finalize): read by
# the first layer whose argument is inferred, never named in a step.
INPUT_PARAMS = ("in_channels", "in_features")


def load_spec(path: Path, name: str) -> Model:
    """Parse ``path``; ``name`` (the CLI's NAME) is the class name."""
    data = load_toml(paths.read_text(path, "spec", MAX_SPEC_BYTES), path)
    try:
        return parse_spec(data, name)
    except TorchgenError as exc:
        raise TorchgenError(f"{path}: {exc}") from None


def load_toml(text: str, path: Path) -> dict[str, Any]:
    """Parse TOML text (a leading byte-order mark is allowed, as editors write it); malformed
    or absurdly nested input, an integer too long to convert, a number that is not finite
    (``inf``, ``nan``: no size or rate is) are one-line errors."""
    try:
        data = tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:
        raise TorchgenError(f"{path}: malformed TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise TorchgenError(f"{path}: TOML nested too deeply to be a description") from None
    except ValueError as exc:  # int() refuses more than sys.get_int_max_str_digits() digits
        raise TorchgenError(
            f"{path}: malformed TOML: a number too long ({first_line(exc).split(':')[0]})"
        ) from None
    _all_finite(data, path)
    return data


def _all_finite(data: dict[str, Any], path: Path) -> None:
    """No ``inf`` or ``nan`` anywhere: rendered, they are names Python does not know."""
    todo: list[tuple[str, Any]] = [("", data)]
    while todo:
        where, value = todo.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise TorchgenError(f"{path}: {where} = {value}: give a finite number")
        if isinstance(value, dict):
            todo += [(f"{where}.{k}" if where else k, v) for k, v in value.items()]
        elif isinstance(value, list):
            todo += [(f"{where}[{i}]", v) for i, v in enumerate(value)]


def parse_spec(data: dict[str, Any], name: str) -> Model:
    _no_unknown_keys(data, ("model", "layers", "blocks"), "the top level")
    model = _table(data.get("model", {}), "[model]")
    if "name" in model:  # read by nothing: the command's NAME names the class
        raise TorchgenError(
            f"unknown key 'name' in [model]: the class is named by the command (torchgen model "
            f"{name}); remove the key"
        )
    _no_unknown_keys(model, MODEL_KEYS, "[model]")
    blocks_data = _table(data.get("blocks", {}), "[blocks]")
    block_names = tuple(blocks_data)
    for block_name in block_names:
        names.class_name(block_name, what="block name", taken=frozenset(catalog.LAYERS))
        if block_name == name:
            raise TorchgenError(f"block {block_name!r} has the same name as the model")
    blocks = tuple(
        _class(block_name, _table(body, f"[blocks.{block_name}]"), f"[blocks.{block_name}]")
        for block_name, body in blocks_data.items()
    )
    _check_no_cycles(blocks)
    if "layers" not in data and "layers" not in model:
        raise TorchgenError("the spec has no [[layers]]")
    main_data = {**{k: v for k, v in model.items() if k in CLASS_KEYS}}
    main_data["layers"] = data.get("layers", model.get("layers"))
    inputs, lengths = _inputs(model)
    main = _class(name, main_data, "[model]", inputs=tuple(i.name for i in inputs))
    _no_unread_params(main, "[model]", implied=INPUT_PARAMS)
    for block in blocks:
        _no_unread_params(block, f"[blocks.{block.name}]")
    return Model(
        name=name,
        inputs=inputs,
        main=main,
        blocks=blocks,
        lengths=lengths,
        doc=main.doc,
    )


# ------------------------------------------------------------------------------- inputs
def _inputs(model: dict[str, Any]) -> tuple[tuple[Input, ...], tuple[tuple[str, int], ...]]:
    if ("input" in model) == ("inputs" in model):
        raise TorchgenError(
            "[model] needs input = [C, H, W] (the shape of one sample), or inputs = { name = "
            "{ shape = [...] } } for several"
        )
    lengths = _table(model.get("lengths", {}), "[model] lengths")
    if "input" in model:
        dtype = model.get("dtype")
        declared = {"x": {"shape": model["input"], **({"dtype": dtype} if dtype else {})}}
        where = {"x": "[model] input"}
    else:
        if "dtype" in model:
            raise TorchgenError("[model] dtype goes with input; give each of inputs its own")
        declared = _table(model["inputs"], "[model] inputs")
        where = {k: f"[model] inputs.{k}" for k in declared}
        if not declared:
            raise TorchgenError("[model] inputs is empty")
    inputs = []
    used: set[str] = set()
    for key, value in declared.items():
        names.attribute_name(key, where="[model] inputs")
        table = _table(value, where[key])
        _no_unknown_keys(table, ("shape", "dtype"), where[key])
        shape = _shape(table.get("shape"), where[key])
        used |= {s for s in shape if isinstance(s, str)}
        dtype = table.get("dtype")
        if dtype is not None and dtype not in DTYPES:
            raise TorchgenError(
                f"{where[key]}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}"
            )
        inputs.append(Input(key, shape, dtype or ""))
    for length in used:
        if length not in lengths:
            raise TorchgenError(
                f"[model] the input dimension {length!r} varies: give its length for the summary "
                f"and checks in lengths = {{ {length} = 128 }}"
            )
    for length, value in lengths.items():
        if length not in used:
            raise TorchgenError(f"[model] lengths: no input dimension is called {length!r}")
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 2**31:
            raise TorchgenError(f"[model] lengths: {length} must be a positive integer")
    return tuple(inputs), tuple(lengths.items())


# ------------------------------------------------------------------------------- classes
def _class(
    name: str, data: dict[str, Any], where: str, inputs: tuple[str, ...] | None = None
) -> Block:
    """A block's table, or the model's own: parameters, lets, tensors, steps."""
    if inputs is None:
        _no_unknown_keys(data, BLOCK_KEYS, where)
        inputs = tuple(
            names.attribute_name(_str(v, f"{where} inputs"), where=f"{where} inputs")
            for v in _list(data.get("inputs", ["x"]), f"{where} inputs")
        )
        if not inputs or len(set(inputs)) != len(inputs):
            raise TorchgenError(f"{where} inputs must name one or more distinct values")
    is_block = where.startswith("[blocks")
    params = _params(data.get("params", {}), f"{where} params", block=is_block)
    lets = _lets(data.get("let", {}), f"{where} let", params, is_block)
    if "layers" not in data or data["layers"] is None:
        raise TorchgenError(f"{where} needs layers = [...]")
    steps = _steps(data["layers"], f"{where} layers")
    if not steps:
        raise TorchgenError(f"{where} has no layers")
    after = _steps(data.get("after", []), f"{where} after")
    residual = _bool(data.get("residual", False), f"{where} residual")
    if after and not residual:
        raise TorchgenError(f"{where} after = [...] only applies to residual blocks")
    outputs = None
    if "outputs" in data:
        outputs = tuple(
            _str(v, f"{where} outputs") for v in _list(data["outputs"], f"{where} outputs")
        )
        if not outputs:
            raise TorchgenError(f"{where} outputs is empty")
    tensors = _tensors(data.get("tensors", {}), f"{where} tensors")
    for t in tensors:
        if t.name in inputs:
            raise TorchgenError(
                f"{where} tensors: {t.name!r} is an input of the class; values are named once "
                f"(call the tensor {t.name}2)"
            )
    return Block(
        name=name,
        steps=steps,
        inputs=inputs,
        outputs=outputs,
        params=tuple(params.items()),
        lets=lets,
        tensors=tensors,
        ties=_ties(data.get("ties", {}), f"{where} ties"),
        residual=residual,
        projection=_bool(data.get("projection", True), f"{where} projection"),
        shortcut=names.attribute_name(
            _str(data.get("shortcut", "shortcut"), f"{where} shortcut"), where=where
        ),
        after=after,
        doc=names.text(_str(data.get("doc", ""), f"{where} doc"), where=f"{where} doc"),
    )


def _params(data: Any, where: str, *, block: bool) -> dict[str, Any]:
    table = _table(data, where)
    for key, value in table.items():
        names.parameter_name(key, where=where, block=block)
        if isinstance(value, bool):
            continue
        if isinstance(value, list):  # stage depths: layers = [3, 4, 6, 3], read as layers[i]
            if not 1 <= len(value) <= MAX_RANK * 2 or not all(
                type(v) is int and 0 <= v <= MAX_REPEAT for v in value
            ):
                raise TorchgenError(
                    f"{where}: {key} as a list holds 1 to {MAX_RANK * 2} integers from 0 to "
                    f"{MAX_REPEAT}"
                )
            table[key] = tuple(value)
        elif isinstance(value, int):
            if not 0 <= value <= catalog.INT64_MAX:
                raise TorchgenError(
                    f"{where}: {key} must be a non-negative integer that fits in 64 bits, "
                    f"got {value!r}"
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise TorchgenError(f"{where}: {key} must be a finite number, got {value!r}")
        else:
            raise TorchgenError(f"{where}: {key} must be an integer, a number or true/false")
    return dict(table)


def _lets(data: Any, where: str, params: dict[str, Any], block: bool) -> tuple:
    table = _table(data, where)
    out = []
    for key, value in table.items():
        names.parameter_name(key, where=where, block=block)
        if key in params:
            raise TorchgenError(f"{where}: {key!r} is already a parameter")
        text = value if isinstance(value, str) else None
        if text is None:
            raise TorchgenError(f"{where}: {key} must be an expression in quotes, got {value!r}")
        parsed = expr.parse(text, f"{where} {key}")
        if parsed.runtime():
            raise TorchgenError(f"{where} {key}: size(i) is only known in forward, not here")
        out.append((key, parsed))
    return tuple(out)


def _no_unread_params(cls: Block, where: str, implied: tuple[str, ...] = ()) -> None:
    """A parameter nothing reads is a mistake (a typo, or a size meant for a step that names
    a literal instead): refused, with the closest name that is read or a step's argument."""
    read = _read_names(cls)
    for key, _ in cls.params:
        if key not in read and key not in implied:
            defined = {k for k, _ in cls.params} | {k for k, _ in cls.lets}
            near = (read - defined) | {k for s in _all_steps(cls) for k, _ in s.args}
            raise TorchgenError(
                f"{where} params: nothing reads {key!r}{did_you_mean(key, sorted(near))}; use "
                "it in a step's argument, a let, a tensor's shape or when, or remove it"
            )


def _read_names(cls: Block) -> set[str]:
    """The parameters and lets a class's expressions and conditions read."""
    exprs: list[Any] = [e for _, e in cls.lets]
    exprs += [size for t in cls.tensors for size in t.shape]
    read: set[str] = set()
    for step in _all_steps(cls):
        exprs += [v for _, v in (*step.args, *step.first)]
        exprs.append(step.repeat)  # a depth parameter: repeat = "n_layer"
        if step.when is not None:
            read.add(step.when)
    while exprs:
        value = exprs.pop()
        if isinstance(value, tuple):
            exprs += value
        elif isinstance(value, expr.Expr):
            read |= value.names()
    return read


def _all_steps(cls: Block) -> list[Step]:
    """Its steps, its residual's after steps, and the steps inside its groups."""
    out, todo = [], [*cls.steps, *cls.after]
    while todo:
        step = todo.pop()
        out.append(step)
        todo += step.body
    return out


def _tensors(data: Any, where: str) -> tuple[Tensor, ...]:
    out = []
    for key, value in _table(data, where).items():
        names.attribute_name(key, where=where)
        table = _table(value, f"{where}.{key}")
        _no_unknown_keys(table, TENSOR_KEYS, f"{where}.{key}")
        shape = tuple(
            _expr_or_int(v, f"{where}.{key} shape")
            for v in _list(table.get("shape"), f"{where}.{key} shape")
        )
        if not 1 <= len(shape) <= MAX_RANK:
            raise TorchgenError(f"{where}.{key}: shape needs 1 to {MAX_RANK} sizes")
        init = table.get("init", "zeros")
        if isinstance(init, (int, float)) and not isinstance(init, bool):
            init = float(init)  # a constant: a layer scale's 1e-6
        elif init not in INITS:
            raise TorchgenError(
                f"{where}.{key}: init must be one of {', '.join(INITS)} or a number"
                f"{did_you_mean(str(init), INITS)}"
            )
        std = table.get("std", 0.02)
        if not isinstance(std, (int, float)) or isinstance(std, bool) or not std > 0:
            raise TorchgenError(f"{where}.{key}: std must be a positive number")
        if "std" in table and init != "normal":
            raise TorchgenError(f'{where}.{key}: std goes with init = "normal"; nothing reads it')
        buffer = _bool(table.get("buffer", init == "tril"), f"{where}.{key} buffer")
        dtype = table.get("dtype", "float32")
        if dtype not in DTYPES or dtype != "float32" and (not buffer or init not in INITS[:2]):
            raise TorchgenError(
                f"{where}.{key}: dtype must be one of {', '.join(DTYPES)}, and other than "
                f"float32 only for a buffer of zeros or ones, got {dtype!r}"
            )
        out.append(
            Tensor(
                key,
                shape,
                init,
                float(std),
                buffer,
                _bool(table.get("persistent", True), f"{where}.{key} persistent"),
                dtype,
            )
        )
    return tuple(out)


def _ties(data: Any, where: str) -> tuple[tuple[str, str], ...]:
    out = []
    for dst, src in _table(data, where).items():
        for path in (dst, _str(src, f"{where} {dst}")):
            parts = path.split(".")
            if len(parts) < 2 or not all(p.isidentifier() for p in parts):
                raise TorchgenError(
                    f'{where}: {path!r} must be LAYER.weight, e.g. "wte.weight" = '
                    '"lm_head.weight"'
                )
        out.append((dst, src))
    # A forest of depth one: each tie names the weight that is kept. A weight tied to itself
    # (counted once, built twice), a cycle (counted as nothing) or a chain (which the
    # assignments, in order, would not share) is refused.
    tied = dict(out)
    for dst, src in out:
        if src == dst:
            raise TorchgenError(f"{where}: {dst!r} is tied to itself")
        if src in tied:
            root, seen = src, {dst}
            while root in tied and root not in seen:
                seen.add(root)
                root = tied[root]
            fix = (
                "a cycle ties nothing to a weight that is kept"
                if root in tied
                else f"tie it to {root!r}, the weight that is kept"
            )
            raise TorchgenError(f"{where}: {dst!r} is tied to {src!r}, itself tied: {fix}")
    return tuple(out)


# --------------------------------------------------------------------------------- steps
def _steps(data: Any, where: str) -> tuple[Step, ...]:
    return tuple(_step(item, f"{where}[{i}]") for i, item in enumerate(_list(data, where)))


def _step(item: Any, where: str) -> Step:
    data = _table(item, where)
    kinds = [k for k in KIND_KEYS if k in data]
    if len(kinds) != 1:
        raise TorchgenError(
            f"{where} needs exactly one of type = ..., block = ..., op = ... or group = ..."
        )
    kind = kinds[0]
    target = _str(data[kind], f"{where} {kind}")
    common = _wiring(data, where)
    if kind == "group":
        _no_unknown_keys(data, ("group", "layers", *STEP_KEYS), where)
        group = names.attribute_name(target, where=where)
        body = _steps(data.get("layers", []), f"{where} layers")
        if not body:
            raise TorchgenError(f"{where}: group {group!r} has no layers")
        for sub in body:
            if sub.inputs is not None or sub.outputs is not None or sub.otherwise is not None:
                raise TorchgenError(
                    f"{where}: group {group!r} is a chain: its steps take no in, out or otherwise"
                )
        return Step("group", group, name=group, body=body, **common)
    if kind == "block":
        return _call(data, target, where, common)
    entry = catalog.layer(target) if kind == "layer" or kind == "type" else catalog.op(target)
    kind = "layer" if kind == "type" else "op"
    where = f"{where} ({target})"
    valid = {a.name: a for a in entry.args}
    call: dict[str, Any] = {}
    if "call" in data:
        if kind != "layer":
            raise TorchgenError(f"{where}: call = {{...}} is for a layer's forward arguments")
        call = _table(data["call"], f"{where} call")
    args = []
    for key, value in data.items():
        if key in (kind if kind == "op" else "type", "call", *STEP_KEYS):
            continue
        if key not in valid:
            hint = did_you_mean(key, valid) or (
                f"; it takes {', '.join(valid)}" if valid else "; it takes no arguments"
            )
            raise TorchgenError(f"{where}: unknown argument {key!r}{hint}")
        args.append((key, _arg_value(valid[key], value, f"{where} {key}")))
    if kind == "layer":
        given = {k for k, _ in args}
        missing = [
            a.name
            for a in entry.args
            if a.required and a.name != entry.inferred and a.name not in given
        ]
        if missing:
            raise TorchgenError(f"{where}: missing required argument {', '.join(missing)}")
    return Step(kind, target, args=tuple(args), call=tuple(call.items()), **common)


def _wiring(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The keys every step may have: name, in, out, when, otherwise."""
    out: dict[str, Any] = {}
    if "name" in data:
        # A dotted name nests the module in namespaces (transformer.wte): the nested style
        # writes nn.ModuleDicts for them, the flat styles transformer_wte.
        name = _str(data["name"], f"{where} name")
        for part in name.split("."):
            names.attribute_name(part, where=where)
        out["name"] = name
    for key, field in (("in", "inputs"), ("out", "outputs")):
        if key in data:
            value = data[key]
            items = [value] if isinstance(value, str) else _list(value, f"{where} {key}")
            if not items:
                raise TorchgenError(f"{where}: {key} names no value")
            checked = []
            for v in items:
                v = _str(v, f"{where} {key}")
                if v != "_":
                    names.value_name(v, where=f"{where} {key}")
                checked.append(v)
            out[field] = tuple(checked)
    for key in ("when", "otherwise"):
        if key in data:
            out[key] = names.attribute_name(_str(data[key], f"{where} {key}"), where=where)
    if "otherwise" in out and "when" not in out:
        raise TorchgenError(f"{where}: otherwise = ... goes with when = ...")
    return out


def _call(data: dict[str, Any], block: str, where: str, common: dict[str, Any]) -> Step:
    repeat = data.get("repeat", 1)
    if isinstance(repeat, str):
        repeat = expr.parse(repeat, f"{where} repeat")  # a depth parameter: "n_layer"
    elif not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
        raise TorchgenError(
            f"{where}: repeat must be an integer from 1 to {MAX_REPEAT} or a parameter, got "
            f"{repeat!r}"
        )
    keys = ("block", "repeat", "first", "instance_names", *STEP_KEYS)
    args = {k: v for k, v in data.items() if k not in keys}
    first = _table(data.get("first", {}), f"{where} first")
    converted = []
    for table in (args, first):
        items = []
        for key, value in table.items():
            if isinstance(value, str):
                value = expr.parse(value, f"{where} {key}")
            elif not isinstance(value, (int, float, bool)) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise TorchgenError(
                    f"{where}: {key} must be a number, true/false or an expression, got {value!r}"
                )
            items.append((key, value))
        converted.append(tuple(items))
    instance_names = data.get("instance_names")
    if instance_names is not None:
        text = _str(instance_names, f"{where} instance_names")
        if text.count("{i}") != 1:
            raise TorchgenError(
                f'{where}: instance_names must hold {{i}} once, as in "encoder_layer_{{i}}"'
            )
        names.attribute_name(text.replace("{i}", "0"), where=f"{where} instance_names")
        instance_names = text
    return Step(
        "block",
        block,
        args=converted[0],
        first=converted[1],
        repeat=repeat,
        instance_names=instance_names,
        **common,
    )


def _arg_value(arg: catalog.Arg, value: Any, where: str) -> Any:
    """A literal, checked now; or, for sizes, an expression (checked once it has a value)."""
    if isinstance(value, list):
        value = tuple(value)
    if arg.kind in catalog.EXPR_KINDS and _has_text(value) and value not in ("same", "valid"):
        if isinstance(value, tuple):
            return tuple(_expr_or_int(v, where) for v in value)
        return expr.parse(value, where)
    expected = catalog.check_value(arg, value)
    if expected:
        raise TorchgenError(f"{where} must be {expected}, got {value!r}")
    return value


def _has_text(value: Any) -> bool:
    if isinstance(value, tuple):
        return any(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _expr_or_int(value: Any, where: str) -> Any:
    if isinstance(value, str):
        return expr.parse(value, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TorchgenError(f"{where}: {value!r} is neither an integer nor an expression")
    return value


def _check_no_cycles(blocks: tuple[Block, ...]) -> None:
    """No block contains itself, and none nests deeper than MAX_NESTING: one depth-first walk
    with an explicit stack (linear in the number of calls, whatever the depth)."""

    def callees(steps: tuple[Step, ...]) -> list[str]:
        out = []
        for s in steps:
            if s.kind == "block":
                out.append(s.target)
            out += callees(s.body)
        return out

    calls = {b.name: callees((*b.steps, *b.after)) for b in blocks}
    depth: dict[str, int] = {}  # finished blocks: how deep they nest
    for root, called in calls.items():
        if root in depth:
            continue
        path: list[str] = [root]
        todo: list[list[str]] = [list(called)]
        while path:
            if todo[-1]:
                callee = todo[-1].pop()
                if callee not in calls:
                    continue  # an unknown block: shape inference names it with a did-you-mean
                if callee in path:
                    cycle = " -> ".join([*path[path.index(callee) :], callee])
                    raise TorchgenError(f"block {callee} contains itself ({cycle})")
                if callee not in depth:
                    path.append(callee)
                    todo.append(list(calls[callee]))
                continue
            done = path.pop()
            todo.pop()
            depth[done] = 1 + max((depth[c] for c in calls[done] if c in depth), default=0)
            if depth[done] > MAX_NESTING:
                raise TorchgenError(
                    f"block {done} nests {depth[done]} blocks deep; at most {MAX_NESTING} "
                    "levels are supported"
                )


# ------------------------------------------------------------------------------- helpers
def _shape(value: Any, where: str) -> tuple[int | str, ...]:
    ok = isinstance(value, list) and 1 <= len(value) <= 4
    if ok:
        for v in value:
            if isinstance(v, str):
                ok = ok and v.isidentifier()
            else:
                ok = ok and isinstance(v, int) and not isinstance(v, bool) and v > 0
    if not ok:
        raise TorchgenError(
            f"{where} must be a list of 1 to 4 positive integers (or names of varying "
            f"dimensions), got {value!r}"
        )
    return tuple(value)


def _no_unknown_keys(data: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise TorchgenError(f"unknown key {key!r} in {where}{did_you_mean(key, allowed)}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TorchgenError(f"{where} must be a table, got {value!r}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TorchgenError(f"{where} must be a list, got {value!r}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TorchgenError(f"{where} must be a string, got {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise TorchgenError(f"{where} must be true or false, got {value!r}")
    return value
