"""A description as TOML: the inverse of ``spec.loader``, so that a preset or an ejected model
can be written out, edited, and generated again (``--emit-spec``).

``load(dump(model))`` gives the model back; tests/test_spec_dump.py checks it for every preset.
"""

from __future__ import annotations

import json
import math
from typing import Any

from torchscaffold.spec.expr import Expr, to_source
from torchscaffold.spec.ir import Block, Model, Step, Tensor


def dump(model: Model) -> str:
    """The TOML text of ``model`` (its class name is the CLI's NAME, so it is not written)."""
    lines = ["[model]"]
    if len(model.inputs) == 1 and model.inputs[0].name == "x":
        only = model.inputs[0]
        lines.append(f"input = {_value(list(only.shape))}")
        if only.dtype:
            lines.append(f"dtype = {_value(only.dtype)}")
    else:
        inputs = {i.name: {"shape": list(i.shape), "dtype": i.dtype} for i in model.inputs}
        lines.append(f"inputs = {_value(inputs)}")
    if model.lengths:
        lines.append(f"lengths = {_value(dict(model.lengths))}")
    main = model.main
    params = [(k, v) for k, v in main.params if k != model.input_param]
    lines += _class_keys(main, params)
    if model.doc:
        lines.append(f"doc = {_value(model.doc)}")
    for step in main.steps:
        lines += ["", "[[layers]]", *_step_lines(step)]
    for block in model.blocks:
        lines += ["", f"[blocks.{block.name}]"]
        if block.inputs != ("x",):
            lines.append(f"inputs = {_value(list(block.inputs))}")
        lines += _class_keys(block, list(block.params))
        if block.residual:
            lines.append("residual = true")
            if not block.projection:
                lines.append("projection = false")
            if block.shortcut != "shortcut":
                lines.append(f"shortcut = {_value(block.shortcut)}")
        if block.doc:
            lines.append(f"doc = {_value(block.doc)}")
        lines.append("layers = [")
        lines += [f"  {_inline(_step_table(s))}," for s in block.steps]
        lines.append("]")
        if block.after:
            lines.append("after = [")
            lines += [f"  {_inline(_step_table(s))}," for s in block.after]
            lines.append("]")
    return "\n".join(lines) + "\n"


def _class_keys(cls: Block, params: list[tuple[str, Any]]) -> list[str]:
    lines = []
    if params:
        lines.append(f"params = {_value(dict(params))}")
    if cls.lets:
        lines.append(f"let = {_value({k: e for k, e in cls.lets})}")
    if cls.tensors:
        lines.append(f"tensors = {_value({t.name: _tensor(t) for t in cls.tensors})}")
    if cls.ties:
        lines.append(f"ties = {_value(dict(cls.ties))}")
    if cls.outputs is not None:
        lines.append(f"outputs = {_value(list(cls.outputs))}")
    return lines


def _tensor(t: Tensor) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(t.shape)}
    if t.init != "zeros":
        out["init"] = t.init
    if t.init == "normal" and t.std != 0.02:
        out["std"] = t.std
    if t.buffer != (t.init == "tril"):
        out["buffer"] = t.buffer
    if not t.persistent:
        out["persistent"] = False
    if t.dtype != "float32":
        out["dtype"] = t.dtype
    return out


def _step_table(step: Step) -> dict[str, Any]:
    kind = {"layer": "type", "op": "op", "block": "block", "group": "group"}[step.kind]
    table: dict[str, Any] = {kind: step.target}
    if step.name is not None and step.kind != "group":
        table["name"] = step.name
    if step.inputs is not None:
        table["in"] = step.inputs[0] if len(step.inputs) == 1 else list(step.inputs)
    if step.outputs is not None:
        table["out"] = step.outputs[0] if len(step.outputs) == 1 else list(step.outputs)
    if step.when is not None:
        table["when"] = step.when
        if step.otherwise is not None:
            table["otherwise"] = step.otherwise
    if step.kind == "block":
        if step.repeat != 1:
            table["repeat"] = step.repeat
        if step.first:
            table["first"] = dict(step.first)
        if step.instance_names is not None:
            table["instance_names"] = step.instance_names
    table.update(dict(step.args))
    if step.call:
        table["call"] = dict(step.call)
    if step.kind == "group":
        table["layers"] = [_step_table(s) for s in step.body]
    return table


def _step_lines(step: Step) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in _step_table(step).items()]


def _inline(table: dict[str, Any]) -> str:
    return _value(table)


def _key(key: str) -> str:
    return key if key.replace("_", "a").isalnum() else json.dumps(key)


def _value(v: Any) -> str:
    if isinstance(v, Expr):
        return json.dumps(to_source(v))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    if v is None:
        raise ValueError("TOML has no None: leave the key out")  # pragma: no cover
    raise TypeError(f"no TOML for {v!r}")  # pragma: no cover - a dumper bug
