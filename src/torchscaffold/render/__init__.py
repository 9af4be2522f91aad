"""From resolved descriptions to formatted code: the Jinja environment and black
(``engine``), the helpers that spell values and calls (``code``), and the plan of a
forward's statements (``forward``)."""

from __future__ import annotations

from torchscaffold.render.engine import (
    OVERRIDE_ENV,
    environment,
    escape_docstring,
    format_python,
    header,
    refuse_rebound,
    render,
    render_python,
    templates_dir,
)

__all__ = [
    "OVERRIDE_ENV",
    "environment",
    "escape_docstring",
    "format_python",
    "header",
    "refuse_rebound",
    "render",
    "render_python",
    "templates_dir",
]
