"""Build hook: compile the Jinja templates into Python modules that ship with the package
(``src/torchscaffold/render/compiled``), so that a first generation does not pay for compiling
them. Runs for wheels and editable installs alike; see torchscaffold/render/precompiled.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileTemplates(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        sys.path.insert(0, str(root / "src"))
        try:
            from torchscaffold.render.engine import environment
            from torchscaffold.render.precompiled import COMPILED, compile_all

            compile_all(environment(), COMPILED)
        finally:
            sys.path.remove(str(root / "src"))
            for name in [m for m in sys.modules if m.startswith("torchscaffold")]:
                del sys.modules[name]
        if version != "editable":  # generated files are not in git: list them for the wheel
            build_data["artifacts"].append("src/torchscaffold/render/compiled/")
