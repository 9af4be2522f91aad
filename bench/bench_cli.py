"""How fast does the generator answer? Whole commands as a user runs them, against the floor of
importing what the generator is built on (click, jinja2, black) and against cookiecutter
rendering a one-file model template of the same size.

    pip install -e ".[bench]"
    python bench/bench_cli.py [--runs 9] [--presets resnet18,resnet152,vit_b_16,gpt2]

Prints one table: median and min wall time per command, and the median's ratio to the floor and
to cookiecutter. Goals (issue 12): a first generation within 1.0x cookiecutter and 1.3x the
floor. Runs alternate between commands, so background load on a shared machine hits all of them
alike; quote the ratios, not the seconds.

"First generation" means nothing of torchgen's own cache ($XDG_CACHE_HOME/torchgen: black's
output) is there: black is imported and formats, in a helper process forked at the start (it
imports black while the generator renders; see torchscaffold/formatter.py), and for the first
preset also in one process (TORCHGEN_NO_FORK=1, as on a machine with one core). Python's
bytecode caches of the installed packages are there, as after any install (the bench lets
Python write them, whatever PYTHONDONTWRITEBYTECODE says, and warms them with one untimed
run). "again" regenerates an unchanged file, which skips black. A second table gives each
preset's generation time per layer of the model: it should stay flat as models grow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = "floor: import click, jinja2, black"
COOKIECUTTER = "cookiecutter: render resnet18.py"
GOALS = {"floor": 1.3, "cookiecutter": 1.0}
# black imported and run in this process, not in the forked helper (torchscaffold.formatter).
ONE_PROCESS = "one process"


def torchgen(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "torchscaffold", *args, "--force", "-o", str(out)]


def cookiecutter_template(root: Path, source: str) -> Path:
    """A cookiecutter template whose one file is a generated model with its class name a
    variable: the work a template copier does, for the same output."""
    template = root / "template"
    folder = template / "{{cookiecutter.project}}"
    folder.mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"project": "out", "name": "ResNet18"}))
    # The generated code is literal text for Jinja, but for the class name.
    name = "{% endraw %}{{ cookiecutter.name }}{% raw %}"
    (folder / "model.py").write_text(
        "{% raw %}" + source.replace("ResNet18", name) + "{% endraw %}"
    )
    return template


def commands(root: Path, presets: list[str]) -> dict[str, list[str]]:
    py = sys.executable
    rows = {
        FLOOR: [py, "-c", "import click, jinja2, black"],
        "torchgen --help": [py, "-m", "torchscaffold", "--help"],
    }
    reference = subprocess.run(
        [py, "-m", "torchscaffold", "model", "ResNet18", "--preset", "resnet18", "--stdout"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    template = cookiecutter_template(root, reference)
    rows[COOKIECUTTER] = [
        py,
        "-m",
        "cookiecutter",
        "--no-input",
        "--overwrite-if-exists",
        "-o",
        str(root / "cc"),
        str(template),
    ]
    for preset in presets:
        out = root / f"{preset}.py"
        argv = torchgen(out, "model", "Net", "--preset", preset)
        rows[f"model {preset} (first)"] = argv
        if preset == presets[0]:
            rows[f"model {preset} (first, {ONE_PROCESS})"] = argv
        rows[f"model {preset} (again)"] = argv
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--presets", default="resnet18")
    args = parser.parse_args()
    presets = args.presets.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = root / "cache"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["XDG_CACHE_HOME"] = str(cache)
        rows = commands(root, presets)
        for argv in rows.values():  # warm Python's bytecode caches, untimed
            subprocess.run(argv, check=True, capture_output=True, env=env)
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.runs):
            for name, argv in rows.items():
                if "(first" in name:
                    shutil.rmtree(cache / "torchgen", ignore_errors=True)
                run_env = {**env, "TORCHGEN_NO_FORK": "1"} if ONE_PROCESS in name else env
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True, env=run_env)
                times[name].append(time.perf_counter() - start)
        layers = {p: _layer_count(p) for p in presets}
    floor = statistics.median(times[FLOOR])
    copier = statistics.median(times[COOKIECUTTER])
    width = max(map(len, rows))
    print(
        f"{'command':<{width}}  {'median s':>8}  {'min s':>6}  {'x floor':>7}  {'x cookiecutter':>14}"
    )
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"{name:<{width}}  {median:8.3f}  {min(samples):6.3f}  {median / floor:7.2f}  "
            f"{median / copier:14.2f}"
        )
    first = statistics.median(times[f"model {presets[0]} (first)"])
    print(
        f"\n{args.runs} runs each. {presets[0]}, first generation: {first / floor:.2f}x the floor "
        f"(goal {GOALS['floor']}x), {first / copier:.2f}x cookiecutter (goal {GOALS['cookiecutter']}x)"
    )
    print(
        f"\n{'preset':<12}  {'layers':>6}  {'first s':>7}  {'above floor s':>13}  {'ms per layer':>12}"
    )
    for preset in presets:
        t = statistics.median(times[f"model {preset} (first)"])
        print(
            f"{preset:<12}  {layers[preset]:>6}  {t:7.3f}  {t - floor:13.3f}  "
            f"{1000 * (t - floor) / layers[preset]:12.2f}"
        )


def _layer_count(preset: str) -> int:
    """Layers (modules with no submodules) the preset builds: the size generation scales with."""
    from torchscaffold.generate.model import ModelRequest, describe
    from torchscaffold.shapes import resolve

    resolved = resolve(describe(ModelRequest("Net", preset=preset)))

    def count(steps, classes) -> int:
        total = 0
        for s in steps:
            if s.kind == "block":
                total += sum(count(classes[i.block].steps, classes) for i in s.instances)
            elif s.kind in ("group", "sequence"):
                total += count(s.members, classes)
            elif s.kind == "layer":
                total += 1
        return total

    classes = {c.name: c for c in resolved.classes}
    return count(resolved.main.steps, classes)


if __name__ == "__main__":
    main()
