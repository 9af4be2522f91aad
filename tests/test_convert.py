"""``torchgen convert`` end to end: between the styles of one generated model, from torchvision's
and nanoGPT's checkpoints into every style, from a generated project's training checkpoint, and
its refusals (one line, exit 1, nothing written).

Reference models are randomly initialised and saved to tmp_path: no downloads. Their 1-D tensors
(biases, norms, running statistics) are randomised too, since the inits leave many equal (zeros,
ones) and a swap of two equal tensors would go unseen.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import nanogpt
from conftest import ROOT, import_file, run_cli, run_torchgen, tree_snapshot
from reference import torchvision_models
from torchscaffold.generate.convert import rekey
from torchscaffold.generate.model import STYLES
from torchscaffold.spec.presets import PRESETS
from torchscaffold.weights import checkpoint

# Every style, and sequential's --numbered variant.
VARIANTS = [(style, False) for style in STYLES] + [("sequential", True)]
VARIANT_IDS = [f"{s}{'-numbered' if n else ''}" for s, n in VARIANTS]
GPT_SPEC = ROOT / "docs" / "examples" / "gpt_small.toml"

# torchvision's counterparts of the presets (whichever exist in this tree): the input size to
# compare at, and the keyword arguments both constructors get for it. ViT's input size is its
# image_size argument (its position embedding's length); the others take --input-size.
TORCHVISION = {
    "resnet18": (32, {}),
    "vgg11": (32, {}),
    "resnet50": (32, {}),
    "mobilenet_v2": (32, {}),
    "vit_b_16": (32, {"image_size": 32}),
}
REFERENCES = [p for p in TORCHVISION if p in PRESETS]


@pytest.fixture(scope="module", autouse=True)
def one_thread(torch):
    """These models are small: one thread runs them several times faster than two on a busy
    2-core machine, where a parallel region waits for its second thread to be scheduled."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Callable[..., Path]:
    """``made(preset, style, numbered, size)``: the generated file, made once per module."""
    out = tmp_path_factory.mktemp("convert-models")
    cache: dict[tuple, Path] = {}

    def make(preset: str, style: str, numbered: bool = False, size: int | None = None) -> Path:
        key = (preset, style, numbered, size)
        if key not in cache:
            path = out / f"{preset}_{style}{'_numbered' if numbered else ''}_{size}.py"
            args = ["model", "GPT" if preset == "gpt" else "Net", "--style", style]
            args += ["--spec", str(GPT_SPEC)] if preset == "gpt" else ["--preset", preset]
            args += ["--numbered"] if numbered else []
            args += ["--input-size", str(size)] if size else []
            result = run_cli(*args, "-o", str(path))
            assert result.exit_code == 0, result.output
            cache[key] = path
        return cache[key]

    return make


def randomize(model, torch, seed: int = 0) -> None:
    """Random values in every 1-D tensor and counter (a running_var stays positive)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict(keep_vars=True).items():
            if t.is_floating_point() and t.dim() <= 1:
                values = torch.rand(t.shape, generator=generator) + 0.5
                t.copy_(values if key.endswith("running_var") else values * 2 - 2)
            elif t.dtype == torch.long:
                t.fill_(int(torch.randint(1, 100, (), generator=generator)))


def built(path: Path, torch, name: str = "Net", seed: int = 0):
    torch.manual_seed(seed)
    model = getattr(import_file(path), name)().eval()
    randomize(model, torch, seed)
    return model


def on_meta(path: Path, torch, name: str = "Net", **kwargs):
    with torch.device("meta"):
        return getattr(import_file(path), name)(**kwargs).eval()


def assert_converted(result, *, check: bool = True) -> None:
    assert result.exit_code == 0, result.output
    assert re.search(r"^(create|force) ", result.output, re.MULTILINE), result.output
    if check:
        assert "check: ok, the converted weights load into" in result.output, result.output


# -- between styles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "size", "shape"),
    [("tiny", None, (3, 32, 32)), ("cnn", None, (1, 28, 28)), ("resnet18", 32, (3, 32, 32))],
)
def test_any_style_converts_into_any_other(made, torch, preset, size, shape):
    """Every ordered pair of styles: the converted state_dict loads strictly into the other
    style and gives identical outputs."""
    files = [made(preset, s, n, size) for s, n in VARIANTS]
    targets = [on_meta(f, torch) for f in files]
    x = torch.randn(1, *shape)
    with torch.no_grad():
        for i, file in enumerate(files):
            source = built(file, torch, seed=i)
            expected = source(x)
            state = source.state_dict()
            for j, target in enumerate(targets):
                if i != j:
                    converted, _, _ = rekey(state, target, VARIANT_IDS[j])
                    target.load_state_dict(converted, strict=True, assign=True)  # no copy
                    assert torch.equal(target(x), expected), (VARIANT_IDS[i], VARIANT_IDS[j])


def test_style_to_style_through_the_cli(made, torch, tmp_path):
    source = made("tiny", "explicit")
    ckpt = tmp_path / "explicit.pt"
    torch.save(built(source, torch).state_dict(), ckpt)
    target = made("tiny", "sequential", True)
    result = run_cli(
        "convert", str(ckpt), "--to", f"{target}:Net", "--check", "--from-class", f"{source}:Net"
    )
    assert_converted(result)
    assert "and compute what Net (" in result.output and "largest difference 0)" in result.output
    assert (tmp_path / "explicit.converted.pt").is_file()


def test_an_old_checkpoint_without_num_batches_tracked(made, torch, tmp_path):
    """Like torchvision's first published weights: the legacy (pre-zip) format, and no
    BatchNorm counters (PyTorch < 0.4.1). The counters are set to 0, as load_state_dict does."""
    source = made("tiny", "explicit")
    state = {k: v for k, v in built(source, torch).state_dict().items() if "num_batches" not in k}
    ckpt = tmp_path / "old.pth"
    torch.save(state, ckpt, _use_new_zipfile_serialization=False)
    result = run_cli(
        "convert",
        str(ckpt),
        "--to",
        str(made("tiny", "nested")),
        "--check",
        "--from-class",
        f"{source}:Net",
    )
    assert_converted(result)
    assert "(62 tensors; 10 num_batches_tracked set to 0)" in result.output, result.output
    assert "largest difference 0)" in result.output


# -- from torchvision ----------------------------------------------------------------------


@pytest.mark.parametrize("preset", REFERENCES)
def test_torchvision_checkpoint_into_every_style(made, torch, tmp_path, preset):
    size, kwargs = TORCHVISION[preset]
    torch.manual_seed(0)
    reference = getattr(torchvision_models(), preset)(**kwargs).eval()
    randomize(reference, torch)
    path = tmp_path / f"{preset}.pth"
    torch.save(reference.state_dict(), path)
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        expected = reference(x)
    del reference
    state = checkpoint.unwrap(checkpoint.read(path), path).state
    for (style, numbered), name in zip(VARIANTS, VARIANT_IDS):
        generated = made(preset, style, numbered, None if kwargs else size)
        target = on_meta(generated, torch, **kwargs)
        converted, _, _ = rekey(state, target, name)
        target.load_state_dict(converted, strict=True, assign=True)  # no init, no copy
        with torch.no_grad():
            torch.testing.assert_close(target(x), expected, msg=f"{preset} -> {name}")


def test_torchvision_check_through_the_cli(made, torch, tmp_path):
    tv = torchvision_models()
    path = tmp_path / "resnet18.pth"
    torch.save(tv.resnet18(num_classes=10).state_dict(), path)
    target = made("resnet18", "explicit", size=32)
    result = run_cli(
        "convert",
        str(path),
        "--to",
        str(target),
        "--args",
        '{"num_classes": 10}',
        "-o",
        str(tmp_path / "out") + "/",
        "--check",
        "--from-class",
        "torchvision.models:resnet18",
        "--from-args",
        '{"num_classes": 10}',
    )
    assert_converted(result)
    assert "compute what torchvision.models:resnet18 computes" in result.output
    assert "random input 2x3x32x32" in result.output  # the generated file's own input
    assert (tmp_path / "out" / "resnet18.converted.pt").is_file()


def test_a_generated_checkpoint_into_torchvisions_class(made, torch, tmp_path):
    """The other way: any importable class is a target; its input is guessed from its first
    layer (a Conv2d of 3 channels: images, whose size is tried on the meta device)."""
    torchvision_models()
    source = made("resnet18", "moduledict", size=32)
    torch.save(built(source, torch).state_dict(), tmp_path / "generated.pt")
    result = run_cli(
        "convert",
        str(tmp_path / "generated.pt"),
        "--to",
        "torchvision.models:resnet18",
        "--check",
        "--from-class",
        f"{source}:Net",
    )
    assert_converted(result)
    assert "compute what Net (" in result.output and "random input 2x3x32x32" in result.output


# -- from nanoGPT --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nanogpt_model(torch):
    torch.manual_seed(0)
    model = nanogpt.GPT(nanogpt.GPTConfig()).eval()
    randomize(model, torch)
    return model


def test_nanogpt_checkpoint_into_every_style_of_the_generated_gpt(
    made, torch, tmp_path, nanogpt_model
):
    # out/ckpt.pt as nanoGPT's train.py writes it, from a compiled model.
    ckpt = tmp_path / "ckpt.pt"
    torch.save(nanogpt.train_checkpoint(nanogpt_model), ckpt)
    idx = torch.randint(0, 100, (2, 16))
    with torch.no_grad():
        expected, _ = nanogpt_model(idx, targets=idx)  # with targets: logits at every position
    for (style, numbered), name in zip(VARIANTS, VARIANT_IDS):
        target = made("gpt", style, numbered)
        out = tmp_path / f"{name}.pt"
        result = run_cli("convert", str(ckpt), "--to", str(target), "-o", str(out), "--check")
        assert_converted(result)
        assert (
            "28 tensors; 29 keys: tied weights count once" in result.output
            and "under 'model'; '_orig_mod.' stripped; left out: optimizer, model_args, "
            "iter_num, best_val_loss, config" in result.output
        ), result.output
        model = import_file(target).GPT().eval()
        model.load_state_dict(torch.load(out, weights_only=True), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(model(idx), expected, msg=name)


def test_safetensors_saved_without_the_tied_duplicate(made, torch, tmp_path, nanogpt_model):
    """safetensors sorts a file's tensors by name: the class they were saved from (here a file
    path) gives back their order; save_model keeps one key of the tied pair."""
    safetensors = pytest.importorskip("safetensors.torch")
    path = tmp_path / "model.safetensors"
    safetensors.save_model(nanogpt_model, str(path))
    assert len(safetensors.load_file(str(path))) == 28
    target = made("gpt", "nested")
    source = f"{ROOT / 'tests' / 'nanogpt.py'}:GPT"
    result = run_cli("convert", str(path), "--to", str(target), "--from-class", source)
    assert_converted(result, check=False)
    assert "in the order of GPT (" in result.output and "29 keys" in result.output
    model = import_file(target).GPT().eval()
    model.load_state_dict(torch.load(tmp_path / "model.converted.pt", weights_only=True))
    idx = torch.randint(0, 100, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(model(idx), nanogpt_model(idx, targets=idx)[0])


def test_safetensors_between_styles(made, torch, tmp_path):
    save_file = pytest.importorskip("safetensors.torch").save_file
    explicit, nested = made("tiny", "explicit"), made("tiny", "nested")
    save_file(built(explicit, torch).state_dict(), tmp_path / "explicit.safetensors")
    result = run_cli(
        "convert",
        str(tmp_path / "explicit.safetensors"),
        "--to",
        str(nested),
        "--check",
        "--from-class",
        f"{explicit}:Net",
    )
    assert_converted(result)
    assert "largest difference 0)" in result.output
    # The target's own keys need no class: the file is put in the target's order.
    save_file(built(nested, torch).state_dict(), tmp_path / "nested.safetensors")
    again = run_cli("convert", str(tmp_path / "nested.safetensors"), "--to", str(nested), "--check")
    assert_converted(again)


# -- from a generated project --------------------------------------------------------------


def test_a_projects_training_checkpoint(made, torch, tmp_path):
    """``last.pt`` as a project of ``torchgen new`` writes it (templates/project/checkpoint.py),
    from a DDP-wrapped model: its weights under ``model``, keys prefixed ``module.``."""
    source = made("tiny", "explicit")
    model = built(source, torch).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    optimizer.step()
    model.eval()
    ckpt = tmp_path / "last.pt"
    state = {
        "model": {f"module.{k}": v for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": {"last_epoch": 1, "_step_count": 2},
        "scaler": None,
        "epoch": 1,
        "step": 10,
        "best": 0.5,
        "bad_epochs": 0,
        "rng": {"python": random.getstate(), "torch": torch.get_rng_state(), "cuda": []},
        "config": {"train": {"lr": 1e-3, "epochs": 2}, "model": {"name": "Net"}},
    }
    torch.save(state, ckpt)
    target = made("tiny", "moduledict")
    result = run_cli(
        "convert", str(ckpt), "--to", f"{target}:Net", "--check", "--from-class", f"{source}:Net"
    )
    assert_converted(result)
    assert "'module.' stripped; left out: optimizer, scheduler, scaler, epoch" in result.output
    converted = torch.load(tmp_path / "last.converted.pt", weights_only=True)
    net = import_file(target).Net().eval()
    net.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), model(x))


# -- refusals ------------------------------------------------------------------------------


class Hostile:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.fixture(scope="module")
def bad(made, torch, tmp_path_factory) -> Path:
    """A folder of good and bad inputs for the refusals."""
    root = tmp_path_factory.mktemp("bad")
    tiny = made("tiny", "explicit")
    torch.save(built(tiny, torch).state_dict(), root / "tiny.pt")
    torch.save(built(made("cnn", "explicit"), torch).state_dict(), root / "cnn.pt")
    (root / "tiny.py").write_text(tiny.read_text())
    torch.save({"w": torch.zeros(2), "x": Hostile(root / "PWNED")}, root / "hostile.pt")
    (root / "empty.pt").write_bytes(b"")
    data = (root / "tiny.pt").read_bytes()
    (root / "truncated.pt").write_bytes(data[: len(data) // 2])
    (root / "random.pt").write_bytes(random.Random(0).randbytes(4096))
    (root / "text.pt").write_text("not a checkpoint\n")
    (root / "folder.pt").mkdir()
    torch.save([torch.zeros(2)], root / "list.pt")
    torch.save({"epoch": 3, "optimizer": {}}, root / "no_weights.pt")
    (root / "random.safetensors").write_bytes(random.Random(1).randbytes(64))
    with contextlib.suppress(ImportError):
        from safetensors.torch import save_file

        save_file(built(made("tiny", "sequential"), torch).state_dict(), root / "other.safetensors")
    (root / "noclass.py").write_text("import torch\nWIDTH = 3\n")
    (root / "broken.py").write_text("class Net(:\n")
    (root / "raises.py").write_text(
        "from torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self) -> None:\n"
        "        super().__init__()\n"
        "        raise ValueError('no weights for you')\n"
    )
    (root / "needs_args.py").write_text(
        "from torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, width: int) -> None:\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(width, 2)\n"
    )
    (root / "exists.converted.pt").write_bytes(b"the user's file")
    torch.save(built(tiny, torch).state_dict(), root / "exists.pt")
    return root


REFUSALS = [
    (
        ["cnn.pt", "--to", "tiny.py"],
        (
            "cnn.pt does not fit Net (tiny.py): 'features_conv1.weight' (6, 1, 5, 5) float32 "
            "(tensor 1 of 10) does not fit: the target expects 'stem.weight' (32, 3, 3, 3) "
            "float32 there; nothing was written"
        ),
    ),
    (
        ["tiny.pt", "--to", "tiny.py", "--args", '{"num_classes": 5}'],
        (
            "tiny.pt does not fit Net (tiny.py): 'head.weight' (10, 64) float32 (tensor 61 of 62) "
            "does not fit: the target expects 'head.weight' (5, 64) float32 there"
        ),
    ),
    (["hostile.pt", "--to", "tiny.py"], "refused, not loaded: it would import posix.system"),
    (["missing.pt", "--to", "tiny.py"], "missing.pt: no such checkpoint"),
    (["empty.pt", "--to", "tiny.py"], "empty.pt: empty file, not a checkpoint"),
    (["truncated.pt", "--to", "tiny.py"], "truncated.pt: truncated or corrupt (Pytorch"),
    (["random.pt", "--to", "tiny.py"], "random.pt: corrupt or not a torch checkpoint"),
    (["text.pt", "--to", "tiny.py"], "text.pt: corrupt or not a torch checkpoint"),
    (["folder.pt", "--to", "tiny.py"], "folder.pt: not a regular file"),
    (["list.pt", "--to", "tiny.py"], "list.pt: not a state_dict but a list"),
    (["no_weights.pt", "--to", "tiny.py"], "'epoch' holds a int, and there is no 'model'"),
    (["random.safetensors", "--to", "tiny.py"], "random.safetensors: not a readable safetensors"),
    (["tiny.pt", "--to", "nope.py"], "nope.py: no such file"),
    (["tiny.pt", "--to", "noclass.py"], "noclass.py defines no nn.Module class"),
    (["tiny.pt", "--to", "tiny.py:Nett"], "tiny.py has no 'Nett' (did you mean 'Net'?)"),
    (["tiny.pt", "--to", "broken.py"], "could not import"),
    (["tiny.pt", "--to", "raises.py"], "could not build Net (raises.py): ValueError: no weights"),
    (
        ["tiny.pt", "--to", "needs_args.py"],
        (
            "could not build Net (needs_args.py): TypeError: Net.__init__() missing 1 required "
            "positional argument: 'width' (give its keyword arguments with --args JSON)"
        ),
    ),
    (["tiny.pt", "--to", "tiny.py", "--args", "{width: 3}"], "--args is not valid JSON"),
    (["tiny.pt", "--to", "tiny.py", "--from-args", "{}"], "--from-args needs --from-class"),
    (
        ["other.safetensors", "--to", "tiny.py"],
        (
            "other.safetensors: a safetensors file keeps its tensors sorted by name, not in the "
            "model's order, and its keys are not the target's: name the class it was saved "
            "from with --from-class MODULE:CALLABLE"
        ),
    ),
    (
        ["tiny.pt", "--to", "tiny.py", "--check", "--from-class", "no_such_module:Net"],
        "no module named 'no_such_module' (nor a file of that name)",
    ),
    (
        ["tiny.pt", "--to", "tiny.py", "--check", "--from-class", "needs_args.py:Net"]
        + ["--from-args", '{"width": 3}'],
        (
            "check failed: the checkpoint's weights do not load into Net (needs_args.py) with "
            'strict=True (Missing key(s) in state_dict: "fc.weight"'
        ),
    ),
    (["exists.pt", "--to", "tiny.py"], "exists.converted.pt already exists and differs; use "),
]


@pytest.mark.parametrize(
    ("args", "message"), REFUSALS, ids=[r[0][0] + "-" + r[0][2] for r in REFUSALS]
)
def test_refusals_are_one_line_and_write_nothing(bad, args, message):
    if args[0].endswith(".safetensors"):
        pytest.importorskip("safetensors")
    before = tree_snapshot(bad)
    result = run_cli("convert", *args, cwd=bad)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert message in lines[0], lines[0]
    assert tree_snapshot(bad) == before
    assert not (bad / "PWNED").exists()


def test_a_hostile_pickle_is_refused_by_the_real_command(bad):
    """The console entry point: exit 1, one line on stderr, no traceback, nothing run."""
    done = run_torchgen("convert", "hostile.pt", "--to", "tiny.py", cwd=bad)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("Error: hostile.pt: refused, not loaded: it would import ")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (bad / "PWNED").exists() and not (bad / "hostile.converted.pt").exists()


def test_force_overwrites_and_dry_run_writes_nothing(bad, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    for name in ("exists.pt", "exists.converted.pt", "tiny.py"):
        (work / name).write_bytes((bad / name).read_bytes())
    before = tree_snapshot(work)
    dry = run_cli("convert", "exists.pt", "--to", "tiny.py", "--dry-run", cwd=work)
    assert dry.exit_code == 0 and "conflict   exists.converted.pt" in dry.output
    assert tree_snapshot(work) == before
    forced = run_cli("convert", "exists.pt", "--to", "tiny.py", "--force", cwd=work)
    assert forced.exit_code == 0 and "force      exists.converted.pt" in forced.output
    again = run_cli("convert", "exists.pt", "--to", "tiny.py", cwd=work)
    assert "identical  exists.converted.pt" in again.output  # torch.save is deterministic


# -- docs/weights.md -----------------------------------------------------------------------


def _doc_blocks() -> list[str]:
    """Every bash block of docs/weights.md: each section's commands run as written."""
    text = (ROOT / "docs" / "weights.md").read_text()
    return re.findall(r"```bash\n(.*?)```", text, re.DOTALL)


@pytest.mark.parametrize("block", _doc_blocks(), ids=lambda b: b.split()[2])
def test_the_docs_commands_run(block, tmp_path, monkeypatch):
    """Each command of the section, as written: torchgen in-process, ``python -c`` in-process
    with the folder importable (torch is imported once per session, not per command)."""
    if "torchvision" in block:
        torchvision_models()  # or skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "torchgen":
            result = run_cli(*words[1:])
            assert result.exit_code == 0, f"{line}\n{result.output}"
            if "--check" in words:
                assert "check: ok" in result.output, result.output
        else:
            assert words[:2] == ["python", "-c"], line
            exec(compile(words[2], "<docs>", "exec"), {"__name__": "__docs__"})  # noqa: S102
    for name in [m for m in sys.modules if (tmp_path / f"{m}.py").exists()]:
        del sys.modules[name]
