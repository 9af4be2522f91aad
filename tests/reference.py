"""Reference implementations to compare generated models with: torchvision's models (an
optional test dependency: tests that need it skip cleanly without it)."""

from __future__ import annotations

import functools
from types import ModuleType

import pytest


@functools.cache
def _torchvision() -> ModuleType | None:
    import torch

    try:
        import torchvision
    except ModuleNotFoundError:
        return None
    except RuntimeError:
        # The index's torchvision is built against CUDA torch; beside the CPU wheel its import
        # dies registering fake kernels for two detection ops these tests never call.
        # Declaring the two op schemas first lets the (pure Python) models import.
        library = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _torchvision.library = library  # type: ignore[attr-defined] - kept alive
        import sys

        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        import torchvision
    return torchvision


# The README's pin: the torchvision built for the torch the tests run with.
TORCHVISION_SKIP = (
    "torchvision is not installed (pip install torchvision==0.28.0, the build for torch 2.13)"
)


def torchvision_or_none() -> ModuleType | None:
    """torchvision, importable beside this torch (see ``_torchvision``), or None."""
    return _torchvision()


def torchvision_shimmed() -> bool:
    """Whether torchvision imported here only through the shim: a fresh interpreter (a
    spawned DataLoader worker) cannot import it."""
    return _torchvision() is not None and hasattr(_torchvision, "library")


def torchvision_models() -> ModuleType:
    """``torchvision.models``, or skip the calling test."""
    tv = _torchvision()
    if tv is None:
        pytest.skip(TORCHVISION_SKIP)
    return tv.models
