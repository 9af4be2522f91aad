"""Forward as people write it: a value that only the next line reads is written into that line.

The templates write one call per line, each value named (``out = self.ln_1(x)``, ``out =
self.attn(out)``, ``x1 = x + out``); nanoGPT writes ``x = x + self.attn(self.ln_1(x))``. This
pass, on the rendered source before black, writes a call into the next statement where that is
the only read of its value, for as long as the line stays short and at most two calls deep.

It keeps what the code computes: the call is evaluated at the same point of the same order (no
call of the next statement that comes before it is moved behind it), and a value read again
later, a line with a comment, a statement over several lines and anything but a plain
assignment or return are left as they are.
"""

from __future__ import annotations

import ast

from torchscaffold.formatter import LINE_LENGTH

DEPTH = 2  # calls nested in one expression, at most: self.drop(self.c_proj(x))


def forward_temporaries(source: str) -> str:
    """``source`` with single-use values of every ``forward`` written into their reader."""
    lines = source.splitlines(keepends=True)
    for body in reversed(_forward_bodies(ast.parse(source))):
        _inline(lines, body)
    return "".join(lines)


def _forward_bodies(tree: ast.Module) -> list[list[ast.stmt]]:
    return [
        item.body
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef) and item.name == "forward"
    ]


def _inline(lines: list[str], body: list[ast.stmt]) -> None:
    """Merge pairs of ``body``'s statements in ``lines``, last first, so that earlier line
    numbers stay valid; a merged statement may be merged into its own next line again."""
    statements = [s for s in body if s.lineno == s.end_lineno]
    merged: dict[int, str] = {}  # line number -> the statement's text now
    for k in range(len(statements) - 2, -1, -1):
        first, then = statements[k], statements[k + 1]
        if then.lineno != first.lineno + 1 or not _simple(first) or not _reader(then):
            continue
        name = first.targets[0].id  # type: ignore[attr-defined]
        if _read_later(body, then, name):
            continue
        line = _code(lines[first.lineno - 1]).encode()
        text = merged.get(then.lineno, _code(lines[then.lineno - 1]))
        if _commented(line, first) or (then.lineno not in merged and _commented(text, then)):
            continue
        reader = ast.parse(text.strip()).body[0]
        use = _only_use(reader, name)
        if use is None or not _idiomatic(reader, use, first.value):
            continue
        value = line[first.value.col_offset : first.value.end_col_offset].decode()  # type: ignore[misc]
        indent = text[: len(text) - len(text.lstrip())]
        new = indent + _splice(text.strip(), use, value)
        if len(new) > LINE_LENGTH or _depth(ast.parse(new.strip())) > DEPTH:
            continue
        merged[first.lineno] = new
        lines[first.lineno - 1] = new + "\n"
        del lines[then.lineno - 1]
        merged.pop(then.lineno, None)


def _code(line: str) -> str:
    return line.rstrip("\n")


def _simple(s: ast.stmt) -> bool:
    """``name = ...``: one name bound."""
    return isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)


def _is_name(s: ast.stmt, name: str) -> bool:
    value = getattr(s, "value", None)
    return isinstance(value, ast.Name) and value.id == name


def _reader(s: ast.stmt) -> bool:
    return isinstance(s, (ast.Assign, ast.Return)) and getattr(s, "value", None) is not None


def _read_later(body: list[ast.stmt], after: ast.stmt, name: str) -> bool:
    """Whether a statement after ``after`` reads ``name`` before binding it again (``after``
    itself binding it counts: ``x = self.gelu(x)`` ends the old ``x``)."""
    rebinds = _binds(after, name)
    for s in body[body.index(after) + 1 :]:
        if rebinds:
            return False
        if any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
               for n in ast.walk(s)):  # fmt: skip
            return True
        rebinds = _binds(s, name)
    return False


def _binds(s: ast.stmt, name: str) -> bool:
    targets = s.targets if isinstance(s, ast.Assign) else []
    return any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t))


def _only_use(s: ast.stmt, name: str) -> ast.Name | None:
    """The one read of ``name`` in ``s``'s value, where no call is evaluated before it but
    the ones it is an argument of; else None."""
    value = s.value  # type: ignore[attr-defined]
    uses = [n for n in ast.walk(value) if isinstance(n, ast.Name) and n.id == name]
    if len(uses) != 1:
        return None
    use = uses[0]
    for node in ast.walk(value):
        if isinstance(node, (ast.Lambda, ast.comprehension, ast.NamedExpr)):
            return None
        if isinstance(node, ast.Call) and not _encloses(node, use) and _before(node, use):
            return None
    return use


def _idiomatic(reader: ast.stmt, use: ast.Name, value: ast.expr) -> bool:
    """Where hand-written PyTorch writes a call into the next line: returned as it is
    (``return self.drop(x)``), a method called on it (``self.c_attn(x).split(...)``,
    ``q.unflatten(...).transpose(1, 2)``), or the branch added to a residual
    (``x + self.attn(self.ln_1(x))``). Not a chain of layers, which torchvision writes a
    line each."""
    if isinstance(reader, ast.Return) and reader.value is use:
        return True
    if not isinstance(value, ast.Call):
        return False  # an operator: only as the whole value (no parentheses to add)
    parents = {id(c): p for p in ast.walk(reader) for c in ast.iter_child_nodes(p)}
    node: ast.AST = use
    while True:
        parent = parents.get(id(node))
        if isinstance(parent, ast.Attribute) and isinstance(parents.get(id(parent)), ast.Call):
            return parents[id(parent)].func is parent  # type: ignore[attr-defined]
        if isinstance(parent, ast.BinOp):
            return parent.right is node and isinstance(parent.left, ast.Name)
        if not (isinstance(parent, ast.Call) and node in parent.args):
            return False
        node = parent  # an argument of a call: that call's place decides


def _encloses(outer: ast.AST, inner: ast.AST) -> bool:
    return any(n is inner for n in ast.walk(outer))


def _before(a: ast.AST, b: ast.AST) -> bool:
    return (a.end_lineno, a.end_col_offset) <= (b.lineno, b.col_offset)  # type: ignore[attr-defined]


def _commented(line: str | bytes, s: ast.stmt) -> bool:
    """Whether anything (a comment) follows the statement on its line."""
    raw = line.encode() if isinstance(line, str) else line
    return bool(raw[s.end_col_offset :].strip())  # type: ignore[misc]


def _splice(text: str, use: ast.Name, value: str) -> str:
    # One line, parsed on its own: offsets count UTF-8 bytes from the statement's start.
    raw = text.encode()
    return (raw[: use.col_offset] + value.encode() + raw[use.end_col_offset :]).decode()  # type: ignore[misc]


def _depth(node: ast.AST) -> int:
    """How many calls deep the statement nests (a method called on a call's result counts)."""
    inner = max((_depth(child) for child in ast.iter_child_nodes(node)), default=0)
    return inner + isinstance(node, ast.Call)
