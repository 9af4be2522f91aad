"""Which build of a torch extension library goes with the installed torch, and what a failed
import of one means.

A torchvision built for another torch (another version, or CUDA where torch is a CPU build)
imports its Python modules and then dies registering its compiled operators:
``RuntimeError: operator torchvision::nms does not exist``. That says nothing to a user; the
fix is one install, named here with the version that goes with this torch.
"""

from __future__ import annotations

import re
from importlib import metadata

# torch 2.N ships with torchvision 0.(N + 15) (2.6: 0.21, 2.13: 0.28).
TORCHVISION_OFFSET = 15
# What a compiled extension built for another torch raises when imported.
_MISMATCH = re.compile(r"torchvision::|undefined symbol|_C\.so|image extension", re.IGNORECASE)


def matching_torchvision(torch_version: str) -> str | None:
    """``"0.28.0"`` for torch ``2.13.x`` (any local tag); None for a version not of that form."""
    found = re.match(r"2\.(\d+)\.(\d+)", torch_version)
    if found is None:
        return None
    return f"0.{int(found[1]) + TORCHVISION_OFFSET}.{found[2]}"


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def torchvision_hint(exc: BaseException) -> str:
    """What a failed import means and the fix, to follow the error on its line, where the
    error is a torchvision built for another torch; else nothing."""
    text = f"{type(exc).__name__}: {exc}"
    vision, torch_version = installed("torchvision"), installed("torch")
    if vision is None or torch_version is None or not _MISMATCH.search(text):
        return ""
    wanted = matching_torchvision(torch_version)
    install = f"pip install torchvision=={wanted}" if wanted else "pip install torchvision"
    if wanted == vision.partition("+")[0]:  # the right version, another build (CUDA, CPU)
        install = install.replace("install", "install --force-reinstall", 1)
    local = torch_version.partition("+")[2]
    where = f" from the index of torch's {local} builds" if local else ""
    return (
        f"; this torchvision ({vision}) was built for another torch than this one "
        f"({torch_version}): install the one built for it, {install}{where}"
    )
