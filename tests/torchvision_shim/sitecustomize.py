"""Run at start-up by the interpreters of a generated Lightning project's suite (this folder
is on their PYTHONPATH): Lightning imports torchmetrics, which imports torchvision where it
is installed, and the index's torchvision built for another torch dies on import
(``reference._torchvision`` says why and declares what it misses). Where torchvision is
absent or imports, nothing changes."""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("torchvision") is not None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        import reference

        reference._torchvision()
    finally:
        sys.path.pop(0)
