"""Templates compiled ahead of time, shipped with the package.

Compiling the model templates is most of a first generation's own time (Jinja parses them,
writes Python, and Python compiles that). ``compiled/`` holds that Python, one module per
template, written by ``python -m torchscaffold.render.precompiled`` and kept current by a test.
A template is taken from there only when its source is byte for byte the one it was compiled
from (a SHA-256 in the manifest) and the Jinja version is the same; anything else (an edited
template, a user's override, another Jinja) compiles as usual.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import sys
from collections.abc import MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2

COMPILED = Path(__file__).resolve().parent / "compiled"
PACKAGE = f"{__package__}.compiled"


def digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class PrecompiledLoader(jinja2.FileSystemLoader):
    """A file system loader that takes a template's compiled module where it is current."""

    def __init__(self, searchpath: str) -> None:
        super().__init__(searchpath)
        self.manifest = _manifest()

    def load(
        self,
        environment: jinja2.Environment,
        name: str,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        source, _, _ = self.get_source(environment, name)
        module = self._module(name, source)
        if module is None:
            return super().load(environment, name, globals)
        return environment.template_class.from_module_dict(
            environment, module.__dict__, globals or {}
        )

    def _module(self, name: str, source: str) -> ModuleType | None:
        if self.manifest.get(name) != digest(source):
            return None
        key = jinja2.ModuleLoader.get_template_key(name)
        try:
            return importlib.import_module(f"{PACKAGE}.{key}")
        except ImportError:  # pragma: no cover - a manifest without its module
            return None


def _manifest() -> dict[str, str]:
    try:
        data = json.loads((COMPILED / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if data.get("jinja2") != jinja2.__version__:
        return {}
    return dict(data.get("templates", {}))


def compile_all(environment: jinja2.Environment, target: Path) -> None:
    """Write every template's compiled module and the manifest into ``target``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / "__init__.py").write_text(
        '"""Compiled templates: written by `python -m torchscaffold.render.precompiled`."""\n'
    )
    templates = {}
    loader = environment.loader
    assert loader is not None
    for name in sorted(environment.list_templates(extensions=["j2"])):
        source, _, _ = loader.get_source(environment, name)
        # The template's name, not its path, as the file name in tracebacks: the same output on
        # every machine.
        code = environment.compile(source, name, name, raw=True, defer_init=True)
        filename = jinja2.ModuleLoader.get_module_filename(name)
        (target / filename).write_text(f"# {name}\n{code}\n", encoding="utf-8")
        templates[name] = digest(source)
    manifest = {"jinja2": jinja2.__version__, "templates": templates}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":  # pragma: no cover - exercised by the test that keeps it current
    from torchscaffold.render.engine import environment

    compile_all(environment(), Path(sys.argv[1]) if len(sys.argv) > 1 else COMPILED)
    print(f"compiled the templates into {COMPILED}")
