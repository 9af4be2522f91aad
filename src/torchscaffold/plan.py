"""The in-memory plan of a change: every file rendered before any is written.

A plan is checked as a whole (conflicts refuse the change unless forced), reported one line per
file like copier or Rails (create / identical / conflict / update / force), and written so that a
failure midway restores what was there: no half-written project.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from torchscaffold import paths
from torchscaffold.errors import TorchgenError


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    content: str | bytes  # text (written as UTF-8 with \n line ends) or a binary file's bytes
    # True for files the tool owns jointly with the user (an ``__init__.py`` it adds imports to):
    # an existing one that differs is an ``update``, not a conflict.
    editable: bool = False


@dataclass(frozen=True)
class Plan:
    files: tuple[PlannedFile, ...] = field(default_factory=tuple)
    # The files the command read (a checkpoint, a spec, the user's model file): never written,
    # --force or not, whatever path names them (../, a link, another hard link), as ``cp``
    # refuses to copy a file onto itself.
    inputs: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        seen: set[Path] = set()
        for f in self.files:
            if f.path in seen:  # pragma: no cover - a generator bug
                raise RuntimeError(f"{f.path} planned twice")
            seen.add(f.path)

    def with_inputs(self, *inputs: Path | None) -> Plan:
        return replace(self, inputs=(*self.inputs, *(i for i in inputs if i is not None)))

    def _refuse_inputs(self) -> None:
        for f in self.files:
            for source in self.inputs:
                if _same_file(f.path, source):
                    raise TorchgenError(
                        f"{_display(f.path, None)} would overwrite the input "
                        f"{_display(source, None)} (--force or not): write the output elsewhere"
                    )

    def status(self, f: PlannedFile) -> str:
        found = paths.kind(f.path)
        if found is None:
            return "create"
        if found != "file":
            return "conflict"
        try:
            read = paths.read_bytes if isinstance(f.content, bytes) else paths.read_text
            current = read(f.path)
        except TorchgenError:
            return "conflict"
        if current == f.content:
            return "identical"
        return "update" if f.editable else "conflict"

    def statuses(self) -> list[tuple[str, PlannedFile]]:
        return [(self.status(f), f) for f in self.files]

    def report(self, base: Path | None = None, *, force: bool = False) -> list[str]:
        self._refuse_inputs()
        lines = []
        for status, f in self.statuses():
            if status == "conflict" and force:
                status = "force"
            lines.append(f"{status:<9}  {_display(f.path, base)}")
        return lines

    def conflicts(self) -> list[PlannedFile]:
        return [f for status, f in self.statuses() if status == "conflict"]

    def apply(self, *, force: bool = False) -> list[str]:
        """Write the plan; return the report. Nothing is written if anything conflicts."""
        report = self.report(force=force)
        conflicts = self.conflicts()
        for f in conflicts:
            # Only regular files are replaced: renaming over a FIFO or a socket would "work",
            # and silently destroy something that was never ours.
            if paths.kind(f.path) != "file":
                raise TorchgenError(
                    f"{_display(f.path, None)} exists and is not a regular file (a directory, "
                    "FIFO, socket or broken link); torchgen only replaces regular files"
                )
        if conflicts and not force:
            names = ", ".join(_display(f.path, None) for f in conflicts)
            raise TorchgenError(f"{names} already exists and differs; use --force to overwrite")
        try:
            write_atomically(f for status, f in self.statuses() if status != "identical")
        except OSError as exc:
            # A disk error is the user's environment, not a bug: one line, and the rollback
            # means there is nothing half-written to clean up.
            where = f" {exc.filename}" if exc.filename else ""
            raise TorchgenError(
                f"could not write{where}: {exc.strerror or exc}; nothing was written"
            ) from None
        return report


def _same_file(a: Path, b: Path) -> bool:
    """The same file: one inode (a link, a hard link), or one resolved path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet)
        try:
            return paths.resolve(a) == paths.resolve(b)
        except TorchgenError:
            return False


def _display(path: Path, base: Path | None) -> str:
    base = base or Path.cwd()
    try:
        return str(paths.resolve(path).relative_to(paths.resolve(base)))
    except ValueError:
        return str(path)


def write_atomically(files: Iterable[PlannedFile]) -> None:
    """Write every file or none: stage temp files beside their targets, then rename them all.

    If staging fails (disk full, permissions), the temp files and any directories created for them
    are removed. If a rename fails midway, the files already replaced are restored.
    """
    files = list(files)
    created_dirs: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    try:
        for f in files:
            for parent in reversed(f.path.parents):
                if not parent.exists():
                    parent.mkdir()
                    created_dirs.append(parent)
            fd, tmp = tempfile.mkstemp(
                dir=f.path.parent, prefix=_temp_prefix(f.path), suffix=".tmp"
            )
            staged.append((Path(tmp), f.path))
            if isinstance(f.content, bytes):
                with os.fdopen(fd, "wb") as binary:
                    binary.write(f.content)
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                    out.write(f.content)
            # mkstemp creates 0600; give the file the mode it had, or what open() would give.
            os.chmod(tmp, _mode(f.path))
        _commit(staged)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for d in reversed(created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        raise


def _temp_prefix(path: Path) -> str:
    # Shortened so that a name near the file system's limit still leaves room for ours.
    return f".{path.name[:64]}."


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _commit(staged: list[tuple[Path, Path]]) -> None:
    backups: list[tuple[Path, Path | None]] = []
    try:
        for tmp, target in staged:
            backup = None
            if os.path.lexists(target):
                # A fresh name of our own: a fixed one could be a file of the user's.
                fd, name = tempfile.mkstemp(
                    dir=target.parent, prefix=_temp_prefix(target), suffix=".bak-torchgen"
                )
                os.close(fd)
                backup = Path(name)
                try:
                    os.replace(target, backup)
                except BaseException:
                    backup.unlink(missing_ok=True)
                    raise
            backups.append((target, backup))
            os.replace(tmp, target)
    except BaseException:
        for target, backup in reversed(backups):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        raise
    for _, backup in backups:
        if backup is not None:
            backup.unlink(missing_ok=True)
