"""How long does ``torchgen new`` take, and what does the generated training loop cost?

1. Wall time of ``torchgen new`` as a user first runs it (a fresh interpreter and an empty
   cache each time), median of several runs.
2. The scaffold's ``train.run_epoch`` (the progress bar on, writing to /dev/null, the LOSSES
   entry, batch splitting, gradient clipping, the schedule, on-device loss and accuracy sums,
   the metrics all-reduce) plus a ``metrics.csv`` row per epoch, against a minimal
   hand-written loop (zero_grad, forward, cross_entropy, backward, clip, step) over the same
   model, data and loader, in the same process, on the CPU: once with the AdamW anyone writes
   first, once with the project's optimizer (``train.build_optimizer``: fused, no decay on
   biases and norms), so that the loop's own cost is told apart from the optimizer's. The
   loops take turns within each round; each figure is the median of the per-round ratios, so
   that a neighbour's burst of load on a shared machine cancels.
3. Resume cost: seconds from ``--resume`` to the first training step (reading last.pt,
   restoring model, optimizer, schedule and generators), median of several runs.

    python bench/bench_new.py [--runs 5] [--samples 512] [--rounds 8] [--presets tiny,mlp]

Goal (issue 11): the generated loop within 3% of the hand-written one (with the same optimizer).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

GOAL = 3.0  # percent


def time_new(runs: int, root: Path) -> list[float]:
    """Seconds per ``python -m torchscaffold new`` (the console script's own path), cold."""
    times = []
    for i in range(runs):
        # A cache of its own, empty: each run compiles the templates and formats with black,
        # as a user's first ``torchgen new`` does (a shared cache would make later runs hits).
        env = {**os.environ, "XDG_CACHE_HOME": str(root / f"cache-{i}")}
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "torchscaffold", "new", str(root / f"timed-{i}")],
            check=True,
            capture_output=True,
            env=env,
        )
        times.append(time.perf_counter() - start)
    return times


def models_registry(train: ModuleType) -> Any:
    return importlib.import_module(train.__name__.replace(".train", ".registry")).MODELS


def time_resume(train: ModuleType, root: Path, runs: int) -> list[float]:
    """Seconds from ``train.main(--resume)`` to its first training batch: one epoch is
    trained once, then each run resumes from its last.pt and stops at the first batch."""
    config = Path(train.__file__).parents[2] / "configs" / "default.toml"
    args = ["--config", str(config), "--device", "cpu", "--set", "data.num_workers=0"]
    args += ["data.train.num_samples=256", "data.eval.num_samples=64"]
    args += [f"train.run_dir={root / 'resume'}", "train.epochs=1"]
    train.main(args)

    class FirstBatch(Exception):
        pass

    real = train.run_epoch
    times: list[float] = []
    for _ in range(runs):

        def stop(*a: Any, **k: Any) -> Any:
            raise FirstBatch

        train.run_epoch = stop
        start = time.perf_counter()
        try:
            train.main([*args[:-1], "train.epochs=2", "--resume"])
        except FirstBatch:
            times.append(time.perf_counter() - start)
        finally:
            train.run_epoch = real
    return times


def scaffold(root: Path, preset: str) -> ModuleType:
    """A project with ``preset`` (tensor data), its ``train`` module imported."""
    from torchscaffold.generate.scaffold import NewRequest, plan_new

    package = f"bench_{preset}"
    plan_new(NewRequest(root / package, preset=preset)).apply()
    sys.path.insert(0, str(root / package / "src"))
    return importlib.import_module(f"{package}.train")


def hand_written_epoch(model: Any, loader: Any, optimizer: Any) -> float:
    """The floor: what anyone writes first (with the same clipping). Returns samples/s."""
    import torch
    import torch.nn.functional as F

    model.train()
    samples = 0
    start = time.perf_counter()
    for inputs, targets in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        samples += len(targets)
    return samples / (time.perf_counter() - start)


def compare(
    train: ModuleType, samples: int, rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median samples/s of three loops over ``rounds`` rounds of one epoch each: ``hand``
    (the minimal loop with the AdamW anyone writes first), ``same`` (the minimal loop with the
    project's optimizer: fused, no decay on biases and norms) and ``generated``; and the
    median ratio of the generated loop to each hand-written one. A ratio is taken within a
    round, where the loops met the same load, so a neighbour's burst of work cancels out.
    Against ``same`` it is the loop's own cost (bar, metrics, schedule, batch splitting);
    against ``hand`` it is what a user gains or loses by not writing the loop."""
    import torch

    config_module = importlib.import_module(train.__name__.replace(".train", ".config"))
    runtime_module = importlib.import_module(train.__name__.replace(".train", ".runtime"))
    config = config_module.load_config(
        Path(train.__file__).parents[2] / "configs" / "default.toml",
        [f"data.train.num_samples={samples}", "data.num_workers=0", "train.progress=on"],
    )
    runtime = runtime_module.Runtime(torch.device("cpu"))
    torch.manual_seed(0)
    datasets = runtime_module.build_datasets(config)
    model = runtime_module.build(models_registry(train), config.model, "model")
    twin, same = copy.deepcopy(model), copy.deepcopy(model)  # the same weights, each loop
    loader = train.build_dataloader(
        datasets["train"], batch_size=32, train=True, num_workers=0, seed=0
    )
    optimizers = [
        train.build_optimizer(config, model, runtime.device),  # what the project trains with
        torch.optim.AdamW(twin.parameters(), lr=1e-3, weight_decay=0.01),  # what anyone writes
        train.build_optimizer(config, same, runtime.device),
    ]
    scheduler = train.build_schedule(config, optimizers[0], loader)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    loss_fn = runtime_module.build_loss(config)
    state = train.State(model, optimizers[0], scheduler, scaler)
    run_dir = Path(tempfile.mkdtemp())
    rows: list[dict[str, float]] = []
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run

    def generated() -> float:
        with contextlib.redirect_stderr(devnull):
            fit = train.run_epoch(model, loader, runtime, config, loss_fn, state, "bench")
        rows.append({"epoch": len(rows) + 1, "step": state.step, "train_loss": fit.loss})
        train.write_metrics(run_dir, rows)
        return fit.throughput

    loops = {
        "hand": lambda: hand_written_epoch(twin, loader, optimizers[1]),
        "same": lambda: hand_written_epoch(same, loader, optimizers[2]),
        "generated": generated,
    }
    for loop in loops.values():
        loop()  # warm-up: allocator, thread pool, first-call dispatch
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for i in range(rounds):
        # Rotate which goes first, so none always runs on a just-warmed machine.
        names = list(loops)[i % 3 :] + list(loops)[: i % 3]
        for name in names:
            rates[name].append(loops[name]())
    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratios = {
        name: statistics.median(g / h for g, h in zip(rates["generated"], rates[name]))
        for name in ("hand", "same")
    }
    return medians, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of torchgen new")
    parser.add_argument("--samples", type=int, default=512, help="samples per epoch")
    parser.add_argument("--rounds", type=int, default=8, help="epochs of each loop")
    parser.add_argument("--presets", default="tiny,mlp", help="models to train")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        times = time_new(args.runs, root)
        print(
            f"torchgen new: median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
            f"first {times[0]:.2f} s"
        )
        files = sum(1 for path in (root / "timed-0").rglob("*") if path.is_file())
        print(f"  over {args.runs} runs, a fresh interpreter each, {files} files per project")
        print()
        print(
            f"training loop, CPU ({torch.get_num_threads()} threads), batch 32, "
            f"{args.samples} samples/epoch, medians of {args.rounds} rounds"
        )
        header = f"{'model':<8} {'loop':<34} {'samples/s':>10} {'generated':>10}"
        print(header)
        print("-" * len(header))
        worst = 0.0
        labels = {
            "hand": "hand-written, AdamW()",
            "same": "hand-written, the project's AdamW",
            "generated": "generated",
        }
        for preset in args.presets.split(","):
            train = scaffold(root, preset)
            medians, ratios = compare(train, args.samples, args.rounds)
            worst = max(worst, 100 * (1 - ratios["same"]))
            for name, label in labels.items():
                versus = f"{100 * (ratios[name] - 1):>+9.1f}%" if name in ratios else ""
                print(f"{preset:<8} {label:<34} {medians[name]:>10,.0f} {versus}")
        print("(samples/s: medians; generated: its speed against that loop, the median of the")
        print(" per-round ratios; the generated loop has its progress bar on, a metrics.csv row")
        print(" per epoch, on-device loss and accuracy sums, clipping and the schedule)")
        resume = time_resume(train, root, args.runs)
        print()
        print(
            f"resume ({args.presets.split(',')[-1]}): median {statistics.median(resume):.3f} s "
            f"from --resume to the first batch, over {len(resume)} runs (includes building "
            "the datasets and the model)"
        )
        print()
        verdict = "meets" if worst < GOAL else "misses"
        print(
            f"worst loop overhead (generated vs the same optimizer by hand) {worst:+.1f}%: "
            f"{verdict} the goal (< {GOAL:.0f}%)"
        )


if __name__ == "__main__":
    main()
