"""The file system as torchgen meets it: where a generated module goes, and the only ways user
paths are read, resolved or probed.

Every user path is a potential surprise: a FIFO that blocks the first ``read()`` forever, a
symlink loop that makes ``Path.resolve`` raise ``RuntimeError``, a name longer than the file
system allows, bytes that are not UTF-8. The functions here turn each of those into a one-line
``TorchgenError`` so that no caller has to remember them.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

from torchscaffold import names
from torchscaffold.errors import TorchgenError

# `python csv.py` puts its own folder first on sys.path, so a generated file named after a module
# would import itself for `import csv` (and torch would, for the stdlib modules it imports).
SHADOWED = frozenset(sys.stdlib_module_names) | {"torch", "numpy", "torchvision", "torchgen"}

# POSIX guarantees 255 bytes per path component on every file system torchgen is likely to meet;
# asking pathconf would probe a directory that may not exist yet.
NAME_MAX = 255


def output_file(name: str, output: str | Path | None) -> Path:
    """``-o`` as given, a directory's default file, or ``snake_case(NAME).py`` in the cwd.

    ``-o`` names a directory when it exists as one or ends with a slash (kept as the raw string,
    since ``Path`` drops a trailing slash); a directory that does not exist yet is created.
    """
    default = f"{names.snake_case(name)}.py"
    if output is None:
        path = Path.cwd() / default
    else:
        raw = str(output)
        if raw.endswith(("/", os.sep)) or is_dir(Path(raw)):
            path = Path(raw) / default
        else:
            path = Path(raw)
    check_file_name(path)
    if path.suffix == ".py" and path.stem in SHADOWED:
        raise TorchgenError(
            f"invalid file name {path.name!r}: it would shadow the module {path.stem!r}; "
            "choose another NAME or -o"
        )
    return path


def check_file_name(path: Path) -> Path:
    """Refuse a path the file system cannot hold, before anything is rendered or written."""
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise TorchgenError(
                f"the name {_short(part)!r} is longer than the file system allows "
                f"({NAME_MAX} bytes); choose a shorter one"
            )
    if "\0" in str(path):
        raise TorchgenError(f"invalid path {str(path)!r}: it contains a NUL byte")
    return path


def resolve(path: Path) -> Path:
    """``path.resolve()``, with a symlink loop or an unreadable component as a one-line error."""
    try:
        return path.resolve()
    except RuntimeError:  # Python < 3.13 reports a symlink loop so
        raise TorchgenError(f"{path}: symlink loop") from None
    except OSError as exc:
        raise os_error(exc, path) from None


def kind(path: Path) -> str | None:
    """What is at ``path``: ``"file"``, ``"dir"``, ``"other"`` (FIFO, socket, device, a dangling
    or looping symlink) or None when nothing is; never blocks, never raises for odd entries."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "other" if os.path.lexists(path) else None  # a dangling symlink
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return "other"
        raise os_error(exc, path) from None
    if stat.S_ISREG(mode):
        return "file"
    return "dir" if stat.S_ISDIR(mode) else "other"


def is_dir(path: Path) -> bool:
    return kind(path) == "dir"


def is_file(path: Path) -> bool:
    return kind(path) == "file"


def read_text(path: Path, what: str = "file", limit: int | None = None) -> str:
    """The UTF-8 text of a regular file; anything else (missing, a FIFO, a directory, binary
    garbage, more than ``limit`` bytes) is a one-line error naming ``what`` and the path."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TorchgenError(
            f"cannot read {what} {path}: not UTF-8 text (byte {exc.start})"
        ) from None


def read_bytes(path: Path, what: str = "file", limit: int | None = None) -> bytes:
    """The bytes of a regular file; anything else (missing, a FIFO, a directory, more than
    ``limit`` bytes) is a one-line error naming ``what`` and the path.

    The file is opened non-blocking and checked with ``fstat`` before the first read, so a FIFO
    put in its place between a check and the open cannot hang us either; its size too, and no
    more than ``limit`` bytes and one are read, should it grow meanwhile."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise TorchgenError(f"cannot read {what} {path}: {_reason(exc)}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise TorchgenError(f"cannot read {what} {path}: not a regular file")
        if limit is not None and status.st_size > limit:
            raise _too_large(what, path, limit)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read() if limit is None else f.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise _too_large(what, path, limit)
    except OSError as exc:
        raise TorchgenError(f"cannot read {what} {path}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    return data


def _too_large(what: str, path: Path, limit: int) -> TorchgenError:
    return TorchgenError(
        f"cannot read {what} {path}: larger than {limit // 2**20} MiB, too large for a {what}"
    )


def os_error(exc: OSError, path: Path | str | None = None) -> TorchgenError:
    """A one-line error for a file-system failure: the path and the system's reason."""
    where = exc.filename if exc.filename is not None else path
    return TorchgenError(f"{_short(str(where)) if where else 'file system'}: {_reason(exc)}")


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror.lower() if exc.strerror else str(exc)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
