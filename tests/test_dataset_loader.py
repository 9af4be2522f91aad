"""The generated ``build_dataloader``: options, seeding, worker RNGs, start methods, the demo.

Every loader has a timeout; workers use fork (cheap) except in the spawn pickling test.
"""

from __future__ import annotations

import csv
import functools
import importlib
import random
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import run_cli
from torchscaffold.generate.dataset import KINDS

TIMEOUT = 60
MAP_KINDS = [kind for kind in KINDS if kind != "iterable"]
# The kinds whose synthetic(root) writes files.
ON_DISK = ("csv", "files", "images", "iterable")
N = 24


@pytest.fixture(scope="module")
def gen(datasets: dict[str, ModuleType]) -> dict[str, ModuleType]:
    return datasets


# Per map-style kind: a dataset of N samples whose batches reveal the indices they hold.
def _indexed(kind: str, m: ModuleType, root: Path) -> tuple[Any, Callable[[Any], list[int]]]:
    import numpy as np
    import torch

    if kind == "tensor":
        return m.Data(torch.arange(N).float()[:, None], torch.arange(N)), lambda b: b[1].tolist()
    if kind == "csv":
        path = root / "indexed.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["i", "label"], *([i, i] for i in range(N))])
        data = m.Data(path, target="label", target_dtype=torch.int64)
        return data, lambda b: b[1].tolist()
    if kind == "files":
        (root / "only").mkdir()
        for i in range(N):
            np.save(root / "only" / f"{i:03d}.npy", np.array([i], dtype=np.int64))
        return m.Data(root), lambda b: b[0][:, 0].tolist()
    if kind == "images":  # 1x1 greyscale PNGs whose pixel is the index
        from PIL import Image

        with open(root / "labels.csv", "w", encoding="utf-8") as f:
            f.write("file,label\n")
            for i in range(N):
                Image.new("L", (1, 1), color=i).save(root / f"{i:03d}.png")
                f.write(f"{i:03d}.png,{i % 2}\n")
        data = m.Data(root, root / "labels.csv", mode="L", mean=[0.0], std=[1 / 255])
        return data, lambda b: b[0][:, 0, 0, 0].round().long().tolist()
    assert kind == "sequence"
    data = m.Data([[i + 1] * (1 + i % 3) for i in range(N)])
    return data, lambda b: (b["input_ids"][:, 0] - 1).tolist()


def _epochs(
    m: ModuleType,
    data: Any,
    indices: Callable,
    *,
    seed: int,
    workers: int = 0,
    train: bool = True,
    epochs: int = 2,
) -> list[list[int]]:
    loader = m.build_dataloader(
        data, batch_size=4, train=train, num_workers=workers, seed=seed, timeout=TIMEOUT
    )
    orders = []
    for epoch in range(epochs):
        m.set_epoch(loader, epoch)
        orders.append([i for batch in loader for i in indices(batch)])
    return orders


@pytest.mark.parametrize("kind", MAP_KINDS)
def test_seeded_shuffle_is_reproducible_and_moves_on(gen, kind: str, tmp_path: Path) -> None:
    m = gen[kind]
    data, indices = _indexed(kind, m, tmp_path)
    first = _epochs(m, data, indices, seed=0)
    assert all(sorted(order) == list(range(N)) for order in first)
    assert first[0] != first[1], "epoch 1 repeats epoch 0"
    assert _epochs(m, data, indices, seed=0) == first, "the same seed gives another order"
    assert _epochs(m, data, indices, seed=1)[0] != first[0], "another seed gives the same order"
    # With workers too: the order is drawn in the main process from the seeded generator.
    with_workers = _epochs(m, data, indices, seed=0, workers=2)
    assert with_workers[0] == first[0] and with_workers[1] != with_workers[0]
    assert _epochs(m, data, indices, seed=0, workers=2) == with_workers
    # Evaluation keeps the order and every sample.
    assert _epochs(m, data, indices, seed=0, train=False, epochs=1) == [list(range(N))]


@pytest.mark.parametrize("persistent", [False, True], ids=["fresh-workers", "persistent"])
def test_workers_draw_different_numbers_each_epoch(gen, torch, persistent: bool) -> None:
    import numpy as np
    from torch.utils.data import get_worker_info

    m = gen["tensor"]

    class Draws(m.Data):
        """Each sample: which worker made it, and one draw from every RNG a dataset may use."""

        def __getitem__(self, index: int) -> dict[str, Any]:
            return {
                "worker": get_worker_info().id,
                "numpy": np.random.random(),
                "random": random.random(),
                "rng": self.rng.random(),  # the dataset's lazily created Generator
                "torch": torch.rand(()).item(),
            }

    data = Draws(torch.zeros(16, 1), torch.zeros(16))
    data.rng.random()  # made in the parent: the workers must not inherit its stream

    def draws(seed: int) -> list[dict[str, list[float]]]:
        loader = m.build_dataloader(
            data,
            batch_size=2,
            train=True,
            num_workers=2,
            seed=seed,
            persistent_workers=persistent,
            timeout=TIMEOUT,
        )
        assert loader.worker_init_fn is m.seed_worker
        epochs = []
        for epoch in range(2):
            m.set_epoch(loader, epoch)
            by_worker: dict[str, list[float]] = {}
            for batch in loader:
                for key in ("numpy", "random", "rng", "torch"):
                    by_worker.setdefault(f"{key}{int(batch['worker'][0])}", []).extend(
                        batch[key].tolist()
                    )
            epochs.append(by_worker)
        return epochs

    epochs = draws(seed=0)
    for by_worker in epochs:
        for key in ("numpy", "random", "rng", "torch"):
            assert set(by_worker[f"{key}0"]).isdisjoint(by_worker[f"{key}1"]), key
    for key in epochs[0]:
        assert epochs[0][key] != epochs[1][key], f"epoch 1 repeats epoch 0's {key} draws"
    assert draws(seed=0) == epochs, "a seeded loader does not replay its draws"
    assert draws(seed=1)[0]["numpy0"] != epochs[0]["numpy0"]


@pytest.mark.parametrize("kind", KINDS)
def test_builder_passes_worker_options_only_with_workers_and_warns_nothing(
    gen, torch, kind: str, tmp_path: Path
) -> None:
    m = gen[kind]
    data = m.synthetic(tmp_path) if kind in ON_DISK else m.synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Every option given: without workers the builder must drop the worker-only ones
        # (DataLoader raises on persistent_workers/prefetch_factor/multiprocessing_context, and
        # its single-process iterator asserts timeout == 0).
        loader = m.build_dataloader(
            data,
            batch_size=8,
            train=True,
            num_workers=0,
            seed=0,
            persistent_workers=True,
            prefetch_factor=4,
            multiprocessing_context="spawn",
            timeout=TIMEOUT,
        )
        assert loader.num_workers == 0
        assert loader.persistent_workers is False and loader.prefetch_factor is None
        assert loader.multiprocessing_context is None and loader.worker_init_fn is None
        assert loader.timeout == 0
        assert loader.pin_memory is False  # no CUDA here
        assert loader.drop_last is True
        assert len(list(loader)) == 8
        loader = m.build_dataloader(
            data, batch_size=8, train=False, num_workers=2, seed=0, timeout=TIMEOUT
        )
        assert loader.persistent_workers is True and loader.prefetch_factor == 2
        assert loader.worker_init_fn is m.seed_worker and loader.timeout == TIMEOUT
        assert loader.drop_last is False
        assert len(list(loader)) == 8
        del loader


def test_workers_are_clamped_to_the_cpus_this_process_may_use(gen, torch, monkeypatch) -> None:
    m = gen["tensor"]
    data = m.synthetic()
    with warnings.catch_warnings():
        # Unclamped, DataLoader would warn that 512 workers exceed the suggested maximum.
        warnings.simplefilter("error")
        loader = m.build_dataloader(
            data, batch_size=8, train=True, num_workers=512, seed=0, timeout=TIMEOUT
        )
        assert loader.num_workers == m.available_cpus() <= 512
        assert len(next(iter(loader))[0]) == 8
        del loader
    monkeypatch.setattr(m, "available_cpus", lambda: 1)
    assert (
        m.build_dataloader(data, batch_size=8, train=True, num_workers=4, seed=0).num_workers == 1
    )


def test_without_a_process_group_there_is_no_distributed_sampler(gen, torch) -> None:
    from torch.utils.data import RandomSampler, SequentialSampler

    m = gen["tensor"]
    assert not torch.distributed.is_initialized()
    train = m.build_dataloader(m.synthetic(), batch_size=8, train=True, num_workers=0, seed=0)
    evaluate = m.build_dataloader(m.synthetic(), batch_size=8, train=False, num_workers=0, seed=0)
    assert isinstance(train.sampler, RandomSampler)
    assert isinstance(evaluate.sampler, SequentialSampler)
    m.set_epoch(train, 3)  # a no-op without a distributed sampler, and no error


@pytest.mark.parametrize(("size", "world"), [(10, 3), (11, 2), (2, 4), (12, 4)])
def test_eval_sampler_covers_every_index_once_without_padding(gen, size, world) -> None:
    m = gen["tensor"]
    parts = [list(m.DistributedEvalSampler(range(size), world, rank)) for rank in range(world)]
    assert sorted(i for part in parts for i in part) == list(range(size))
    assert [len(m.DistributedEvalSampler(range(size), world, r)) for r in range(world)] == [
        len(part) for part in parts
    ]
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_every_kind_pickles_for_spawn(gen, torch, tmp_path: Path, monkeypatch) -> None:
    """One batch with multiprocessing_context="spawn", for every kind: one worker each (the
    pickling is the same), two for the iterable kind (its shards split over the workers).

    spawn pickles the dataset, collate_fn and worker_init_fn and imports the generated module
    in each worker by name, so the files are generated as real modules on sys.path.
    """
    from reference import torchvision_shimmed

    monkeypatch.syspath_prepend(str(tmp_path))
    loaders = {}
    # A spawned worker imports torchvision afresh: without the shim where it needs one
    # (its dataset's pickling is checked in-process in test_dataset_kinds.py).
    spawnable = [k for k in KINDS if k in gen and not (k == "images" and torchvision_shimmed())]
    for kind in spawnable:
        name = f"spawn_check_{kind}"
        assert (
            run_cli("dataset", "Data", "--kind", kind, "-o", str(tmp_path / f"{name}.py")).exit_code
            == 0
        )
        m = importlib.import_module(name)
        (tmp_path / kind).mkdir()
        data = m.synthetic(tmp_path / kind) if kind in ON_DISK else m.synthetic()
        extra: dict[str, Any] = {}
        if kind == "sequence":  # a functools.partial collate must pickle too
            extra["collate_fn"] = functools.partial(m.pad_collate, pad_id=0, pad_to_multiple_of=8)
        loaders[kind] = m.build_dataloader(
            data,
            batch_size=8,
            train=True,
            num_workers=2 if kind == "iterable" else 1,
            seed=0,
            persistent_workers=kind == "iterable",
            multiprocessing_context="spawn",
            timeout=TIMEOUT,
            **extra,
        )
    # Start every kind's workers before waiting for any: the interpreters start up in parallel.
    iterators = {kind: iter(loader) for kind, loader in loaders.items()}
    first = {kind: next(iterator) for kind, iterator in iterators.items()}
    assert [tuple(t.shape) for t in first["tensor"]] == [(8, 3, 8, 8), (8,)]
    assert [tuple(t.shape) for t in first["csv"]] == [(8, 4), (8,)]
    assert [tuple(t.shape) for t in first["files"]] == [(8, 3, 8, 8), (8,)]
    if "images" in first:
        assert [tuple(t.shape) for t in first["images"]] == [(8, 3, 8, 8), (8,)]
    assert first["iterable"]["features"].shape == (8, 4)
    assert first["sequence"]["input_ids"].shape[1] % 8 == 0
    del iterators, first
    # The iterable's epoch reaches persistent spawn workers through shared memory.
    m = sys.modules["spawn_check_iterable"]
    orders = []
    for epoch in (0, 1):
        m.set_epoch(loaders["iterable"], epoch)
        orders.append(
            [f for batch in loaders["iterable"] for f in batch["features"][:, 0].tolist()]
        )
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])
    assert len(orders[0]) == 64


EXPECTED_DEMO = {
    "tensor": "[(8, 3, 8, 8), (8,)]",
    "csv": "[(8, 4), (8,)]",
    "files": "[(8, 3, 8, 8), (8,)]",
    "images": "[(8, 3, 8, 8), (8,)]",
    "iterable": "{'features': (8, 4), 'label': (8,)}",
    "sequence": "{'input_ids': (8, 24), 'labels': (8, 24), 'attention_mask': (8, 24), "
    "'lengths': (8,)}",
}


@pytest.mark.parametrize("kind", KINDS)
def test_demo_iterates_two_epochs(gen, kind: str, capsys) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gen[kind].main()
    assert capsys.readouterr().out.splitlines() == [
        f"epoch 0: first batch {EXPECTED_DEMO[kind]}",
        "epoch 0: 8 batches",
        f"epoch 1: first batch {EXPECTED_DEMO[kind]}",
        "epoch 1: 8 batches",
    ]


def test_python_file_runs_as_a_script(gen) -> None:
    path = Path(gen["sequence"].__file__)
    done = subprocess.run(
        [sys.executable, str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("batches") == 2 and not done.stderr
