"""Threads per training process: ``train.threads = auto`` against today's default.

A generated project (the default: tiny preset, tensor data, 2 loader workers) trains one epoch
in a fresh interpreter with each setting, idle and under load (``--load N`` busy-looping
processes, one per core by default), the settings taking turns within each round. The
default before ``train.threads`` existed was torch's: one intra-op thread per core in every
process, whatever else runs (``train.threads`` set to that number reproduces it). Each cell
is the median over rounds of the epoch's samples per second (metrics.csv).

    python bench/bench_threads.py [--rounds 3] [--samples 1024] [--load N]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


def spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy(processes: int) -> Iterator[None]:
    """``processes`` busy loops for the duration: other work on the machine."""
    workers = [multiprocessing.Process(target=spin, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def samples_per_second(project: Path, run: Path, threads: str, samples: int) -> float:
    """One epoch of the project's default config in a fresh interpreter."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(project / "src")
    overrides = [
        f"train.threads={threads}",
        "train.epochs=1",
        "train.progress=off",
        f"train.run_dir={run}",
        f"data.train.num_samples={samples}",
        "data.eval.num_samples=64",
    ]
    command = [sys.executable, "-m", "bench_proj.train", "--device", "cpu", "--set", *overrides]
    subprocess.run(command, cwd=project, env=env, check=True, capture_output=True, timeout=900)
    with open(run / "metrics.csv", newline="") as f:
        return float(list(csv.DictReader(f))[-1]["samples_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--load", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    settings = {"torch default (one per core)": str(cores), "auto": "auto"}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "bench-proj"
        subprocess.run(
            [sys.executable, "-m", "torchscaffold", "new", str(project)],
            check=True,
            capture_output=True,
        )
        results: dict[tuple[str, str], list[float]] = {}
        for condition, load in (("idle", 0), (f"load {args.load}", args.load)):
            with busy(load):
                for round_ in range(args.rounds):
                    for label, threads in settings.items():
                        run = Path(tmp) / f"run-{len(results)}-{round_}-{threads}"
                        rate = samples_per_second(project, run, threads, args.samples)
                        results.setdefault((condition, label), []).append(rate)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"one epoch of {args.samples} samples, {cores} cores, 2 loader workers, samples/s "
        f"(load average at the end, ours included: {load:.1f})"
    )
    print(f"{'machine':<10} {'threads':<30} {'median':>8}   rounds")
    for (condition, label), rates in results.items():
        rounds = " ".join(f"{rate:.0f}" for rate in rates)
        print(f"{condition:<10} {label:<30} {statistics.median(rates):>8.1f}   {rounds}")


if __name__ == "__main__":
    main()
