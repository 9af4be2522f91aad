"""The one error type for user mistakes. The CLI turns it into a one-line ``Error: ...``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TorchgenError(Exception):
    """A user-facing error: bad input, a refused write. Its message is one line."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def unknown(what: str, word: str, choices: Iterable[str]) -> TorchgenError:
    """An error for an unknown name, with a did-you-mean and the list of valid names."""
    choices = sorted(choices)
    return TorchgenError(
        f"unknown {what} {word!r}{did_you_mean(word, choices)}; choose from: {', '.join(choices)}"
    )


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's run to a page), or its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
