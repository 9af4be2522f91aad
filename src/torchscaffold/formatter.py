"""black, in this process or in a forked helper that imports it while we render.

Importing black takes about as long as importing and running the rest of a generation, and
one does not need the other until the first file is formatted. So a generating command run
from the console forks first (on systems with ``fork``, with two cores or more, while the
process has one thread): the child imports black and then formats what the parent sends it,
the parent imports the generator and renders meanwhile. A first ``torchgen model --preset
resnet18`` took 0.20 s so against 0.25 s in one process (bench/bench_cli.py, two cores); a
regeneration, whose formatting is cached, pays about 10 ms for the fork. Whatever goes wrong
with the child (no fork, a crash, a signal, no answer) the parent formats in process, as it
does when called as a library.

Messages on the pipes are a 4-byte length and UTF-8 text; an answer starts with one byte, 0
for formatted code, 1 for black's error.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

# Generated code lives in the user's project, so format with black's defaults (88 columns, the
# length ruff assumes too), never with whatever configuration surrounds the caller.
LINE_LENGTH = 88
# Far beyond any file's formatting (black does about 100 kB a second on a busy core), so that
# only a helper that hangs is given up; then the parent formats itself.
ANSWER_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_PER_BYTE_S = 1e-4


class FormatError(Exception):
    """black could not parse the generated code: a bug in a template."""


def format_here(source: str) -> str:
    """Format ``source`` with black in this process."""
    import black  # costs more than the rest of the generator together: only when needed

    mode = black.Mode(
        line_length=LINE_LENGTH,
        target_versions={black.TargetVersion.PY310},
        magic_trailing_comma=True,
    )
    # format_str formats twice where the first pass changed anything (for magic trailing
    # commas that a first pass adds and optional parentheses then treat differently): always,
    # for rendered code. Generated code has no such commas, so one pass gives its fixed point
    # at half the cost; the tests run `black --check` on every generated file, which would
    # fail if it did not.
    format_once = getattr(black, "_format_str_once", black.format_str)
    try:
        return format_once(source, mode=mode)
    except black.parsing.InvalidInput as exc:
        raise FormatError(str(exc)) from None


class _Helper:
    def __init__(self, pid: int, requests: BinaryIO, answers: BinaryIO) -> None:
        self.pid, self.requests, self.answers = pid, requests, answers


_helper: _Helper | None = None


def start() -> None:
    """Fork the helper, if this system and process allow it (see the module docstring)."""
    global _helper
    if _helper is not None or not hasattr(os, "fork") or os.environ.get("TORCHGEN_NO_FORK"):
        return
    import threading

    if threading.active_count() != 1:  # a fork copies no other thread, nor locks they hold
        return
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(2)
    if len(cores) < 2:  # on one core the two would take turns: nothing to gain
        return
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (to_child, from_parent, to_parent, from_child):
            os.close(fd)
        return
    if pid == 0:  # pragma: no cover - the child; its work is checked through the parent
        os.close(from_parent)
        os.close(to_parent)
        _serve(to_child, from_child)
    os.close(to_child)
    os.close(from_child)
    _helper = _Helper(pid, os.fdopen(from_parent, "wb"), os.fdopen(to_parent, "rb"))


def _serve(requests_fd: int, answers_fd: int) -> None:  # pragma: no cover - runs in the child
    """The child: format until the parent closes its end, then leave without running anything
    the parent registered (atexit handlers, buffered output)."""
    status = 0
    try:
        # The child holds none of the parent's terminal or pipes: a caller that waits for the
        # end of our output must not wait for the child.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        requests, answers = os.fdopen(requests_fd, "rb"), os.fdopen(answers_fd, "wb")
        format_here("")  # import black and warm it up while the parent renders
        while (source := _read(requests)) is not None:
            try:
                reply, code = format_here(source), 0
            except FormatError as exc:
                reply, code = str(exc), 1
            answers.write(bytes([code]))
            _write(answers, reply)
            answers.flush()
    except BaseException:  # noqa: BLE001 - whatever it is, the parent formats instead
        status = 1
    finally:
        os._exit(status)


def format_elsewhere(source: str) -> str | None:
    """``source`` formatted by the helper, or None where there is none (or it failed: then
    there is none from now on)."""
    helper = _helper
    if helper is None:
        return None
    try:
        _write(helper.requests, source)
        helper.requests.flush()
        timeout = ANSWER_TIMEOUT_S + ANSWER_TIMEOUT_PER_BYTE_S * len(source)
        code = _read_exact(helper.answers, 1, timeout)
        reply = _read(helper.answers)
        if code is None or reply is None:
            raise OSError("no answer")
    except (OSError, ValueError):  # no answer, or a garbled one (UnicodeDecodeError)
        stop()
        return None
    if code == b"\x01":
        raise FormatError(reply)
    return reply


def stop() -> None:
    """End the helper (it may still be importing black when nothing needed it)."""
    global _helper
    helper, _helper = _helper, None
    if helper is None:
        return
    import signal

    for stream in (helper.requests, helper.answers):
        try:
            stream.close()
        except OSError:
            pass
    try:
        os.kill(helper.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(helper.pid, 0)
    except ChildProcessError:
        pass


def _write(stream: BinaryIO, text: str) -> None:
    data = text.encode("utf-8")
    stream.write(struct.pack(">I", len(data)) + data)


def _read(stream: BinaryIO, timeout: float | None = None) -> str | None:
    head = _read_exact(stream, 4, timeout)
    if head is None:
        return None
    body = _read_exact(stream, struct.unpack(">I", head)[0], timeout)
    return None if body is None else body.decode("utf-8")


def _read_exact(stream: BinaryIO, size: int, timeout: float | None = None) -> bytes | None:
    """``size`` bytes, or None at the end of the stream or after ``timeout`` seconds."""
    if timeout is not None:
        import select

        ready, _, _ = select.select([stream], [], [], timeout)
        if not ready:
            return None
    data = stream.read(size) if size else b""
    return data if len(data) == size else None
