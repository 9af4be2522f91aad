"""How much of the model zoos does ``torchgen model NAME --from`` eject, exactly, and how fast?

    pip install torchvision==0.28.0 && pip install timm==1.0.31 --no-deps   # timm: optional
    python bench/bench_eject_zoo.py                       # every torchvision classifier
    python bench/bench_eject_zoo.py --timm                # and one timm model per family
    python bench/bench_eject_zoo.py --models resnet50,regnet_y_400mf --baseline

Each model is ejected in a fresh process, as a user runs the command (``--weights`` included,
so the command's own check runs: the generated class, loaded with the converted weights,
against the original), and the table prints model | outcome | max diff | seconds | lines:
``exact`` where the check passed (its max abs diff), else the command's one-line error, or
``CRASH`` where it printed a traceback (never acceptable). ``--baseline`` adds the time of
importing the model's library and building the model once, in a fresh process, and the
ratio (issue 16's goal: at most 2.5x). A full sweep takes an hour on two cores: on a shared
machine, give ``--models``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One model per timm family (pretrained=False): the families issue 16 counted.
TIMM = [
    "resnet18", "efficientnet_b0", "mobilenetv3_small_050", "regnety_002", "rexnet_100",
    "mnasnet_050", "fbnetc_100", "hardcorenas_a", "ghostnet_100", "dpn68", "inception_v3",
    "xception41", "cspdarknet53", "repvgg_a0", "resnetv2_50", "convnext_atto",
    "edgenext_xx_small", "vit_tiny_patch16_224", "deit_tiny_patch16_224", "beit_base_patch16_224",
    "swin_tiny_patch4_window7_224", "levit_128s", "efficientformer_l1", "tiny_vit_5m_224",
    "eva02_tiny_patch14_224", "densenet121", "dla34", "hrnet_w18_small", "crossvit_tiny_240",
    "pit_ti_224", "coatnet_0_rw_224", "fastvit_t8", "mobilevit_xxs", "convmixer_768_32",
    "mixer_b16_224", "resmlp_12_224", "poolformer_s12", "cait_xxs24_224", "ese_vovnet19b_dw",
    "selecsls42b", "tresnet_m", "nf_resnet26",
]  # fmt: skip

# The factory module the command is pointed at: torchvision needs the op-schema shim beside
# the CPU torch (tests/reference.py explains it).
FACTORY = """
import sys

sys.path.insert(0, {tests!r})
from reference import _torchvision

_torchvision()


def make(name, library="torchvision"):
    if library == "timm":
        import timm

        return timm.create_model(name, pretrained=False)
    import torchvision

    return torchvision.models.get_model(name)
"""

BASELINE = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, {folder!r})
import zoo_models
zoo_models.make({name!r}, {library!r})
print(time.perf_counter() - start)
"""


def torchvision_names() -> list[str]:
    code = FACTORY + "\nimport torchvision\nprint(' '.join(torchvision.models.list_models(" \
        "module=torchvision.models)))"  # fmt: skip
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    out = subprocess.run(
        [sys.executable, "-c", code.format(tests=tests)],
        check=False,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


# The input a model needs where 224x224 is not it (Inception's auxiliary head, which the lift
# keeps, runs only from 299x299).
SIZES = {"inception_v3": "299"}


def eject(folder: Path, name: str, library: str, style: str, timeout: int) -> dict:
    args = json.dumps({"name": name, "library": library})
    command = [
        "torchgen", "model", "Net", "--from", "zoo_models.py:make", "--args", args,
        "--style", style, "-o", f"{name}.py", "--weights", f"{name}.pt", "--force",
        "--input-size", SIZES.get(name, "224"),
    ]  # fmt: skip
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=folder, check=False, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"timeout after {timeout} s", "diff": "", "seconds": timeout}
    seconds = time.perf_counter() - start
    text = done.stdout + done.stderr
    found = re.search(r"max abs diff ([0-9.e+-]+)", text)
    if done.returncode == 0 and found:
        lines = len((folder / f"{name}.py").read_text().splitlines())
        return {"outcome": "exact", "diff": found.group(1), "seconds": seconds, "lines": lines}
    if "Traceback" in text:
        last = text.strip().splitlines()[-1]
        return {"outcome": f"CRASH {last[:90]}", "diff": "", "seconds": seconds}
    error = next((line for line in text.splitlines() if line.startswith("Error:")), text.strip())
    return {"outcome": error[:110], "diff": "", "seconds": seconds}


def baseline(folder: Path, name: str, library: str) -> float:
    code = BASELINE.format(folder=str(folder), name=name, library=library)
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    return float(out.stdout.strip() or "nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated torchvision names (default: all)")
    parser.add_argument("--timm", action="store_true", help="also one timm model per family")
    parser.add_argument("--timm-models", help="comma-separated timm names instead of the list")
    parser.add_argument("--style", default="explicit")
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--baseline", action="store_true", help="time import + build too")
    options = parser.parse_args()
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    jobs = [("torchvision", n) for n in (options.models.split(",") if options.models else [])]
    if not options.models and not options.timm_models:
        jobs = [("torchvision", n) for n in torchvision_names()]
    if options.timm or options.timm_models:
        names = options.timm_models.split(",") if options.timm_models else TIMM
        jobs += [("timm", n) for n in names]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "zoo_models.py").write_text(FACTORY.format(tests=tests))
        for library, name in jobs:
            row = {"model": f"{library}:{name}", **eject(folder, name, library, options.style,
                                                          options.timeout)}  # fmt: skip
            if options.baseline:
                row["build"] = baseline(folder, name, library)
            rows.append(row)
            print(_line(row, options.baseline), flush=True)
    exact = sum(r["outcome"] == "exact" for r in rows)
    crashes = sum(r["outcome"].startswith("CRASH") for r in rows)
    print(f"\n{exact} of {len(rows)} exact, {crashes} crashed ({options.style} style)")


def _line(row: dict, with_baseline: bool) -> str:
    text = (
        f"{row['model']:<45} | {row['outcome'][:60]:<60} | {row['diff']:>8} | "
        f"{row['seconds']:6.1f} | {row.get('lines', ''):>5}"
    )
    if with_baseline:
        ratio = row["seconds"] / row["build"] if row["build"] else float("nan")
        text += f" | build {row['build']:5.1f} | x{ratio:.1f}"
    return text


if __name__ == "__main__":
    main()
