"""Regenerate docs/gallery/: the `tiny` preset in every style, rendered by torchgen itself, and
a table of how the style changes ``state_dict`` keys.

    python docs/make_gallery.py          # rewrite the gallery
    python docs/make_gallery.py --check  # exit 1 if it is out of date (tests/test_gallery.py)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from torchscaffold.generate.model import STYLES, ModelRequest, plan_model

GALLERY = Path(__file__).resolve().parent / "gallery"
VARIANTS = [(style, False) for style in STYLES] + [("sequential", True)]


def variant_name(style: str, numbered: bool) -> str:
    return f"{style}_numbered" if numbered else style


def render_all() -> dict[str, str]:
    files: dict[str, str] = {}
    for style, numbered in VARIANTS:
        name = variant_name(style, numbered)
        req = ModelRequest("TinyNet", style=style, numbered=numbered, preset="tiny")
        plan, _ = plan_model(req, GALLERY / f"{name}.py")
        files[f"{name}.py"] = plan.files[0].content
    files["README.md"] = readme(files)
    return files


def _keys(source: str) -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gallery_model.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("gallery_model", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return [k for k in module.TinyNet().state_dict() if k.endswith("weight")]


WORDS = {6: "six", 7: "seven", 8: "eight", 9: "nine"}


def readme(files: dict[str, str]) -> str:
    rows = []
    for style, numbered in VARIANTS:
        name = variant_name(style, numbered)
        keys = _keys(files[f"{name}.py"])
        rows.append(f"| [`{name}`]({name}.py) | `{keys[0]}` | `{keys[3]}` | `{keys[-1]}` |")
    return "\n".join(
        [
            f"# Gallery: one network, {WORDS[len(VARIANTS)]} ways to declare it",
            "",
            "The `tiny` preset (`torchgen model TinyNet --style STYLE`), rendered by torchgen in",
            (
                f"every style. All {WORDS[len(VARIANTS)]} are the same network: the same "
                "parameters in the same order,"
            ),
            "and identical outputs once the parameters are copied across (tests/test_model_generated.py).",
            "What changes is where each layer lives, and so the `state_dict` keys a checkpoint",
            "stores: a checkpoint saved from one style does not load into another by name.",
            "",
            "| style | first weight | a block's weight | last weight |",
            "|-------|--------------|------------------|-------------|",
            *rows,
            "",
            "Regenerate with `python docs/make_gallery.py`.",
            "",
        ]
    )


def main() -> int:
    files = render_all()
    if "--check" in sys.argv:
        stale = [
            n
            for n, text in files.items()
            if not (GALLERY / n).exists() or (GALLERY / n).read_text() != text
        ]
        if stale:
            print(f"out of date: {', '.join(stale)}; run python docs/make_gallery.py")
            return 1
        return 0
    GALLERY.mkdir(exist_ok=True)
    for name, text in files.items():
        (GALLERY / name).write_text(text)
    print(f"wrote {len(files)} files to {GALLERY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
