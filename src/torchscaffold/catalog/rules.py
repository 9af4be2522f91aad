"""Shape maths of the layers, in pure Python: per sample (no batch dimension), values only.

Each rule takes the input's shape and the layer's arguments (defaults filled in) and returns the
output's shape, or raises ``ShapeError`` with what does not fit. tests/test_layers_vs_torch.py
checks every rule against torch on the meta device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from torchscaffold.catalog.types import (
    VARYING,
    Args,
    Dim,
    Dims,
    Shape,
    ShapeError,
    collected,
    combine,
    fmt,
    multiply,
    powers,
    tracked,
)
from torchscaffold.spec.expr import BinOp, Expr, Lit, Name, simplify

INT32_MAX = 2**31 - 1


def as_tuple(value: Any, n: int) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def per_dim(a: Args, name: str, n: int, value: Any = None) -> tuple[Any, ...]:
    """Argument ``name`` as one value per spatial dimension: an int, or a list of exactly ``n``.

    torch broadcasts a one-element list for pooling but not for convolution; torchgen asks for
    the plain int in both cases, so the rule stays one rule."""
    value = a[name] if value is None else value
    t = as_tuple(value, n)
    if len(t) != n:
        raise ShapeError(f"{name} must be a number or a list of {n}, got {list(t)}")
    return t


def conv_dims(shape: Shape, a: Args, n: int, transposed: bool = False) -> Shape:
    if len(shape) != n + 1:
        raise ShapeError(f"expects input of shape (C, {spatial_names(n)}), got {fmt(shape)}")
    k, s, d = (per_dim(a, x, n) for x in ("kernel_size", "stride", "dilation"))
    groups = a["groups"]
    for arg in ("in_channels", "out_channels"):
        if a[arg] % groups:
            raise ShapeError(f"{arg}={a[arg]} is not divisible by groups={groups}")
    if transposed:
        p = per_dim(a, "padding", n)
        op = per_dim(a, "output_padding", n)
        out = []
        for size, ki, si, pi, di, opi in zip(shape[1:], k, s, p, d, op):
            if opi >= max(si, di):
                raise ShapeError(f"output_padding={opi} must be smaller than stride or dilation")
            out.append((size - 1) * si - 2 * pi + di * (ki - 1) + opi + 1)
    else:
        pad = a["padding"]
        if pad == "same":
            if any(si != 1 for si in s):
                raise ShapeError("padding='same' requires stride=1")
            p = tuple(-(-di * (ki - 1) // 2) for ki, di in zip(k, d))  # the larger side
        else:
            p = (0,) * n if pad == "valid" else per_dim(a, "padding", n)
        mode = a["padding_mode"]
        for size, pi in zip(shape[1:], p):
            if (mode == "reflect" and pi >= size) or (mode == "circular" and pi > size):
                raise ShapeError(
                    f"padding={pi} in {mode!r} mode does not fit an input of size {size}"
                )
        if pad == "same":
            return (a["out_channels"], *shape[1:])
        out = []
        for size, ki, si, pi, di in zip(shape[1:], k, s, p, d):
            span = di * (ki - 1) + 1
            if size + 2 * pi < span:
                raise ShapeError(
                    f"kernel of size {span} (dilated) is bigger than the padded input "
                    f"{size + 2 * pi}"
                )
            out.append((size + 2 * pi - span) // si + 1)
    if any(o <= 0 for o in out):
        raise ShapeError(f"output size {fmt(tuple(out))} is not positive")
    return (a["out_channels"], *out)


def conv_params(n: int, transposed: bool = False) -> Callable[[Args], int]:
    def count(a: Args) -> int:
        k = math.prod(as_tuple(a["kernel_size"], n))
        if transposed:
            weight = a["in_channels"] * (a["out_channels"] // a["groups"]) * k
        else:
            weight = a["out_channels"] * (a["in_channels"] // a["groups"]) * k
        return weight + (a["out_channels"] if a["bias"] else 0)

    return count


def pool_dims(
    shape: Shape, a: Args, n: int, dilation: bool, kernel_within_input: bool = False
) -> Shape:
    """``kernel_within_input``: the kernel must fit the input without its padding (torch's
    avg_pool3d checks that, the other poolings only that the output is not empty)."""
    if len(shape) != n + 1:
        raise ShapeError(f"expects input of shape (C, {spatial_names(n)}), got {fmt(shape)}")
    k = per_dim(a, "kernel_size", n)
    if kernel_within_input and any(size < ki for size, ki in zip(shape[1:], k)):
        raise ShapeError(f"kernel {list(k)} is bigger than the input {fmt(shape[1:])}")
    s = per_dim(a, "stride", n) if a["stride"] is not None else k
    p = per_dim(a, "padding", n)
    d = per_dim(a, "dilation", n) if dilation else (1,) * n
    for name, sizes in (("kernel_size", k), ("stride", s), ("padding", p), ("dilation", d)):
        if any(v > INT32_MAX for v in sizes):
            # torch's CPU pooling kernels hold these in 32 bits ("cannot be converted to type
            # int without overflow"); the meta kernels do not check.
            raise ShapeError(f"{name} {list(sizes)} is more than pooling takes ({INT32_MAX:,})")
    out = []
    for size, ki, si, pi, di in zip(shape[1:], k, s, p, d):
        if pi > ki // 2:
            raise ShapeError(f"padding={pi} must be at most half the kernel size {ki}")
        # torch's pooling_output_shape: in ceil mode the last window may run past the end, as
        # long as it starts inside the (left-padded) input.
        span = di * (ki - 1) + 1
        numerator = size + 2 * pi - span + (si - 1 if a["ceil_mode"] else 0)
        o = numerator // si + 1
        if a["ceil_mode"] and (o - 1) * si >= size + pi:
            o -= 1
        if o <= 0:
            raise ShapeError(
                f"kernel of size {span} is bigger than the padded input {size + 2 * pi}"
            )
        out.append(o)
    if any(o <= 0 for o in out):
        raise ShapeError(f"output size {fmt(tuple(out))} is not positive")
    return (shape[0], *out)


def adaptive(shape: Shape, a: Args, n: int) -> Shape:
    if len(shape) != n + 1:
        raise ShapeError(f"expects input of shape (C, {spatial_names(n)}), got {fmt(shape)}")
    size = per_dim(a, "output_size", n)
    return (shape[0], *(s if o is None else o for s, o in zip(shape[1:], size)))


def linear(shape: Shape, a: Args) -> Shape:
    return (*shape[:-1], a["out_features"])


def flatten(shape: Shape, a: Args) -> Shape:
    # start_dim/end_dim count the batch dimension, as in torch.
    full = (1, *shape)
    for name in ("start_dim", "end_dim"):
        if not -len(full) <= a[name] < len(full):
            raise ShapeError(
                f"{name}={a[name]} is out of range for a batch of rank {len(full)} "
                f"(from {-len(full)} to {len(full) - 1})"
            )
    start, end = a["start_dim"] % len(full), a["end_dim"] % len(full)
    if start > end:
        raise ShapeError(f"start_dim={a['start_dim']} comes after end_dim={a['end_dim']}")
    if start == 0:
        raise ShapeError("start_dim=0 would flatten the batch dimension")
    merged = (*full[:start], math.prod(full[start : end + 1]), *full[end + 1 :])
    return merged[1:]


def same(shape: Shape, a: Args) -> Shape:
    return shape


def channels(shape: Shape, a: Args, ranks: tuple[int, ...], what: str) -> Shape:
    if len(shape) not in ranks:
        raise ShapeError(f"expects input of shape {what}, got {fmt(shape)}")
    return shape


def groupnorm(shape: Shape, a: Args) -> Shape:
    if a["num_channels"] % a["num_groups"]:
        raise ShapeError(
            f"num_channels={a['num_channels']} is not divisible by num_groups={a['num_groups']}"
        )
    return shape


def layernorm(shape: Shape, a: Args) -> Shape:
    normalized = as_tuple(a["normalized_shape"], 1)
    if tuple(shape[len(shape) - len(normalized) :]) != tuple(normalized):
        raise ShapeError(
            f"normalized_shape={list(normalized)} does not match the last dimensions of "
            f"{fmt(shape)}"
        )
    return shape


def softmax(shape: Shape, a: Args) -> Shape:
    dim = a["dim"]
    if not -(len(shape) + 1) <= dim <= len(shape):
        raise ShapeError(f"dim={dim} is out of range for a batch of shape (N, {fmt(shape)[1:]}")
    return shape


def embedding(shape: Shape, a: Args) -> Shape:
    pad = a["padding_idx"]
    if pad is not None and not -a["num_embeddings"] <= pad < a["num_embeddings"]:
        raise ShapeError(f"padding_idx={pad} is outside the {a['num_embeddings']} embeddings")
    return (*shape, a["embedding_dim"])


def upsample(shape: Shape, a: Args) -> Shape:
    n = len(shape) - 1
    if n not in (1, 2, 3):
        raise ShapeError(
            f"expects input of shape (C, L), (C, H, W) or (C, D, H, W), got {fmt(shape)}"
        )
    size, scale = a["size"], a["scale_factor"]
    if (size is None) == (scale is None):
        raise ShapeError("give exactly one of size and scale_factor")
    modes = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
    if a["mode"] in modes and modes[a["mode"]] != n:
        raise ShapeError(f"mode={a['mode']!r} needs {modes[a['mode']]} spatial dimensions, got {n}")
    if a["align_corners"] is not None and a["mode"] not in modes:
        raise ShapeError(
            f"align_corners only applies to the interpolating modes, not {a['mode']!r}"
        )
    if size is not None:
        out = per_dim(a, "size", n)
    else:
        factors = per_dim(a, "scale_factor", n)
        out = tuple(math.floor(s * f) for s, f in zip(shape[1:], factors))
    if any(o <= 0 for o in out):
        raise ShapeError(f"output size {fmt(out)} is not positive")
    return (shape[0], *out)


def instance_norm(shape: Shape, a: Args, n: int) -> Shape:
    what = f"(C, {spatial_names(n)})"
    if len(shape) != n + 1:
        raise ShapeError(f"expects input of shape {what}, got {fmt(shape)}")
    if math.prod(shape[1:]) == 1:
        # torch normalises each (sample, channel) over its own values while training.
        raise ShapeError(f"instance norm needs more than one value per channel, got {fmt(shape)}")
    return shape


def prelu(shape: Shape, a: Args) -> Shape:
    count = a["num_parameters"]
    if count != 1 and count != shape[0]:
        raise ShapeError(f"num_parameters={count} must be 1 or the number of channels ({shape[0]})")
    return shape


def pixel_shuffle(shape: Shape, a: Args) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"expects input of shape (C, H, W), got {fmt(shape)}")
    r = a["upscale_factor"]
    c, h, w = shape
    if c % (r * r):
        raise ShapeError(f"{c} channels are not divisible by upscale_factor**2={r * r}")
    return (c // (r * r), h * r, w * r)


def pixel_unshuffle(shape: Shape, a: Args) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"expects input of shape (C, H, W), got {fmt(shape)}")
    r = a["downscale_factor"]
    c, h, w = shape
    if h % r or w % r:
        raise ShapeError(f"height {h} and width {w} must be divisible by downscale_factor={r}")
    return (c * r * r, h // r, w // r)


def pad(shape: Shape, a: Args, n: int) -> Shape:
    """Constant padding of the last ``n`` dimensions: ``padding`` is one number, or (left,
    right) for the last dimension, then (top, bottom) for the one before, as ``F.pad`` reads
    it. A negative amount crops."""
    if len(shape) < n:
        raise ShapeError(f"expects input of at least {n} dimensions, got {fmt(shape)}")
    amounts = as_tuple(a["padding"], 2 * n)
    if len(amounts) != 2 * n:
        sides = "(left, right)" if n == 1 else "(left, right, top, bottom)"
        raise ShapeError(f"padding must be a number or a list of {2 * n}: {sides}")
    out = list(shape)
    for i in range(n):
        before, after = amounts[2 * i], amounts[2 * i + 1]
        size = shape[-1 - i]
        if size + min(before, 0) + min(after, 0) < 0:
            raise ShapeError(f"padding {[before, after]} crops more than the size {size}")
        out[-1 - i] = size + before + after
    if any(o <= 0 for o in out):
        raise ShapeError(f"output size {fmt(tuple(out))} is not positive")
    return tuple(out)


def unflatten_layer(shape: Shape, a: Args) -> Shape:
    """``nn.Unflatten``: ``dim`` counts the batch dimension, as in torch (and Flatten)."""
    full = (Dim.literal(1), *map(Dim.literal, shape))
    if axis(a["dim"], len(full), "dim") == 0:
        raise ShapeError("dim=0 would unflatten the batch dimension")
    sizes = [Dim.literal(s) for s in a["unflattened_size"]]
    return tuple(d.value for d in unflatten(full, a["dim"], sizes)[1:])


def unflatten_layer_dims(dims: Dims, a: Args, given: Args) -> Dims:
    """Unflatten's output with expressions: the sizes as given (parameters kept), a -1 as the
    quotient, the other dims unchanged."""
    raw = given.get("unflattened_size", a["unflattened_size"])
    sizes = [s if isinstance(s, Dim) else Dim.literal(s) for s in raw]
    return unflatten((Dim.literal(1), *dims), a["dim"], sizes)[1:]


def spatial_names(n: int) -> str:
    return {1: "L", 2: "H, W", 3: "D, H, W"}[n]


# ----------------------------------------------------------------------- dims, with expressions
# The rules below work on whole values, batch dimension included (as torch code counts
# dimensions), and keep each dimension's expression: a concatenation of 64 and ``width``
# channels has ``64 + width`` of them.


def product(dims: Dims) -> Dim:
    out = Dim.literal(1)
    for d in dims:
        out = combine("*", out, d, out.value * d.value)
    return out


def axis(dim: int, rank: int, what: str = "dim") -> int:
    """``dim`` counted from 0 (negative from the end), checked against ``rank``."""
    if not -rank <= dim < rank:
        raise ShapeError(f"{what}={dim} is out of range for {rank} dimensions")
    return dim % rank


def flatten_dims(dims: Dims, a: Args, given: Args) -> Dims:
    """Flatten's output with expressions: the merged dimension is the product of its parts."""
    full = (Dim.literal(1), *dims)
    start, end = a["start_dim"] % len(full), a["end_dim"] % len(full)
    return (*full[1:start], product(full[start : end + 1]), *full[end + 1 :])


def flatten_full(dims: Dims, start: int, end: int) -> Dims:
    start, end = axis(start, len(dims), "start_dim"), axis(end, len(dims), "end_dim")
    if start > end:
        raise ShapeError(f"start_dim={start} comes after end_dim={end}")
    return (*dims[:start], product(dims[start : end + 1]), *dims[end + 1 :])


def same_dim(a: Dim, b: Dim) -> bool:
    """Whether two dimensions are the same size in every instance: equal numbers, and the batch
    (or a variable length) only where the other is the same symbol."""
    if a.varying or b.varying:
        return a.expr == b.expr or _in_any_order(a.expr) == _in_any_order(b.expr)
    return a.value == b.value


def _in_any_order(expr: Expr) -> tuple[list[tuple[str, int]], Fraction]:
    """A product's factors, in an order of their own, and its number (``4 * B`` is ``B * 4``);
    a factor over itself cancels (``B * w // w`` is ``B``)."""
    count, number = collected(powers(expr))
    return sorted((repr(f), p) for f, p in count.items() if p), number


def broadcast(shapes: list[Dims]) -> Dims:
    """torch's broadcasting: align on the right; each dimension equal or 1."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(-rank, 0):
        present = [s[i] for s in shapes if len(s) >= -i]
        sized = [d for d in present if not (d.value == 1 and not d.varying)]
        if not sized:
            out.append(present[0])
            continue
        first = sized[0]
        if any(not same_dim(first, d) for d in sized[1:]):
            raise ShapeError(
                "shapes " + " and ".join(fmt_dims(s) for s in shapes) + " do not broadcast"
            )
        out.append(first)
    return tuple(out)


def concat(shapes: list[Dims], dim: int) -> Dims:
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise ShapeError(
            "cannot concatenate values of different ranks: " + ", ".join(map(fmt_dims, shapes))
        )
    d = axis(dim, rank)
    for s in shapes[1:]:
        for i, (x, y) in enumerate(zip(shapes[0], s)):
            if i != d and not same_dim(x, y):
                raise ShapeError(
                    f"cannot concatenate {fmt_dims(shapes[0])} and {fmt_dims(s)} along dim "
                    f"{dim}: they differ in dim {i}"
                )
    total = shapes[0][d]
    for s in shapes[1:]:
        total = combine("+", total, s[d], total.value + s[d].value)
    return (*shapes[0][:d], total, *shapes[0][d + 1 :])


def split(dims: Dims, size: Any, dim: int) -> tuple[Dims, ...]:
    """``x.split(size, dim)``: pieces of ``size`` (the last may be smaller), or of the sizes
    listed."""
    d = axis(dim, len(dims))
    whole = dims[d]
    if whole.varying:
        raise ShapeError(f"cannot split dim {dim}: its size varies at run time")
    if isinstance(size, (list, tuple)):
        sizes = list(size)
        if sum(s.value for s in sizes) != whole.value:
            raise ShapeError(
                f"split sizes {[s.value for s in sizes]} do not add up to dim {dim} of "
                f"{fmt_dims(dims)}"
            )
    else:
        if size.value < 1:
            raise ShapeError(f"split size must be positive, got {size.value}")
        count, rest = divmod(whole.value, size.value)
        sizes = [size] * count + ([Dim.literal(rest)] if rest else [])
    return tuple((*dims[:d], s, *dims[d + 1 :]) for s in sizes)


def chunk(dims: Dims, chunks: int, dim: int) -> tuple[Dims, ...]:
    d = axis(dim, len(dims))
    whole = dims[d]
    if whole.varying:
        raise ShapeError(f"cannot chunk dim {dim}: its size varies at run time")
    if chunks < 1:
        raise ShapeError(f"chunks must be positive, got {chunks}")
    size = -(-whole.value // chunks)
    if whole.value % chunks == 0 and not isinstance(whole.expr, Lit):
        piece = Dim(size, simplify(BinOp("//", whole.expr, Lit(chunks))))
    else:
        piece = Dim.literal(size)
    count, rest = divmod(whole.value, size)
    pieces = [piece] * count + ([Dim.literal(rest)] if rest else [])
    return tuple((*dims[:d], p, *dims[d + 1 :]) for p in pieces)


def transpose(dims: Dims, dim0: int, dim1: int) -> Dims:
    a, b = axis(dim0, len(dims), "dim0"), axis(dim1, len(dims), "dim1")
    out = list(dims)
    out[a], out[b] = out[b], out[a]
    return tuple(out)


def permute(dims: Dims, order: Any) -> Dims:
    order = [axis(o, len(dims), "dims") for o in order]
    if sorted(order) != list(range(len(dims))):
        raise ShapeError(f"dims {list(order)} is not a permutation of {len(dims)} dimensions")
    return tuple(dims[o] for o in order)


def reshape(dims: Dims, shape: list[Dim]) -> Dims:
    """``x.reshape(shape)``: at most one -1, and the same number of elements."""
    unknown = [i for i, s in enumerate(shape) if s.value == -1 and not s.varying]
    if len(unknown) > 1:
        raise ShapeError("only one dimension can be -1")
    if any(s.value < 1 and i not in unknown for i, s in enumerate(shape)):
        raise ShapeError(f"shape {[s.value for s in shape]} has a size below 1")
    total = product(dims)
    known = product(tuple(s for i, s in enumerate(shape) if i not in unknown))
    if unknown:
        if total.value % known.value:
            raise ShapeError(
                f"cannot reshape {fmt_dims(dims)} to {[s.value for s in shape]}: "
                f"{total.value} elements do not divide by {known.value}"
            )
        rest = total.value // known.value
        out = list(shape)
        # The inferred size keeps an expression when both sides have one.
        if total.varying or known.varying:
            out[unknown[0]] = _cancel(dims, shape, unknown[0], rest)
        else:
            out[unknown[0]] = Dim(rest, simplify(BinOp("//", total.expr, known.expr)))
        return tuple(out)
    if total.value != known.value:
        raise ShapeError(
            f"cannot reshape {fmt_dims(dims)} ({total.value} elements) to "
            f"{[s.value for s in shape]} ({known.value} elements)"
        )
    return tuple(shape)


def _cancel(dims: Dims, shape: list[Dim], at: int, value: int) -> Dim:
    """The size a -1 stands for where a size on either side is known only at run time: the
    factors both sides share cancel (``x.reshape(x.size(0), -1)``: the batch), and so do their
    numbers; what is left is the size: a batch times windows split back into the batch,
    ``B * 4`` tokens into their channels, ``B // windows`` where a mask is added per window."""
    left = [(f, p) for d in dims for f, p in powers(d.expr)]
    right = [(f, -p) for i, s in enumerate(shape) if i != at for f, p in powers(s.expr)]
    count, number = collected(left + right)
    num = [f for f, p in count.items() for _ in range(max(p, 0))]
    den = [f for f, p in count.items() for _ in range(max(-p, 0))]
    varying = any(Dim(0, f).varying for f in num + den)
    if not den and number.denominator == 1 and tracked(multiply(num)):
        if all(p == 1 for f, p in left if isinstance(f, Lit)) and not any(
            isinstance(f, Lit) for f, _ in right
        ):
            # The input's own order, its numbers where they stand: ``in_channels * 7 * 7``.
            kept = []
            for f, _ in left:
                if isinstance(f, Lit) or count.get(f, 0) > 0:
                    kept.append(f)
                    count[f] = count.get(f, 0) - 1
            return Dim(value, multiply(kept))
        return Dim(value, multiply(num, int(number)))
    if varying:
        # Sizes fixed per instance may cancel though their code does not show it.
        found = _fixed_sizes_cancel(dims, [s for i, s in enumerate(shape) if i != at], value)
        quotient = BinOp("//", multiply(num, number.numerator), multiply(den, number.denominator))
        if found.expr == Name(VARYING) and any(Dim(0, f).varying for f in num):
            return Dim(value, quotient) if tracked(quotient) else found
        return found
    lp, rp = multiply(num, number.numerator), multiply(den, number.denominator)
    return Dim(value, simplify(BinOp("//", lp, rp)))


def _fixed_sizes_cancel(dims: Dims, given: list[Dim], value: int) -> Dim:
    """Where the sizes fixed per instance cancel though their code does not show it
    (``(h // 7) * 7`` against ``h``, h a multiple of 7): if the input's hold as many values as
    the shape's, the size is the input's run-time sizes, at every batch, in this instance."""
    run = [d for d in dims if d.varying]
    for s in [s for s in given if s.varying]:
        if s in run:
            run.remove(s)
            given.remove(s)
    fixed = math.prod(d.value for d in dims if not d.varying)
    if any(s.varying for s in given) or fixed != math.prod(s.value for s in given):
        return Dim(value, Name(VARYING))
    expr = multiply([d.expr for d in run])
    return Dim(value, expr if tracked(expr) else Name(VARYING))


def unflatten(dims: Dims, dim: int, sizes: list[Dim]) -> Dims:
    d = axis(dim, len(dims))
    return (*dims[:d], *reshape((dims[d],), sizes), *dims[d + 1 :])


def reduce(dims: Dims, dim: Any, keepdim: bool) -> Dims:
    """``mean``/``sum``/``amax`` over ``dim`` (an int or a list of them)."""
    targets = {axis(x, len(dims)) for x in (dim if isinstance(dim, (list, tuple)) else [dim])}
    if keepdim:
        return tuple(Dim.literal(1) if i in targets else d for i, d in enumerate(dims))
    return tuple(d for i, d in enumerate(dims) if i not in targets)


def select(dims: Dims, dim: int, index: int) -> Dims:
    d = axis(dim, len(dims))
    if not dims[d].varying and not -dims[d].value <= index < dims[d].value:
        raise ShapeError(f"index {index} is out of range for dim {dim} of size {dims[d].value}")
    return (*dims[:d], *dims[d + 1 :])


def narrow(dims: Dims, dim: int, start: Dim, length: Dim | None, stop: int | None = None) -> Dims:
    """``length`` None: to the end (``x[:, start:]``), or to ``stop`` counted from the end
    (``x[:, start:-1]``). ``start`` may be a size read at run time (pit's ``x[:, tokens:]``)."""
    d = axis(dim, len(dims))
    if start.value < 0:
        raise ShapeError(f"start={start.value} must not be negative")
    if length is None:
        if stop is not None and stop >= 0:
            raise ShapeError(f"stop={stop} must count from the end (below 0); give length")
        cut_value = start.value - (stop or 0)
        if not dims[d].varying and cut_value >= dims[d].value:
            raise ShapeError(
                f"[{start.value}:{stop or ''}] leaves nothing of a dim of size {dims[d].value}"
            )
        cut = combine("-", start, Dim.literal(stop), cut_value) if stop else start
        rest = dims[d].value - cut_value
        length = combine("-", dims[d], cut, rest) if cut_value else dims[d]
    if not dims[d].varying and start.value + length.value > dims[d].value:
        raise ShapeError(
            f"narrow({dim}, {start.value}, {length.value}) runs past the end of a dim of size "
            f"{dims[d].value}"
        )
    return (*dims[:d], length, *dims[d + 1 :])


def every(dims: Dims, dim: int, step: Dim) -> Dims:
    """Every ``step``-th position along ``dim`` (``x[:, ::2]``): ceil(size / step) of them."""
    if step.value < 1:
        raise ShapeError(f"step={step.value} must be positive")
    if step.value == 1:
        return dims
    d = axis(dim, len(dims))
    count = -(-dims[d].value // step.value)
    kept = Dim(count, Name(VARYING)) if dims[d].varying else Dim.literal(count)
    return (*dims[:d], kept, *dims[d + 1 :])


def matmul(a: Dims, b: Dims) -> Dims:
    if len(a) < 1 or len(b) < 1:
        raise ShapeError("matmul needs values of at least one dimension")
    if len(a) == 1 and len(b) == 1:
        if not same_dim(a[0], b[0]):
            raise ShapeError(f"matmul of {fmt_dims(a)} and {fmt_dims(b)}: sizes differ")
        return ()
    left = (Dim.literal(1), *a) if len(a) == 1 else a
    right = (*b, Dim.literal(1)) if len(b) == 1 else b
    if not same_dim(left[-1], right[-2]):
        raise ShapeError(
            f"matmul of {fmt_dims(a)} and {fmt_dims(b)}: {left[-1].value} columns against "
            f"{right[-2].value} rows"
        )
    batch = broadcast([left[:-2], right[:-2]]) if left[:-2] or right[:-2] else ()
    out = (*batch, left[-2], right[-1])
    if len(a) == 1:
        out = (*out[:-2], out[-1])
    if len(b) == 1:
        out = out[:-1]
    return out


def fmt_dims(dims: Dims) -> str:
    """A value's shape in messages: the batch shows as N."""
    return "(" + ", ".join("N" if d.is_batch else str(d.value) for d in dims) + ")"


# ---------------------------------------------------------------------- recurrence, attention
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent(kind: str) -> Callable[[tuple[Shape, ...], Args], tuple[tuple[Shape, int], ...]]:
    """RNN/GRU/LSTM on a per-sample (L, input_size) sequence: the output sequence, then the
    final hidden state (and cell state), whose batch sits at axis 1 whatever batch_first."""

    def outputs(shapes: tuple[Shape, ...], a: Args) -> tuple[tuple[Shape, int], ...]:
        (shape,) = shapes
        if len(shape) != 2:
            raise ShapeError(f"expects a sequence of shape (L, features), got {fmt(shape)}")
        if shape[1] != a["input_size"]:
            raise ShapeError(f"input_size={a['input_size']} does not match {fmt(shape)}")
        proj = a.get("proj_size", 0)
        if proj and proj >= a["hidden_size"]:
            raise ShapeError(
                f"proj_size={proj} must be smaller than hidden_size={a['hidden_size']}"
            )
        directions = 2 if a["bidirectional"] else 1
        out = proj or a["hidden_size"]
        seq_axis = 0 if a["batch_first"] else 1
        states = directions * a["num_layers"]
        result: list[tuple[Shape, int]] = [((shape[0], directions * out), seq_axis)]
        result.append(((states, out), 1))
        if kind == "LSTM":
            result.append(((states, a["hidden_size"]), 1))
        return tuple(result)

    return outputs


def recurrent_params(kind: str) -> Callable[[Args], int]:
    def count(a: Args) -> int:
        gates, hidden = GATES[kind], a["hidden_size"]
        proj = a.get("proj_size", 0)
        out = proj or hidden
        directions = 2 if a["bidirectional"] else 1
        total = 0
        for layer in range(a["num_layers"]):
            size_in = a["input_size"] if layer == 0 else directions * out
            per = gates * hidden * (size_in + out) + (2 * gates * hidden if a["bias"] else 0)
            per += proj * hidden if proj else 0
            total += directions * per
        return total

    return count


def attention(shapes: tuple[Shape, ...], a: Args) -> tuple[tuple[Shape, int], ...]:
    """MultiheadAttention: query (L, E), key (S, kdim), value (S, vdim) per sample; the output
    (L, E) and the weights, (L, S) averaged over heads or (heads, L, S)."""
    query, key, value = shapes
    e, heads = a["embed_dim"], a["num_heads"]
    for name, shape in zip(("query", "key", "value"), shapes):
        if len(shape) != 2:
            raise ShapeError(f"expects {name} of shape (L, features), got {fmt(shape)}")
    if e % heads:
        raise ShapeError(f"embed_dim={e} is not divisible by num_heads={heads}")
    kdim = a["kdim"] or e
    vdim = a["vdim"] or e
    if query[1] != e:
        raise ShapeError(f"query {fmt(query)} does not end in embed_dim={e}")
    if key[1] != kdim or value[1] != vdim:
        raise ShapeError(
            f"key {fmt(key)} and value {fmt(value)} must end in kdim={kdim} and vdim={vdim} "
            "(give kdim and vdim where they differ from embed_dim)"
        )
    if key[0] != value[0]:
        raise ShapeError(f"key {fmt(key)} and value {fmt(value)} differ in length")
    seq_axis = 0 if a["batch_first"] else 1
    weights = (
        (query[0], key[0]) if a.get("average_attn_weights", True) else (heads, query[0], key[0])
    )
    return ((query[0], e), seq_axis), (weights, 0)


def attention_params(a: Args) -> int:
    e = a["embed_dim"]
    kdim, vdim = a["kdim"] or e, a["vdim"] or e
    bias = a["bias"]
    total = e * (e + kdim + vdim) + (3 * e if bias else 0)  # the q, k, v projections
    total += e * e + (e if bias else 0)  # out_proj
    if a["add_bias_kv"]:
        total += 2 * e
    return total


def unfold(shape: Shape, a: Args) -> Shape:
    """``nn.Unfold`` on a (C, H, W) sample: (C * kh * kw, L), L the sliding windows."""
    if len(shape) != 3:
        raise ShapeError(f"expects input of shape (C, H, W), got {fmt(shape)}")
    k, d, p, s = (per_dim(a, x, 2) for x in ("kernel_size", "dilation", "padding", "stride"))
    windows = 1
    for size, ki, di, pi, si in zip(shape[1:], k, d, p, s):
        span = di * (ki - 1) + 1
        if size + 2 * pi < span:
            raise ShapeError(f"kernel of size {span} is bigger than the padded input")
        windows *= (size + 2 * pi - span) // si + 1
    return (shape[0] * k[0] * k[1], windows)


def unsqueeze(dims: Dims, dim: int) -> Dims:
    d = axis(dim, len(dims) + 1)
    return (*dims[:d], Dim.literal(1), *dims[d:])


def squeeze(dims: Dims, dim: int) -> Dims:
    d = axis(dim, max(len(dims), 1))
    if not dims or dims[d].varying or dims[d].value != 1:
        return dims  # torch leaves a dimension that is not 1
    return (*dims[:d], *dims[d + 1 :])
