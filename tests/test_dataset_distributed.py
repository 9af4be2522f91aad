"""The generated loaders under a real ``torch.distributed`` gloo group: 2 processes on loopback.

The two ranks are forked from the test process (they inherit the imported generated modules, so
start-up costs no torch import), rendezvous over TCP on 127.0.0.1, and report what they loaded
as JSON; the assertions run here. Everything has a timeout: the rendezvous, the joins.
"""

from __future__ import annotations

import collections
import datetime
import json
import multiprocessing
import os
import socket
import sys
import traceback
from pathlib import Path
from types import ModuleType

import pytest

from conftest import import_file, run_cli

N = 11  # odd, so that DistributedSampler has to pad and the evaluation sampler must not
WORLD = 2
RECORDS = 30


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory, torch) -> dict[str, ModuleType]:
    out = tmp_path_factory.mktemp("distributed")
    modules = {}
    for kind in ("tensor", "iterable"):
        path = out / f"{kind}_dist.py"
        assert run_cli("dataset", "Data", "--kind", kind, "-o", str(path)).exit_code == 0
        modules[kind] = import_file(path)
    return modules


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, modules: dict[str, str], shards: list[str], out: str) -> None:
    """One rank: build the loaders as a training script would, record what they yield."""
    import torch
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    result: dict[str, object] = {}
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=WORLD,
            timeout=datetime.timedelta(seconds=30),
        )
        m = sys.modules[modules["tensor"]]
        data = m.Data(torch.arange(N).float()[:, None], torch.arange(N))
        # distributed=None: detected from the initialised process group.
        train = m.build_dataloader(data, batch_size=3, train=True, num_workers=0, seed=7)
        assert isinstance(train.sampler, DistributedSampler)
        epochs = []
        for epoch in (0, 1, 0):
            m.set_epoch(train, epoch)
            epochs.append([int(i) for _, targets in train for i in targets])
        result["train"] = epochs
        result["generator_seed"] = train.generator.initial_seed()
        evaluation = m.build_dataloader(data, batch_size=4, train=False, num_workers=0, seed=7)
        assert isinstance(evaluation.sampler, m.DistributedEvalSampler)
        result["eval"] = [int(i) for _, targets in evaluation for i in targets]
        # The iterable kind reads rank and world size from the group itself.
        it = sys.modules[modules["iterable"]]
        stream = it.Data(shards, shuffle_buffer=4, seed=1)
        result["stream_rank"] = [stream.rank, stream.world_size]
        loader = it.build_dataloader(stream, batch_size=2, train=False, num_workers=0, seed=0)
        result["stream"] = [int(i) for batch in loader for i in batch["id"]]
        # A real collective over the group: every rank evaluated its share of the samples.
        count = torch.tensor([len(result["eval"])])
        dist.all_reduce(count)
        result["eval_total"] = int(count)
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        result["error"] = traceback.format_exc()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the ranks are forked")
def test_distributed_samplers_on_a_gloo_group(gen, torch, tmp_path: Path) -> None:
    shards = []
    for s, ids in enumerate([range(4), range(4, 13), range(13, 20), range(20, RECORDS)]):
        path = tmp_path / f"shard{s}.jsonl"
        path.write_text("".join(json.dumps({"id": i}) + "\n" for i in ids))
        shards.append(str(path))
    modules = {kind: module.__name__ for kind, module in gen.items()}
    # fork: the ranks inherit the imported modules (no torch import, no pickling of them).
    context = multiprocessing.get_context("fork")
    port = _free_port()
    ranks = [
        context.Process(target=_rank, args=(r, port, modules, shards, str(tmp_path)))
        for r in range(WORLD)
    ]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(timeout=90)
    hung = [p for p in ranks if p.is_alive()]
    for process in hung:
        process.kill()
    assert not hung, "a rank hung"
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    for r, result in enumerate(results):
        assert "error" not in result, f"rank {r}:\n{result['error']}"

    # Training: each epoch covers every index; the padding repeats 1 sample (12 slots for 11).
    for epoch in range(3):
        per_rank = [result["train"][epoch] for result in results]
        assert [len(part) for part in per_rank] == [6, 6]
        counts = collections.Counter(i for part in per_rank for i in part)
        assert set(counts) == set(range(N)) and sum(counts.values()) == 12
    # set_epoch reshuffles, and the order is a function of (seed, epoch) on every rank.
    for result in results:
        assert result["train"][0] != result["train"][1]
        assert result["train"][0] == result["train"][2]
    # Each rank mixes its rank into the worker-seed generator (the shuffle itself is shared).
    assert results[0]["generator_seed"] != results[1]["generator_seed"]

    # Evaluation: every index exactly once across ranks, nothing padded.
    evaluated = results[0]["eval"] + results[1]["eval"]
    assert sorted(evaluated) == list(range(N)) and len(evaluated) == N
    assert all(result["eval_total"] == N for result in results)

    # The iterable kind picked up rank and world size from the group: every record once.
    assert [result["stream_rank"] for result in results] == [[0, 2], [1, 2]]
    streamed = results[0]["stream"] + results[1]["stream"]
    assert sorted(streamed) == list(range(RECORDS))
