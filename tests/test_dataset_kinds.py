"""What each generated dataset kind does on its own: samples, collate, sharding, clear errors.

Loaders here use the default (fork) start method and a timeout; spawn, seeding and the builder's
options are in test_dataset_loader.py, torch.distributed in test_dataset_distributed.py.
"""

from __future__ import annotations

import collections
import csv
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

TIMEOUT = 60


@pytest.fixture(scope="module")
def gen(datasets: dict[str, ModuleType]) -> dict[str, ModuleType]:
    return datasets


# -- tensor ---------------------------------------------------------------------------------------


def test_tensor_samples_and_errors(gen, torch) -> None:
    Data = gen["tensor"].Data
    data = Data(torch.randn(10, 3), torch.arange(10))
    x, y = data[4]
    assert x.shape == (3,) and int(y) == 4 and len(data) == 10
    np_data = Data(torch.ones(2, 3).numpy(), torch.zeros(2).numpy())
    assert np_data.inputs.dtype == torch.float32
    with pytest.raises(ValueError, match="inputs is empty"):
        Data(torch.empty(0, 3), torch.empty(0))
    with pytest.raises(ValueError, match="5 inputs but targets of shape \\(4,\\)"):
        Data(torch.randn(5, 3), torch.arange(4))


# -- csv ------------------------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_csv_parses_numeric_columns(gen, torch, tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "t.csv",
        [["a", "label", " b "], ["1", "0", "2.5"], [], ["-3e2", "1", "4"]],  # blank line skipped
    )
    data = gen["csv"].Data(path)
    assert data.features == ["a", "b"] and len(data) == 2
    x, y = data[1]
    assert x.dtype == torch.float32 and x.tolist() == [-300.0, 4.0]
    assert y.dtype == torch.float32 and float(y) == 1.0
    picked = gen["csv"].Data(path, features=["b"], target_dtype=torch.int64)
    assert picked.inputs.tolist() == [[2.5], [4.0]] and picked.targets.tolist() == [0, 1]
    loader = gen["csv"].build_dataloader(data, batch_size=2, train=False, num_workers=0, seed=0)
    inputs, targets = next(iter(loader))
    assert inputs.shape == (2, 2) and targets.shape == (2,)


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([["a", "b"], ["1", "2"]], {}, r"t\.csv: no column 'label'; its columns are a, b"),
        ([["a", "label"], ["1", "2"]], {"features": ["a", "z"]}, r"no column 'z'"),
        (
            [["a", "label"], ["1", "0"], ["x1", "1"]],
            {},
            r"t\.csv, line 3, column 'a': 'x1' is not a number",
        ),
        (
            [["a", "label"], ["1", "0.5"]],
            {"target_dtype": "int64"},
            r"t\.csv, line 2, column 'label': '0\.5' is not an integer",
        ),
        ([["a", "label"], ["1", "0"], ["1"]], {}, r"t\.csv, line 3: 1 cells, expected 2"),
        ([["a", "label"]], {}, r"t\.csv: no data rows"),
        ([], {}, r"t\.csv: empty file"),
        ([["label"], ["1"]], {}, r"no feature columns"),
    ],
)
def test_csv_errors_name_file_line_and_column(gen, torch, tmp_path, rows, kwargs, message) -> None:
    if kwargs.get("target_dtype") == "int64":
        kwargs = {**kwargs, "target_dtype": torch.int64}
    path = _write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(ValueError, match=message):
        gen["csv"].Data(path, **kwargs)


def test_csv_missing_file(gen, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        gen["csv"].Data(tmp_path / "nope.csv")


# -- files ----------------------------------------------------------------------------------------


def _tree(root: Path, torch, shapes: dict[str, list[tuple[int, ...]]]) -> Path:
    import numpy as np

    for name, files in shapes.items():
        (root / name).mkdir(parents=True)
        for i, shape in enumerate(files):
            if i % 2:
                torch.save(torch.full(shape, float(i)), root / name / f"{i}.pt")
            else:
                np.save(root / name / f"{i}.npy", np.full(shape, i, dtype=np.float32))
    return root


def test_files_index_is_compact_and_labelled(gen, torch, tmp_path: Path) -> None:
    import numpy as np

    root = _tree(tmp_path / "root", torch, {"dog": [(2, 3)] * 3, "cat": [(2, 3)] * 2})
    (root / "cat" / "notes.txt").write_text("skipped: not an indexed suffix")
    (root / "cat" / "deeper").mkdir()
    np.save(root / "cat" / "deeper" / "x.NPY", np.zeros((2, 3), dtype=np.float32))
    data = gen["files"].Data(root)
    assert data.classes == ["cat", "dog"] and data.class_to_idx == {"cat": 0, "dog": 1}
    assert len(data) == 6 and data.targets.tolist() == [0, 0, 0, 1, 1, 1]
    # numpy arrays, not lists of Python objects (pytorch issue 13246).
    assert isinstance(data._paths, np.ndarray) and data._paths.dtype.kind == "S"
    assert isinstance(data.targets, np.ndarray) and data.targets.dtype == np.int64
    assert data.path(0) == str(root / "cat" / "0.npy")
    x, label = data[1]
    assert x.shape == (2, 3) and float(x[0, 0]) == 1.0 and label == 0  # the .pt file
    loader = gen["files"].build_dataloader(
        data, batch_size=3, train=False, num_workers=2, seed=0, timeout=TIMEOUT
    )
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(3, 2, 3), (3, 2, 3)]
    assert batches[1][1].tolist() == [1, 1, 1]


def test_files_errors(gen, torch, tmp_path: Path) -> None:
    Data = gen["files"].Data
    with pytest.raises(FileNotFoundError, match="missing: no such directory"):
        Data(tmp_path / "missing")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no \.npy or \.pt files in any class folder"):
        Data(tmp_path / "empty")
    root = _tree(tmp_path / "root", torch, {"a": [(2,), (2,), (3,)]})
    data = Data(root)
    # A ragged batch names the field and the samples, not torch's "stack expects ...".
    with pytest.raises(ValueError, match=r"batch\[0\]: sample 0 has shape \(2,\) but sample 2"):
        gen["files"].stack_collate([data[0], data[1], data[2]])
    # A file that disappeared after indexing: the error names the index and the file.
    os.remove(root / "a" / "1.pt")
    with pytest.raises(RuntimeError, match=r"cannot load sample 1, .*a/1\.pt"):
        data[1]
    (root / "a" / "x.txt").write_text("1")
    with pytest.raises(RuntimeError, match=r"no loader for '\.txt' files; override load"):
        Data(root, extensions=(".txt",))[0]


# -- iterable -------------------------------------------------------------------------------------


def _shards(root: Path, sizes: list[int]) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths, n = [], 0
    for s, size in enumerate(sizes):
        path = root / f"shard{s}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for _ in range(size):
                f.write(json.dumps({"id": n, "x": [n, n + 0.5]}) + "\n")
                n += 1
            f.write("\n")  # blank lines are skipped
        paths.append(path)
    return paths


def _ids(loader: Any) -> list[int]:
    return [int(i) for batch in loader for i in batch["id"]]


@pytest.mark.parametrize("sizes", [[7, 5, 9, 3, 6], [23]], ids=["by-shard", "by-line"])
def test_iterable_two_workers_yield_every_record_once(gen, tmp_path, sizes) -> None:
    shards = _shards(tmp_path, sizes)
    data = gen["iterable"].Data(shards)
    loader = gen["iterable"].build_dataloader(
        data, batch_size=4, train=False, num_workers=2, seed=0, timeout=TIMEOUT
    )
    assert sorted(_ids(loader)) == list(range(sum(sizes)))


@pytest.mark.parametrize("sizes", [[7, 5, 9, 3, 6], [23]], ids=["by-shard", "by-line"])
@pytest.mark.parametrize("shuffle_buffer", [0, 8])
def test_iterable_ranks_times_workers_partition_the_records(gen, tmp_path, sizes, shuffle_buffer):
    """Ranks 0 and 1 (given explicitly, as from torch.distributed) x 2 workers each."""
    shards = _shards(tmp_path, sizes)
    seen: list[int] = []
    for rank in (0, 1):
        data = gen["iterable"].Data(shards, shuffle_buffer=shuffle_buffer, rank=rank, world_size=2)
        loader = gen["iterable"].build_dataloader(
            data, batch_size=4, train=False, num_workers=2, seed=0, timeout=TIMEOUT
        )
        ids = _ids(loader)
        assert ids, f"rank {rank} got nothing"
        seen += ids
    assert collections.Counter(seen) == collections.Counter(range(sum(sizes)))


def test_iterable_set_epoch_reshuffles_reproducibly(gen, tmp_path: Path) -> None:
    """With persistent workers too: the epoch reaches them through shared memory."""
    shards = _shards(tmp_path, [10, 10, 10, 10])
    m = gen["iterable"]

    def orders(seed: int, persistent: bool) -> list[list[int]]:
        data = m.Data(shards, shuffle_buffer=6, seed=seed)
        loader = m.build_dataloader(
            data,
            batch_size=5,
            train=False,
            num_workers=2,
            seed=0,
            persistent_workers=persistent,
            timeout=TIMEOUT,
        )
        result = []
        for epoch in (0, 1, 0):
            m.set_epoch(loader, epoch)
            result.append(_ids(loader))
        return result

    first = orders(seed=3, persistent=True)
    assert all(sorted(order) == list(range(40)) for order in first)
    assert first[0] != first[1]  # set_epoch changed the order
    assert first[0] == first[2]  # and the order is a function of (seed, epoch)
    assert orders(seed=3, persistent=False) == first  # same seed, same orders
    assert orders(seed=4, persistent=True)[0] != first[0]
    unshuffled = m.Data(shards)
    assert [int(s["id"]) for s in unshuffled] == list(range(40))


def test_iterable_errors(gen, tmp_path: Path) -> None:
    m = gen["iterable"]
    with pytest.raises(ValueError, match="no shard files"):
        m.Data([])
    with pytest.raises(FileNotFoundError, match="nope.jsonl: no such shard file"):
        m.Data([tmp_path / "nope.jsonl"])
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="every shard is empty"):
        m.Data([tmp_path / "empty.jsonl"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n{"x": 2,\n')
    with pytest.raises(ValueError, match=r"rank 2 is not in \[0, world_size=2\)"):
        m.Data([bad], rank=2, world_size=2)
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: Expecting property name"):
        list(m.Data([bad]))
    bad.write_text('{"x": 1}\n["not", "an", "object"]\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: expected a JSON object"):
        list(m.Data([bad]))
    ragged = tmp_path / "ragged.jsonl"
    ragged.write_text('{"x": [1, 2]}\n{"x": [1, 2, 3]}\n')
    samples = list(m.Data([ragged]))
    with pytest.raises(ValueError, match=r"batch\['x'\]: sample 0 has shape \(2,\) but sample 1"):
        m.stack_collate(samples)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(), max_size=40), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_buffer_shuffle_is_a_permutation(gen, items: list[int], size: int, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = list(gen["iterable"].buffer_shuffle(iter(items), size, rng))
    assert sorted(out) == sorted(items)


# -- sequence -------------------------------------------------------------------------------------


def test_sequence_storage_and_samples(gen, torch) -> None:
    import numpy as np

    m = gen["sequence"]
    data = m.Data([[5, 3, 9], [7], [1, 2]], labels=[[1, 1, 1], [2], [3, 3]])
    assert isinstance(data.tokens, np.ndarray) and data.tokens.tolist() == [5, 3, 9, 7, 1, 2]
    assert data.offsets.tolist() == [0, 3, 4, 6] and len(data) == 3
    assert data[2]["input_ids"].tolist() == [1, 2] and data[2]["labels"].tolist() == [3, 3]
    data[2]["input_ids"][0] = 99  # a copy: the dataset is unchanged
    assert data[2]["input_ids"].tolist() == [1, 2]
    assert "labels" not in m.Data([[1]])[0]
    with pytest.raises(IndexError, match="index 3 is out of range for 3 sequences"):
        data[3]
    with pytest.raises(ValueError, match="no sequences"):
        m.Data([])
    with pytest.raises(ValueError, match=r"labels\[1\] has 2 entries but sequences\[1\] has 1"):
        m.Data([[1, 2], [3]], labels=[[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="1 labels for 2 sequences"):
        m.Data([[1, 2], [3]], labels=[[1, 2]])


def test_pad_collate_shapes_mask_lengths_and_labels(gen, torch) -> None:
    m = gen["sequence"]
    data = m.Data([[5, 3, 9], [7], [1, 2]], labels=[[1, 1, 1], [2], [3, 3]])
    batch = m.pad_collate([data[0], data[1], data[2]], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 3, 9], [7, 0, 0], [1, 2, 0]]
    assert batch["labels"].tolist() == [[1, 1, 1], [2, -100, -100], [3, 3, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert batch["attention_mask"].dtype == torch.bool
    assert batch["lengths"].tolist() == [3, 1, 2]
    assert m.IGNORE_INDEX == -100
    padded = m.pad_collate([data[1], data[2]], pad_id=42, pad_to_multiple_of=4)
    assert padded["input_ids"].tolist() == [[7, 42, 42, 42], [1, 2, 42, 42]]
    # L = 3 is already a multiple of 3: (-L) % m == 0 extra columns.
    assert m.pad_collate([data[0], data[1]], pad_to_multiple_of=3)["input_ids"].shape == (2, 3)
    with pytest.raises(ValueError, match="pad_to_multiple_of must be >= 1"):
        m.pad_collate([data[0]], pad_to_multiple_of=0)
    # Without a padding collate a ragged batch fails; the builder uses pad_collate by default.
    loader = m.build_dataloader(data, batch_size=3, train=False, num_workers=0, seed=0)
    assert next(iter(loader))["input_ids"].shape == (3, 3)


def test_sequence_targets_one_class_per_sequence(gen, torch) -> None:
    m = gen["sequence"]
    data = m.Data([[5, 3, 9], [7]], targets=[1, 0])
    assert data[0]["target"].tolist() == 1 and data[0]["target"].dtype == torch.int64
    batch = m.pad_collate([data[0], data[1]])
    assert batch["target"].tolist() == [1, 0] and "labels" not in batch
    assert "target" not in m.pad_collate([m.Data([[1]])[0]])
    with pytest.raises(ValueError, match="1 targets for 2 sequences"):
        m.Data([[1, 2], [3]], targets=[1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=8),
    st.one_of(st.none(), st.integers(1, 9)),
    st.booleans(),
)
def test_pad_collate_properties(gen, lengths: list[int], multiple: int | None, labelled: bool):
    import torch

    m = gen["sequence"]
    sequences = [list(range(1, n + 1)) for n in lengths]
    data = m.Data(sequences, labels=sequences if labelled else None)
    batch = m.pad_collate(
        [data[i] for i in range(len(data))], pad_id=-1, pad_to_multiple_of=multiple
    )
    longest = max(lengths)
    expected_t = longest + (-longest % multiple if multiple else 0)
    assert batch["input_ids"].shape == (len(lengths), expected_t)
    assert expected_t % (multiple or 1) == 0 and expected_t - longest < (multiple or 1)
    assert batch["lengths"].tolist() == lengths
    mask = batch["attention_mask"]
    assert mask.sum(dim=1).tolist() == lengths
    assert torch.equal(batch["input_ids"] == -1, ~mask)
    if labelled:
        assert torch.equal(batch["labels"] == -100, ~mask)
        assert torch.equal(batch["labels"][mask], batch["input_ids"][mask])
    else:
        assert "labels" not in batch


# -- images ---------------------------------------------------------------------------------------


def _png(path: Path, value: int, size: tuple[int, int] = (6, 4), mode: str = "RGB") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, value, value)
    Image.new(mode, size, color=color).save(path)


def test_images_by_class_folder_and_by_labels_csv(gen, torch, tmp_path: Path) -> None:
    Data = gen["images"].Data
    for i, name in enumerate(["cat", "dog", "cat", "emu"]):
        _png(tmp_path / "tree" / name / f"{i}.PNG", 10 * i)
    (tmp_path / "tree" / "dog" / "notes.txt").write_text("skipped")
    tree = Data(tmp_path / "tree", mean=[0, 0, 0], std=[1, 1, 1])
    assert tree.classes == ["cat", "dog", "emu"] and tree.num_classes == 3 and len(tree) == 4
    image, label = tree[0]
    assert image.shape == (3, 4, 6) and image.dtype == torch.float32 and label == 0
    assert torch.allclose(image, torch.zeros(3, 4, 6))
    # A labels CSV (BOM, spaces, blank lines, its own column names): class names sorted...
    labels = tmp_path / "labels.csv"
    labels.write_text("\ufeff name , kind \ncat/0.PNG,b\n\ndog/1.PNG, a\n", encoding="utf-8")
    named = Data(tmp_path / "tree", labels, file_column="name", label_column="kind")
    assert named.classes == ["a", "b"] and named.targets.tolist() == [1, 0]
    # ... integer labels are the classes 0 .. max, whichever occur.
    labels.write_text("file,label\ncat/0.PNG,3\ndog/1.PNG,1\n", encoding="utf-8")
    numbered = Data(tmp_path / "tree", labels)
    assert numbered.num_classes == 4 and numbered.targets.tolist() == [3, 1]
    # The transform: resize the shorter side, crop (at random with augment), greyscale.
    grey = Data(tmp_path / "tree", labels, mode="L", resize=8, crop=5, augment=True)
    assert grey[0][0].shape == (1, 5, 5)
    assert gen["images"].load_image(tree.path(1), resize=8, crop=8).shape == (3, 8, 8)
    mean, std = gen["images"].channel_stats(tree)
    assert mean == pytest.approx([15 / 255] * 3) and std == pytest.approx(
        [11.1803 / 255] * 3, rel=1e-4
    )
    import pickle

    assert pickle.loads(pickle.dumps(grey)).targets.tolist() == [3, 1]


@pytest.mark.parametrize(
    ("labels", "arguments", "message"),
    [
        (None, {}, "no .png/.jpg.* files in any class folder"),
        ("file,label\n", {}, "no rows after the header"),
        ("file,kind\nx.png,1\n", {}, "no column 'label'; its columns are file, kind"),
        ("file,label\nx.png,\n", {}, "line 2: an empty label"),
        ("file,label\nnope.png,1\n", {}, "line 2: no image 'nope.png'"),
        ("file,label\nx.png,1\n", {"mode": "CMYK"}, "mode 'CMYK': expected one of RGB, L"),
        ("file,label\nx.png,1\n", {"mean": [0.5]}, r"mean \[0.5\]: expected 3 values"),
        ("file,label\nx.png,1\n", {"std": [1, 0, 1]}, "every value must be > 0"),
        ("file,label\nx.png,1\n", {"crop": -1}, "crop = -1: expected a size >= 0"),
    ],
)
def test_images_errors_name_the_file_and_line(gen, tmp_path: Path, labels, arguments, message):
    Data = gen["images"].Data
    (tmp_path / "empty").mkdir()
    _png(tmp_path / "x.png", 0)
    path = None
    if labels is not None:
        path = tmp_path / "labels.csv"
        path.write_text(labels, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        Data(tmp_path if labels is not None else tmp_path / "empty", path, **arguments)


def test_an_unreadable_image_names_its_file(gen, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(RuntimeError, match=r"cannot read image 0, .*bad.png"):
        gen["images"].Data(tmp_path)[0]


def test_labelled_kinds_count_their_classes(gen, torch, tmp_path: Path) -> None:
    """What the training script sizes a model's num_classes by: max + 1 of integer labels,
    None for regression targets."""
    assert gen["tensor"].Data(torch.zeros(5, 2), torch.tensor([0, 1, 4, 1, 0])).num_classes == 5
    assert gen["tensor"].Data(torch.zeros(2, 2), torch.tensor([0.5, 1.0])).num_classes is None
    path = _write_csv(tmp_path / "t.csv", [["x", "label"], ["1", "0"], ["2", "1"]])
    assert gen["csv"].Data(path, target_dtype="int64").num_classes == 2
    assert gen["csv"].Data(path).num_classes is None  # float targets: regression
    assert gen["sequence"].Data([[1, 2], [3]], targets=[2, 0]).num_classes == 3
    assert gen["sequence"].Data([[1, 2], [3]]).num_classes is None
