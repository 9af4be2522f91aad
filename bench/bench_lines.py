"""How long is the code torchgen writes, against the hand-written reference it reproduces?

    python bench/bench_lines.py

For gpt2 (nanoGPT's GPT, Block, MLP, CausalSelfAttention), resnet50 (torchvision's ResNet,
Bottleneck, BasicBlock, conv1x1, conv3x3) and vit_b_16 (torchvision's VisionTransformer,
Encoder, EncoderBlock, MLPBlock), it counts the non-blank lines of the model classes: the
reference's source (inspect) and each style's generated classes (the file less its shared
``summary()`` and ``__main__`` demo), the reference's init on both sides. Goal (issue 15): no style over 1.5x the reference, nested at most 1.0x.
torchvision is needed for two of the three rows (pip install torchvision).
"""

from __future__ import annotations

import inspect
import re
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # nanogpt.py and the torchvision shim live there

STYLES = ["explicit", "add_module", "sequential", "modulelist", "moduledict", "nested"]


def _lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def _reference(preset: str) -> int | None:
    if preset == "gpt2":
        import nanogpt

        parts = [nanogpt.CausalSelfAttention, nanogpt.MLP, nanogpt.Block, nanogpt.GPT]
        # nanoGPT's GPT also carries generation, optimizer set-up and weight loading: only
        # its __init__, _init_weights and forward build and run the network.
        source = "".join(inspect.getsource(p) for p in parts[:3])
        gpt = nanogpt.GPT
        source += "".join(
            inspect.getsource(getattr(gpt, m)) for m in ("__init__", "_init_weights", "forward")
        )
        return _lines(source)
    from reference import _torchvision

    tv = _torchvision()
    if tv is None:
        return None
    if preset == "resnet50":
        from torchvision.models import resnet as m

        parts = [m.conv3x3, m.conv1x1, m.BasicBlock, m.Bottleneck, m.ResNet]
    else:
        from torchvision.models import vision_transformer as m

        parts = [m.MLPBlock, m.EncoderBlock, m.Encoder, m.VisionTransformer]
    return _lines("".join(inspect.getsource(p) for p in parts))


def _generated(preset: str, style: str, out: Path) -> int:
    from torchscaffold.cli import main

    path = out / f"{preset}_{style}.py"
    args = ["model", "Net", "--preset", preset, "--style", style, "-o", str(path), "--force"]
    result = CliRunner().invoke(main, args)  # with the preset's reference init
    assert result.exit_code == 0, result.output
    text = path.read_text()
    classes = re.split(r"\n(?=def summary\()", text)[0]
    start = classes.index("\nclass ")
    return _lines(classes[start:])


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("gpt2", "resnet50", "vit_b_16"):
            reference = _reference(preset)
            counts = [_generated(preset, s, Path(tmp)) for s in STYLES]
            rows.append((preset, reference, counts))
    header = ["preset", "reference", *STYLES]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for preset, reference, counts in rows:
        cells = [preset, str(reference) if reference else "-"]
        for c in counts:
            ratio = f" ({c / reference:.2f}x)" if reference else ""
            cells.append(f"{c}{ratio}")
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
