"""How long does the README's install-and-train one-liner take a new user, and does it run twice?

Creates a fresh virtual environment, then runs the one-liner of the README's "Two commands"
section step by step (each ``&&`` part, in bash with the venv activated, ``cd`` carried over),
timing each step: the installs, ``torchgen new`` and the training. Then it runs the whole line
again in the same venv, as a user who pastes it twice does: every step must succeed again.

The project path of the line (``/tmp/demo-project``) is replaced by one under ``--root``; the
rest runs as written, from the repository root. pip installs from wherever this machine's pip
is configured to (an index, a wheel cache): the install figures say what they were here, not
what a first download of torch over a network costs.

    python bench/bench_readme.py [--root /tmp/bench-readme] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_PROJECT = "/tmp/demo-project"


def one_liner() -> str:
    """The first bash block after '## Two commands' in the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1]
    match = re.search(r"```bash\n(.+?)\n```", section, re.DOTALL)
    assert match, "no bash block in the README's Two commands section"
    return match.group(1).strip()


def kind(step: str) -> str:
    if step.startswith("pip "):
        return "install"
    if step.startswith("torchgen "):
        return "scaffold"
    if step.startswith("cd "):
        return "cd"
    return "train"


def run_line(line: str, venv: Path, project: Path) -> list[tuple[str, float]]:
    """Each step of ``line`` with its seconds; raises if one fails."""
    cwd = ROOT
    timings = []
    for step in line.replace(README_PROJECT, str(project)).split(" && "):
        step = step.strip()
        if step.startswith("cd "):
            cwd = (cwd / step[3:].strip()).resolve()
            continue
        start = time.perf_counter()
        done = subprocess.run(
            ["bash", "-c", f". {venv}/bin/activate && {step}"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"step failed ({done.returncode}): {step}\n{done.stdout[-2000:]}{done.stderr}")
        timings.append((step, seconds))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/bench-readme"))
    parser.add_argument("--runs", type=int, default=2, help="times the line is run, same venv")
    args = parser.parse_args()

    shutil.rmtree(args.root, ignore_errors=True)
    args.root.mkdir(parents=True)
    venv, project = args.root / "venv", args.root / "demo-project"
    line = one_liner()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    created = time.perf_counter() - start

    load = os.getloadavg()[0]
    print(f"README one-liner in a fresh venv ({os.cpu_count()} cores, load {load:.2f} at start)")
    print(f"  {line}")
    print(f"venv created in {created:.1f} s")
    print()
    header = f"{'run':<4} {'step':<62} {'seconds':>8}"
    print(header)
    print("-" * len(header))
    for run in range(1, args.runs + 1):
        totals: dict[str, float] = {}
        for step, seconds in run_line(line, venv, project):
            totals[kind(step)] = totals.get(kind(step), 0.0) + seconds
            shown = step if len(step) <= 62 else step[:59] + "..."
            print(f"{run:<4} {shown:<62} {seconds:>8.1f}")
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in totals.items())
        print(f"{run:<4} {'total: ' + parts:<62} {sum(totals.values()):>8.1f}")
        print()


if __name__ == "__main__":
    main()
