"""Read a model description from TOML (see docs/spec-format.md) into the IR.

Only structure is checked here (known keys, value types, names); whether the layers fit together
is the business of shapes.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from torchscaffold import names, paths
from torchscaffold.errors import TorchgenError, did_you_mean
from torchscaffold.layers import CATALOG, REFERABLE_KINDS, check_value, lookup
from torchscaffold.spec.ir import Block, BlockCall, Group, Layer, Model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODEL_KEYS = ("name", "input", "params", "doc")
# Sane bounds, so that a typo cannot make generation run for minutes or exhaust the stack:
# ResNet-1202 repeats a block 200 times in a stage; nobody nests custom classes 32 deep.
MAX_REPEAT = 1000
MAX_NESTING = 32
BLOCK_KEYS = ("params", "layers", "residual", "projection", "after", "doc")
CALL_KEYS = ("block", "repeat", "first", "name")


def load_spec(path: Path, name: str) -> Model:
    """Parse ``path``; ``name`` (the CLI's NAME) is the class name."""
    data = load_toml(paths.read_text(path, "spec"), path)
    try:
        return parse_spec(data, name)
    except TorchgenError as exc:
        raise TorchgenError(f"{path}: {exc}") from None


def load_toml(text: str, path: Path) -> dict[str, Any]:
    """Parse TOML text; malformed or absurdly nested input is a one-line error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TorchgenError(f"{path}: malformed TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise TorchgenError(f"{path}: TOML nested too deeply to be a description") from None


def parse_spec(data: dict[str, Any], name: str) -> Model:
    _no_unknown_keys(data, ("model", "layers", "blocks"), "the top level")
    model = _table(data.get("model", {}), "[model]")
    _no_unknown_keys(model, MODEL_KEYS, "[model]")
    if "input" not in model:
        raise TorchgenError("[model] needs input = [C, H, W] (the shape of one sample)")
    input_shape = _shape(model["input"], "[model] input")
    params = _params(model.get("params", {}), "[model] params", block=False)
    blocks_data = _table(data.get("blocks", {}), "[blocks]")
    block_names = tuple(blocks_data)
    for block_name in block_names:
        names.class_name(block_name, what="block name", taken=frozenset(CATALOG))
        if block_name == name:
            raise TorchgenError(f"block {block_name!r} has the same name as the model")
    blocks = tuple(
        _block(block_name, _table(body, f"[blocks.{block_name}]"), block_names)
        for block_name, body in blocks_data.items()
    )
    _check_no_cycles(blocks)
    if "layers" not in data:
        raise TorchgenError("the spec has no [[layers]]")
    body = tuple(
        _node(item, f"layers[{i}]", params, block_names, allow_group=True)
        for i, item in enumerate(_list(data["layers"], "layers"))
    )
    return Model(
        name=name,
        input_shape=input_shape,
        body=body,
        blocks=blocks,
        params=tuple(params.items()),
        doc=names.text(_str(model.get("doc", ""), "[model] doc"), where="[model] doc"),
    )


def _block(name: str, data: dict[str, Any], block_names: tuple[str, ...]) -> Block:
    where = f"[blocks.{name}]"
    _no_unknown_keys(data, BLOCK_KEYS, where)
    params = _params(data.get("params", {}), f"{where} params", block=True)
    if "layers" not in data:
        raise TorchgenError(f"{where} needs layers = [...]")
    body = tuple(
        _node(item, f"{where} layers[{i}]", params, block_names, allow_group=False)
        for i, item in enumerate(_list(data["layers"], f"{where} layers"))
    )
    if not body:
        raise TorchgenError(f"{where} has no layers")
    after = tuple(
        _layer(_table(item, f"{where} after[{i}]"), f"{where} after[{i}]", params)
        for i, item in enumerate(_list(data.get("after", []), f"{where} after"))
    )
    residual = _bool(data.get("residual", False), f"{where} residual")
    if after and not residual:
        raise TorchgenError(f"{where} after = [...] only applies to residual blocks")
    return Block(
        name=name,
        body=body,
        params=tuple(params.items()),
        residual=residual,
        projection=_bool(data.get("projection", True), f"{where} projection"),
        after=after,
        doc=names.text(_str(data.get("doc", ""), f"{where} doc"), where=f"{where} doc"),
    )


def _node(
    item: Any,
    where: str,
    params: dict[str, int],
    block_names: tuple[str, ...],
    *,
    allow_group: bool,
) -> Layer | BlockCall | Group:
    data = _table(item, where)
    kinds = [k for k in ("type", "block", "group") if k in data]
    if len(kinds) != 1:
        raise TorchgenError(f"{where} needs exactly one of type = ..., block = ... or group = ...")
    if kinds[0] == "type":
        return _layer(data, where, params)
    if kinds[0] == "block":
        return _call(data, where, params, block_names)
    if not allow_group:
        raise TorchgenError(f"{where}: groups are only allowed in the model's [[layers]]")
    _no_unknown_keys(data, ("group", "layers"), where)
    group = names.attribute_name(_str(data["group"], f"{where} group"), where=where)
    body = tuple(
        _node(sub, f"{where} layers[{i}]", params, block_names, allow_group=False)
        for i, sub in enumerate(_list(data.get("layers", []), f"{where} layers"))
    )
    if not body:
        raise TorchgenError(f"{where}: group {group!r} has no layers")
    return Group(name=group, body=body)


def _layer(data: dict[str, Any], where: str, params: dict[str, int]) -> Layer:
    layer_type = lookup(_str(data.get("type"), f"{where} type"))
    where = f"{where} ({layer_type.name})"
    name = data.get("name")
    if name is not None:
        names.attribute_name(_str(name, f"{where} name"), where=where)
    valid = {a.name: a for a in layer_type.args}
    args = []
    for key, value in data.items():
        if key in ("type", "name"):
            continue
        if key not in valid:
            hint = did_you_mean(key, valid) or (
                f"; it takes {', '.join(valid)}" if valid else "; it takes no arguments"
            )
            raise TorchgenError(f"{where}: unknown argument {key!r}{hint}")
        arg = valid[key]
        if (
            isinstance(value, str)
            and arg.kind in REFERABLE_KINDS
            and value not in ("same", "valid")
        ):
            if value not in params:
                declared = ", ".join(params) or "none declared"
                raise TorchgenError(
                    f"{where}: {key} = {value!r} is not a parameter ({declared}){did_you_mean(value, params)}"
                )
        else:
            expected = check_value(arg, value)
            if expected:
                raise TorchgenError(f"{where}: {key} must be {expected}, got {value!r}")
        args.append((key, tuple(value) if isinstance(value, list) else value))
    given = {k for k, _ in args}
    missing = [
        a.name
        for a in layer_type.args
        if a.required and a.name != layer_type.inferred and a.name not in given
    ]
    if missing:
        raise TorchgenError(f"{where}: missing required argument {', '.join(missing)}")
    return Layer(type=layer_type.name, args=tuple(args), name=name)


def _call(
    data: dict[str, Any], where: str, params: dict[str, int], block_names: tuple[str, ...]
) -> BlockCall:
    block = _str(data["block"], f"{where} block")
    if block not in block_names:
        raise TorchgenError(
            f"{where}: unknown block {block!r}{did_you_mean(block, block_names)}; "
            f"define it under [blocks.{block}]"
        )
    repeat = data.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
        raise TorchgenError(
            f"{where}: repeat must be an integer from 1 to {MAX_REPEAT}, got {repeat!r}"
        )
    name = data.get("name")
    if name is not None:
        names.attribute_name(_str(name, f"{where} name"), where=where)
    args = {k: v for k, v in data.items() if k not in CALL_KEYS}
    first = _table(data.get("first", {}), f"{where} first")
    for key, value in [*args.items(), *first.items()]:
        if not (isinstance(value, int) and not isinstance(value, bool)) and value not in params:
            raise TorchgenError(
                f"{where}: {key} must be an integer or a parameter name, got {value!r}"
            )
    return BlockCall(
        block=block, args=tuple(args.items()), repeat=repeat, first=tuple(first.items()), name=name
    )


def _check_no_cycles(blocks: tuple[Block, ...]) -> None:
    """No block contains itself, and none nests deeper than MAX_NESTING: one depth-first walk
    with an explicit stack (linear in the number of calls, whatever the depth)."""
    calls = {b.name: [n.block for n in b.body if isinstance(n, BlockCall)] for b in blocks}
    depth: dict[str, int] = {}  # finished blocks: how deep they nest
    for root, callees in calls.items():
        if root in depth:
            continue
        path: list[str] = [root]
        todo: list[list[str]] = [list(callees)]
        while path:
            if todo[-1]:
                callee = todo[-1].pop()
                if callee in path:
                    cycle = " -> ".join([*path[path.index(callee) :], callee])
                    raise TorchgenError(f"block {callee} contains itself ({cycle})")
                if callee not in depth:
                    path.append(callee)
                    todo.append(list(calls[callee]))
                continue
            done = path.pop()
            todo.pop()
            depth[done] = 1 + max((depth[c] for c in calls[done]), default=0)
            if depth[done] > MAX_NESTING:
                raise TorchgenError(
                    f"block {done} nests {depth[done]} blocks deep; at most {MAX_NESTING} "
                    "levels are supported"
                )


# ------------------------------------------------------------------------------------- helpers
def _params(data: Any, where: str, *, block: bool) -> dict[str, int]:
    table = _table(data, where)
    for key, value in table.items():
        names.parameter_name(key, where=where, block=block)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise TorchgenError(f"{where}: {key} must be a positive integer, got {value!r}")
    return dict(table)


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 4
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise TorchgenError(f"{where} must be a list of 1 to 4 positive integers, got {value!r}")
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
