"""How fast does the generator answer? Times whole commands as a user runs them, against the
floor of importing what the generator is built on (click, jinja2, black).

    python bench/bench_cli.py [--runs 7]

Prints one table: median and min wall time per command, and the median's ratio to the floor.
The goal (issue 2): every row within 1.5x of the floor. Runs alternate between commands, so
background load on a shared machine hits all of them alike.

torchgen caches compiled templates and black's output under $XDG_CACHE_HOME/torchgen. "new"
rows empty the black cache before every run (a file never generated before: black is imported
and formats); "again" rows regenerate an unchanged file (black is skipped). The very first
command after installing also compiles the templates, once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

STYLES = ("explicit", "add_module", "sequential", "modulelist", "moduledict")
GOAL = 1.5


def commands(out: str) -> dict[str, list[str]]:
    py = sys.executable
    rows = {
        "floor: import click, jinja2, black": [py, "-c", "import click, jinja2, black"],
        "torchgen --help": [py, "-m", "torchscaffold", "--help"],
    }
    for style in STYLES:
        argv = [
            py,
            "-m",
            "torchscaffold",
            "model",
            "ResNet18",
            "--preset",
            "resnet18",
            "--style",
            style,
            "--force",
            "-o",
            f"{out}/resnet18_{style}.py",
        ]
        rows[f"model resnet18 --style {style} (new)"] = argv
        rows[f"model resnet18 --style {style} (again)"] = argv
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as out:
        cache = os.path.join(out, "cache")
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        rows = commands(out)
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(runs):
            for name, argv in rows.items():
                if name.endswith("(new)"):
                    shutil.rmtree(os.path.join(cache, "torchgen", "black"), ignore_errors=True)
                start = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True, env=env)
                times[name].append(time.perf_counter() - start)
    floor = statistics.median(times[next(iter(rows))])
    width = max(map(len, rows))
    print(f"{'command':<{width}}  {'median s':>8}  {'min s':>6}  {'x floor':>7}")
    worst = 0.0
    for name, samples in times.items():
        median = statistics.median(samples)
        ratio = median / floor
        worst = max(worst, ratio)
        print(f"{name:<{width}}  {median:8.3f}  {min(samples):6.3f}  {ratio:7.2f}")
    verdict = "meets" if worst <= GOAL else "misses"
    print(f"\n{runs} runs each; worst median {worst:.2f}x the floor, {verdict} the {GOAL}x goal")


if __name__ == "__main__":
    main()
