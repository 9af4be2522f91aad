"""How does generation grow with the number of steps? A model of N steps (a chain of Linear
and ReLU layers, with a skip connection every third step so that forward names values and reads
them twice) is generated with ``torchgen model --stdout`` in a fresh process per run.

    python bench/bench_scale.py [--steps 1000,10000,50000] [--style explicit]

Prints one table: wall time and peak memory (the child's maximum resident set) per size, and
the time per thousand steps, which should stay flat as the model grows (issue 18: it was
quadratic, 1k steps 1.3 s, 10k 74 s, 50k no answer in 6 minutes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def spec(steps: int) -> str:
    """A graph of ``steps`` steps: linear, relu, add(the relu, the linear's input)."""
    lines = ["[model]", "input = [16]", ""]
    previous = "x"
    for i in range(steps):
        kind = i % 3
        lines.append("[[layers]]")
        if kind == 0:
            lines += [
                'type = "Linear"',
                f'name = "fc{i}"',
                f'in = "{previous}"',
                "out_features = 16",
            ]
            skip = previous
        elif kind == 1:
            lines += ['type = "ReLU"', f'name = "act{i}"']
        else:
            lines += ['op = "add"', f'in = ["act{i - 1}", "{skip}"]', f'out = "h{i}"']
            previous = f"h{i}"
        lines.append("")
    return "\n".join(lines)


def run(path: Path, style: str) -> tuple[float, float]:
    """Seconds and peak resident MiB of one generation."""
    command = [sys.executable, "-m", "torchscaffold", "model", "Net", "--spec", str(path)]
    command += ["--style", style, "--stdout"]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{path.name}: {child.stderr.read().decode() if child.stderr else status}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1000,10000,50000")
    parser.add_argument("--style", default="explicit")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for steps in (int(s) for s in args.steps.split(",")):
            path = Path(tmp) / f"steps{steps}.toml"
            path.write_text(spec(steps))
            seconds, mib = run(path, args.style)
            rows.append((steps, seconds, mib))
    print(f"style {args.style}")
    print(f"{'steps':>7}  {'time (s)':>9}  {'s per 1k steps':>14}  {'peak MiB':>9}")
    for steps, seconds, mib in rows:
        print(f"{steps:>7,}  {seconds:>9.2f}  {seconds / steps * 1000:>14.3f}  {mib:>9.0f}")


if __name__ == "__main__":
    main()
