"""``--check``: import a generated model with torch, run it, and compare with the prediction.

The only part of the generator that imports torch, and only when asked.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

from torchscaffold.errors import TorchgenError
from torchscaffold.shapes import ResolvedModel


def check_model(source: str, resolved: ResolvedModel) -> str:
    """Run the model in ``source`` on a random batch of 2; return a one-line report.

    Whatever torch raises becomes a one-line error: the check exists to catch a prediction
    that torch disagrees with, and the user should read that, not a traceback."""
    try:
        return _check(source, resolved)
    except TorchgenError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's refusal, whatever its type
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TorchgenError(
            f"check failed: torch raised {type(exc).__name__}: {first}; nothing was written"
        ) from None


def _check(source: str, resolved: ResolvedModel) -> str:
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "torchgen_check.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("torchgen_check", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["torchgen_check"] = module
        try:
            spec.loader.exec_module(module)
            model = getattr(module, resolved.name)().eval()
        finally:
            sys.modules.pop("torchgen_check", None)
    batch = (2, *resolved.input_shape)
    if resolved.integer_input:
        x = torch.randint(0, resolved.integer_input, batch)
    else:
        x = torch.randn(batch)
    with torch.no_grad():
        y = model(x)
    count = sum(p.numel() for p in model.parameters())
    if count != resolved.total_params:
        raise TorchgenError(
            f"check failed: {count:,} parameters, the summary predicted "
            f"{resolved.total_params:,}; nothing was written"
        )
    if tuple(y.shape) != (2, *resolved.output_shape):
        raise TorchgenError(
            f"check failed: output {tuple(y.shape)}, predicted {(2, *resolved.output_shape)}; "
            "nothing was written"
        )
    return f"check: ok, output {tuple(y.shape)}, {count:,} parameters as predicted"
