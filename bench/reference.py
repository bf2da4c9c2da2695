"""`make bench-reference`: the original 2022 design against lukewarm's variants, side by side.

All caption with the same ResNet-101 / 9,490-word Show-Attend-Tell weights (random,
seeded) and decode exactly the same number of steps with the same beam: the `<end>`
logit is pushed to -1e4, so none stops early, and all stop at `--steps`.

- original: torch and torchvision as `pip install torch torchvision` gives them (the
  CUDA build, run on CPU), the whole model pickled with joblib, numpy preprocessing,
  no inference mode, the tutorial's beam search (attention projection recomputed at
  every step). Runs in this repository's dev virtualenv.
- lukewarm, once per variant: a model directory the image bakes in plus the runtime
  (`LUKEWARM_RUNTIME`) it loads on, each runtime in its own cached virtualenv holding
  what its image installs (the function's requirements for the runtime), `captioner`
  on the path: `onnx` (ONNX Runtime on numpy, the fp32 export), `onnx-int8` (the same
  runtime, the int8 export) and `torch` (CPU-only torch, safetensors). torch comes from PyTorch's
  CPU-only index at the version the image pins; where that index cannot be reached, set
  `LUKEWARM_TORCH_WHEEL` (or `--torch-wheel`) to a CPU-only torch wheel file.

Every figure comes from fresh processes on one thread (OMP/MKL/ONNX Runtime/torch),
median of `--runs`: cold start (process start to first caption), warm caption latency
(image bytes to caption), peak RSS, and the installed size of the runtime's
distributions plus the model files the image holds. A first round per variant, not
counted, warms the disk cache and bytecode alike and checks that all compute the same
greedy caption; then every lukewarm variant captions the real photos and a few held-out
scenes, greedily and at the benchmark's beam, to compare their captions. Writes
bench/results/reference.md; the last lines are one `CPU-time ratios[VARIANT]:` line per
variant, then one `ratios[VARIANT]:` line per variant (each time the one named after the
stack's default runtime first), then that variant's `ratios:` line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"
CACHE = ROOT / ".bench"
RESULTS = ROOT / "bench" / "results" / "reference.md"
CHILD = ROOT / "bench" / "child.py"
PHOTOS = ROOT / "data" / "photos"
DEV_PYTHON = Path(sys.executable)
EVALUATION_SEED = 1000003
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_WHEEL_VARIABLE = "LUKEWARM_TORCH_WHEEL"
"""A CPU-only torch wheel file to install instead of reaching PyTorch's index (offline)."""

VOCAB_SIZE = 9490
SEED = 0
ORIGINAL_DISTS = ("torch", "torchvision", "numpy", "pillow", "joblib")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LUKEWARM_THREADS": "1"}

REQUIREMENTS = {"onnx": "requirements-onnx.txt", "torch": "requirements-torch.txt"}
"""The function's requirements file for each runtime (function/Dockerfile's RUNTIME)."""
VARIANTS = {"onnx": "onnx", "onnx-int8": "onnx", "torch": "torch"}
"""Each benchmarked variant (its model directory's name) and the runtime it loads with."""
TARGETS: dict[str, dict[str, float]] = {
    "onnx": {"cold": 5, "warm": 3.5, "rss": 3, "size": 15},
    "onnx-int8": {"cold": 7, "warm": 5, "rss": 4},
    "torch": {"cold": 4, "warm": 5, "rss": 3, "size": 3},
}
"""Original ÷ lukewarm, from the project's brief, per variant."""
FIGURES = {
    "cold": ("cold start, process to first caption", "cold_s", "s", 2),
    "warm": ("warm caption", "warm_ms", "ms", 0),
    "rss": ("peak RSS", "max_rss_mb", "MB", 0),
    "size": ("installed size (dependencies + model files)", "size_mb", "MB", 0),
    "cold_cpu": ("cold start, CPU time", "cold_cpu_s", "s", 2),
    "warm_cpu": ("warm caption, CPU time", "warm_cpu_ms", "ms", 0),
}
"""Table row → (label, figure, unit, decimals)."""
CPU_FIGURES = {"cold": "cold_cpu_s", "warm": "warm_cpu_ms"}
"""The CPU time beside each wall-time figure that has a target."""


@dataclass(frozen=True)
class Side:
    """One column of the table: the original or a lukewarm variant (`label`), its
    interpreter, the model it loads and the runtime it loads it on."""

    label: str
    python: Path
    pythonpath: Path
    model: Path
    runtime: str | None = None
    """What `captioner` loads the model with (`LUKEWARM_RUNTIME`: `onnx` for both ONNX
    variants); None for the original design."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per variant")
    parser.add_argument("--warm", type=int, default=3, help="warm captions per process")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument(
        "--steps",
        type=int,
        default=25,
        help="decoding steps for all (default 25: lukewarm's 24-word limit and <end>)",
    )
    parser.add_argument("--scenes", type=int, default=8, help="held-out scenes to compare on")
    parser.add_argument("--image", type=Path, default=PHOTOS / "motorcycle.jpg")
    parser.add_argument("--out", type=Path, default=RESULTS)
    add_torch_wheel(parser, "install lukewarm's torch")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warm < 1 or args.scenes < 0 or not 2 <= args.steps <= 100:
        parser.error("--runs and --warm must be at least 1, --scenes 0 or more, --steps 2-100")
    check_torch_wheel(parser, args)

    began = time.perf_counter()
    variants = variant_order(default_runtime())
    pythons = {runtime: runtime_venv(runtime, args.torch_wheel) for runtime in REQUIREMENTS}
    models = _models(args.steps)
    original = Side("original", DEV_PYTHON, ROOT, models / "original" / "model.joblib")
    sides = [original] + [
        Side(name, pythons[VARIANTS[name]], FUNCTION_DIR, models / name, VARIANTS[name])
        for name in variants
    ]
    results: dict[str, list[dict[str, Any]]] = {side.label: [] for side in sides}
    # The first round warms caches alike for all and checks the original and torch compute
    # the same caption, on an image already at the input size (their resizing differs).
    check_image = models / "check-256.png"
    Image.open(args.image).convert("RGB").resize((256, 256)).save(check_image)
    check = {side.label: _timed_run(side, args, check_image, beam=1) for side in sides}
    # Greedy: the same words, except that lukewarm's last step can only end the caption.
    same_caption = check["original"]["caption"].split()[:-1] == check["torch"]["caption"].split()
    print(_versions(check, args.torch_wheel), flush=True)
    print(f"{args.runs} fresh processes per variant, {args.warm} warm captions each", flush=True)
    for _ in range(args.runs):
        for side in sides:
            result = _timed_run(side, args, args.image.resolve())
            results[side.label].append(result)
            print(
                f"  {side.label:10} cold {result['cold_s']:6.2f} s "
                f"({result['cold_cpu_s']:5.2f} s CPU)  warm "
                f"{statistics.median(result['warm_ms']):6.0f} ms "
                f"({statistics.median(result['warm_cpu_ms']):5.0f} ms CPU)  "
                f"rss {result['max_rss_mb']:5.0f} MB",
                flush=True,
            )
    figures = {label: _summary(runs) for label, runs in results.items()}
    figures["original"] |= _size(DEV_PYTHON, ORIGINAL_DISTS, [original.model])
    for side in sides[1:]:
        files = image_model_files(side.model, side.runtime or "")
        figures[side.label] |= _size(side.python, requirement_names(side.runtime or ""), files)
        # As resident memory is counted: MiB.
        figures[side.label]["weights_mb"] = sum(f.stat().st_size for f in files) / 2**20
    comparisons = _compare_captions(sides[1:], args.scenes, args.beam)
    table = _table(figures, variants, comparisons, args, same_caption)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print()
    print(table)
    print(f"written to {args.out} in {time.perf_counter() - began:.0f} s")
    # Wall time on a shared machine also measures the neighbours; CPU time does not.
    for name in variants:
        print(f"CPU-time ratios[{name}]: {_ratios(figures['original'], figures[name], cpu=True)}")
    for name in variants:
        print(f"ratios[{name}]: {_ratios(figures['original'], figures[name])}")
    print(f"ratios: {_ratios(figures['original'], figures[variants[0]])}")
    return 0


def add_torch_wheel(parser: argparse.ArgumentParser, what: str) -> None:
    """`--torch-wheel WHEEL`: `what` (a torch side of the bench) from a CPU-only wheel file
    instead of PyTorch's index, which some machines cannot reach."""
    parser.add_argument(
        "--torch-wheel",
        type=Path,
        default=os.environ.get(TORCH_WHEEL_VARIABLE) or None,
        metavar="WHEEL",
        help=f"{what} from this CPU-only wheel file instead of {TORCH_INDEX} "
        f"(default: ${TORCH_WHEEL_VARIABLE})",
    )


def check_torch_wheel(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.torch_wheel is not None and not args.torch_wheel.is_file():
        parser.error(f"no torch wheel at {args.torch_wheel}")


def default_runtime() -> str:
    """The stack's default runtime, from `Pulumi.yaml`."""
    from infra.settings import project_defaults

    return str(project_defaults()["runtime"])


def variant_order(default: str) -> list[str]:
    """Every variant, the one named after the default runtime first, then the others in
    their fixed order."""
    return [default, *(name for name in VARIANTS if name != default)]


def _ratios(original: dict[str, Any], lukewarm: dict[str, Any], *, cpu: bool = False) -> str:
    if cpu:
        keys = {"cold": "cold_cpu_s", "warm": "warm_cpu_ms"}
    else:
        keys = {key: FIGURES[key][1] for key in ("cold", "warm", "rss", "size")}
    return " ".join(f"{name}={original[key] / lukewarm[key]:.1f}" for name, key in keys.items())


# --- the runtimes' virtualenvs ------------------------------------------------------------


NO_DEPS_MARK = "# --no-deps"
"""A requirement line ending so is installed without its dependencies, as the image does."""


def requirements(runtime: str, *, no_deps: bool | None = None) -> list[str]:
    """The function image's requirement lines for `runtime` (pins, no comments); with
    `no_deps` True or False, only the lines installed without or with dependencies."""
    lines = (FUNCTION_DIR / REQUIREMENTS[runtime]).read_text().splitlines()
    pins = []
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        marked = line.rstrip().endswith(NO_DEPS_MARK)
        if no_deps is None or no_deps == marked:
            pins.append(line.split("#", 1)[0].strip())
    return pins


def requirement_names(runtime: str) -> tuple[str, ...]:
    """The distributions the image installs for `runtime`, by name."""
    names = (re.match(r"[A-Za-z0-9_.-]+", line) for line in requirements(runtime))
    return tuple(name.group(0) for name in names if name)


def install_commands(runtime: str, torch_wheel: Path | None) -> list[list[str]]:
    """pip's arguments, one install per list, that give the image's runtime: torch first,
    from PyTorch's CPU-only index at the pinned version (or from `torch_wheel`), as the
    Dockerfile installs it, then the rest from PyPI."""
    pinned = requirements(runtime, no_deps=False)
    without_deps = requirements(runtime, no_deps=True)
    torch_pin = [line for line in pinned if line.startswith("torch==")]
    rest = [line for line in pinned if line not in torch_pin]
    last = [["--no-deps", *without_deps]] if without_deps else []
    if not torch_pin:
        return [rest, *last]
    source = [str(torch_wheel)] if torch_wheel else ["--index-url", TORCH_INDEX, *torch_pin]
    return [source, rest, *last]


def runtime_venv(runtime: str, torch_wheel: Path | None) -> Path:
    """The Python of a virtualenv holding what the image installs for `runtime`. Built once
    in .bench/, rebuilt when the requirements or the torch source change."""
    venv = CACHE / f"venv-{runtime}"
    python = venv / "bin" / "python"
    stamp = venv / "installed.json"
    wanted = install_commands(runtime, torch_wheel)
    if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return python
    print(f"building lukewarm's {runtime} runtime in {venv} (once, a minute or two)", flush=True)
    subprocess.run([str(DEV_PYTHON), "-m", "venv", "--clear", str(venv)], check=True)
    for packages in wanted:
        pip = [str(python), "-m", "pip", "install", "--quiet", *packages]
        done = subprocess.run(pip, check=False)
        if done.returncode != 0:
            hint = ""
            if TORCH_INDEX in packages:
                hint = (
                    f"; without access to {TORCH_INDEX}, set {TORCH_WHEEL_VARIABLE} to a "
                    "CPU-only torch wheel file for this Python (or pass --torch-wheel)"
                )
            raise SystemExit(f"cannot install {' '.join(packages)}{hint}")
    stamp.write_text(json.dumps(wanted))
    return python


def _versions(check: dict[str, dict[str, Any]], torch_wheel: Path | None) -> str:
    """Which torch and ONNX Runtime each side ran, and where lukewarm's torch came from."""
    pins = dict(line.split("==", 1) for line in requirements("torch") if "==" in line)
    source = f"the wheel {torch_wheel.name}" if torch_wheel else f"{TORCH_INDEX}"
    lines = []
    for label, result in check.items():
        ran = [f"{name} {result[name]}" for name in ("torch", "onnxruntime") if result.get(name)]
        lines.append(f"{label}: {', '.join(ran) or 'neither torch nor ONNX Runtime'}")
    ran_torch = check["torch"]["torch"]
    note = f"lukewarm's torch from {source}"
    if ran_torch.split("+")[0] != pins.get("torch"):
        note += f": torch {ran_torch}, while the image pins {pins.get('torch')}"
    return "; ".join(lines) + f" ({note})"


# --- the models ---------------------------------------------------------------------------


def _models(steps: int) -> Path:
    """The same seeded random weights as a joblib pickle (original) and as lukewarm model
    directories, one per variant (fp32 and int8 exports, torch), made once per step count,
    in a process of its own."""
    digest = hashlib.sha256(f"{VOCAB_SIZE}-{SEED}-{steps}-v3".encode() + exporter_digest())
    key = digest.hexdigest()[:12]
    models = CACHE / "reference" / key
    if not (models / "done").exists():
        print(f"building the ResNet-101 / {VOCAB_SIZE:,}-word model in {models}", flush=True)
        code = "import sys; from bench.reference import build_models; build_models(*sys.argv[1:])"
        subprocess.run([str(DEV_PYTHON), "-c", code, str(models), str(steps)], check=True, cwd=ROOT)
    return models


def exporter_digest() -> bytes:
    """What the model directories are made with: a change to the converter or the exporter
    makes them again (the function would refuse an export older than its format)."""
    sources = ("toolkit/convert.py", "toolkit/export.py", "function/captioner/exported.py")
    return hashlib.sha256(b"".join((ROOT / path).read_bytes() for path in sources)).digest()


def build_models(directory: str, steps: str) -> None:
    import joblib
    import torch

    from bench.original.models import DecoderWithAttention, Encoder
    from toolkit.convert import convert, write_model
    from toolkit.export import export_model
    from toolkit.scenes import make_scene

    torch.manual_seed(SEED)
    encoder = Encoder(14)
    encoder.fine_tune(False)  # the tutorial's default: the ResNet is not trained
    decoder = DecoderWithAttention(512, 512, 512, VOCAB_SIZE)
    # The tutorial's numbering: <pad> 0, words from 1, then <unk>, <start>, <end>.
    names = [f"word{i}" for i in range(1, VOCAB_SIZE - 3)]
    word_map = {"<pad>": 0, **{w: i for i, w in enumerate(names, 1)}}
    word_map |= {t: len(word_map) + i for i, t in enumerate(("<unk>", "<start>", "<end>"))}
    with torch.no_grad():
        decoder.fc.bias[word_map["<end>"]] = -1e4  # never ends early: equal steps for all
    models = Path(directory)
    (models / "original").mkdir(parents=True, exist_ok=True)
    joblib.dump(
        {"encoder": encoder.eval(), "decoder": decoder.eval(), "word_map": word_map},
        models / "original" / "model.joblib",
    )
    conversion = convert(
        encoder,
        decoder,
        word_map,
        name="reference-random",
        version=models.name,
        max_length=int(steps) - 1,
    )
    # Calibration for the int8 export, as a user of a converted model would give it: real
    # photos and generated scenes from the training split (the comparison uses held-out ones).
    calibration = models / "calibration"
    calibration.mkdir(exist_ok=True)
    for photo in PHOTOS.iterdir():
        if photo.suffix in {".png", ".jpg"}:
            shutil.copy(photo, calibration / photo.name)
    for index in range(8):
        make_scene("train", SEED, index).image.save(calibration / f"scene-{index}.png")
    # write_model makes the fp32 export; the other variants are copies of that directory.
    write_model(models / "onnx", conversion, force=True)
    shutil.copytree(models / "onnx", models / "onnx-int8", dirs_exist_ok=True)
    export_model(models / "onnx-int8", quantize="int8", calibration=calibration)
    (models / "torch").mkdir(exist_ok=True)
    for name in ("config.json", "vocab.json", "weights.safetensors"):
        shutil.copy(models / "onnx" / name, models / "torch" / name)
    # An onnx image holds no weights file (function/Dockerfile): with one present, loading
    # would also hash its 250 MB against the export's manifest, a cost Lambda never pays.
    for variant in ("onnx", "onnx-int8"):
        (models / variant / "weights.safetensors").unlink()
    (models / "done").touch()


def image_model_files(model_dir: Path, runtime: str) -> list[Path]:
    """The files of a model directory that an image of `runtime` holds."""
    names = ["config.json", "vocab.json"]
    if runtime == "torch":
        names.append("weights.safetensors")
    files = [model_dir / name for name in names]
    if runtime == "onnx":
        files += sorted(p for p in (model_dir / "onnx").rglob("*") if p.is_file())
    return files


# --- measuring ----------------------------------------------------------------------------


def _timed_run(
    side: Side, args: argparse.Namespace, image: Path, beam: int | None = None
) -> dict[str, Any]:
    mode = ["original"] if side.runtime is None else ["lukewarm", "--runtime", side.runtime]
    command = [str(side.python), str(CHILD), *mode, str(side.model), str(image)]
    command += ["--beam", str(beam or args.beam), "--steps", str(args.steps)]
    command += ["--warm", str(args.warm)]
    return fresh_process(command, {"PYTHONPATH": str(side.pythonpath)}, side.label)


def fresh_process(command: list[str], env: dict[str, str], label: str) -> dict[str, Any]:
    """Run one child (`bench/child.py` or its like) in a fresh process on one thread, from
    an empty working directory, with `env` over this one's: the JSON document its last line
    prints, plus `cold_s`, the time from starting the process to its first caption."""
    with tempfile.TemporaryDirectory() as workdir:
        started = time.time()
        done = subprocess.run(
            command,
            check=False,
            env={**os.environ, **ONE_THREAD, **env},
            cwd=workdir,
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    result["cold_s"] = result["first_caption_at"] - started
    return result


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cold_s": statistics.median(r["cold_s"] for r in runs),
        "import_s": statistics.median(r["import_s"] for r in runs),
        "load_s": statistics.median(r["load_s"] for r in runs),
        "first_caption_s": statistics.median(r["first_caption_s"] for r in runs),
        "cold_cpu_s": statistics.median(r["cold_cpu_s"] for r in runs),
        "warm_ms": statistics.median(statistics.median(r["warm_ms"]) for r in runs),
        "warm_cpu_ms": statistics.median(statistics.median(r["warm_cpu_ms"]) for r in runs),
        "encode_ms": statistics.median(statistics.median(r["encode_ms"]) for r in runs),
        "max_rss_mb": statistics.median(r["max_rss_mb"] for r in runs),
        "import_rss_mb": statistics.median(r["import_rss_mb"] for r in runs),
        "dynamo": any(r["dynamo_imported"] for r in runs),
        "torch": runs[0]["torch"],
        "onnxruntime": runs[0]["onnxruntime"],
        "runtime": runs[0]["runtime"],
    }


def _size(python: Path, dists: tuple[str, ...], files: list[Path]) -> dict[str, Any]:
    """MB installed: in all (`size_mb`), by each of the runtime's distributions (their
    dependencies included) and by the model files (`files_mb`, with, for lukewarm, the
    `captioner` package)."""
    done = subprocess.run(
        [str(python), str(CHILD), "sizes", *dists], capture_output=True, text=True, check=True
    )
    installed = {name: size / 1e6 for name, size in json.loads(done.stdout)["dists"].items()}
    if python != DEV_PYTHON:
        files = [*files, *(FUNCTION_DIR / "captioner").glob("*.py")]
    files_mb = sum(f.stat().st_size for f in files) / 1e6
    return {
        "size_mb": sum(installed.values()) + files_mb,
        "dists_mb": installed,
        "files_mb": files_mb,
    }


def _compare_captions(sides: list[Side], scenes: int, beam: int) -> dict[str, Any]:
    """Each lukewarm side's top captions of the real photos and `scenes` held-out scenes
    (the demo model's evaluation split), greedy and at `beam`, each in its own process."""
    from toolkit.scenes import make_scene

    captions: dict[str, dict[int, dict[str, str]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        images = sorted(str(p) for p in PHOTOS.iterdir() if p.suffix in {".png", ".jpg"})
        for index in range(scenes):
            path = Path(workdir) / f"scene-{index}.png"
            make_scene("evaluate", EVALUATION_SEED, index).image.save(path)
            images.append(str(path))
        for side in sides:
            captions[side.label] = {}
            for width in sorted({1, beam}):
                command = [str(side.python), str(CHILD), "captions", str(side.model), *images]
                command += ["--runtime", str(side.runtime), "--beam", str(width)]
                env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(side.pythonpath)}
                done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{side.label} failed:\n{done.stderr[-3000:]}")
                captions[side.label][width] = json.loads(done.stdout)["captions"]
    return {
        "greedy": {
            "onnx vs torch": agreement(captions["onnx"][1], captions["torch"][1]),
            "onnx-int8 vs onnx": agreement(captions["onnx-int8"][1], captions["onnx"][1]),
        },
        "beam": {
            "onnx vs torch": agreement(captions["onnx"][beam], captions["torch"][beam]),
            "onnx-int8 vs onnx": agreement(captions["onnx-int8"][beam], captions["onnx"][beam]),
        },
    }


def agreement(these: dict[str, str], those: dict[str, str]) -> dict[str, Any]:
    """How alike two variants' captions of the same images are (`toolkit.alike`): the share
    of word positions that agree, and how many captions are identical."""
    from toolkit.alike import compare_captions

    names = list(these)
    alike = compare_captions([those[name] for name in names], [these[name] for name in names])
    return {"images": alike.images, "tokens": alike.word_share, "identical": alike.identical}


# --- the report ---------------------------------------------------------------------------


def _agreed(result: dict[str, Any]) -> str:
    return (
        f"{result['identical']} of {result['images']} captions identical "
        f"({result['tokens']:.1%} of words agree)"
    )


def floors(original: dict[str, Any], lukewarm: dict[str, Any], targets: dict[str, float]) -> str:
    """For each target a variant misses, what it is made of in this run, against what the
    target allows: what would have to shrink, and how far."""
    allowed = {key: original[FIGURES[key][1]] / target for key, target in targets.items()}
    missed = [
        key for key, target in targets.items() if _worst_ratio(original, lukewarm, key) < target
    ]
    parts = []

    def against(key: str, unit: str, digits: int) -> str:
        """What the target allows, by wall time and (for times) by CPU time."""
        wall = f"{allowed[key]:,.{digits}f} {unit}"
        if key not in CPU_FIGURES:
            return f"against {wall} for {targets[key]:g}x"
        cpu = original[CPU_FIGURES[key]] / targets[key]
        ratios = (
            f"{_ratio(original, lukewarm, FIGURES[key][1]):.1f}x by wall time, "
            f"{_ratio(original, lukewarm, CPU_FIGURES[key]):.1f}x by CPU time"
        )
        return f"against {wall} ({cpu:,.{digits}f} {unit} of CPU) for {targets[key]:g}x ({ratios})"

    if "cold" in missed:
        cold = lukewarm["import_s"] + lukewarm["load_s"] + lukewarm["encode_ms"] / 1000
        parts.append(
            f"cold start: imports {lukewarm['import_s']:.2f} s + model load "
            f"{lukewarm['load_s']:.2f} s + one encoder pass {lukewarm['encode_ms'] / 1000:.2f} s "
            f"= {cold:.2f} s, {against('cold', 's', 2)}"
        )
    if "rss" in missed:
        rss = lukewarm["import_rss_mb"] + lukewarm["weights_mb"]
        parts.append(
            f"peak RSS: the runtime once imported {lukewarm['import_rss_mb']:,.0f} MB + the "
            f"model files {lukewarm['weights_mb']:,.0f} MB = {rss:,.0f} MB, "
            f"{against('rss', 'MB', 0)}"
        )
    if "warm" in missed:
        parts.append(
            f"warm caption: the ResNet-101 encoder alone (the same network on the same "
            f"256x256 input in all) {lukewarm['encode_ms']:,.0f} ms, {against('warm', 'ms', 0)}"
        )
    if "size" in missed:
        dists = sorted(lukewarm["dists_mb"].items(), key=lambda item: -item[1])
        largest = ", ".join(f"{name} {mb:,.0f}" for name, mb in dists[:3])
        parts.append(
            f"installed size: dependencies {sum(lukewarm['dists_mb'].values()):,.0f} MB "
            f"({largest}) + model files {lukewarm['files_mb']:,.0f} MB, {against('size', 'MB', 0)}"
        )
    return "; ".join(parts)


def _ratio(original: dict[str, Any], lukewarm: dict[str, Any], figure: str) -> float:
    return float(original[figure] / lukewarm[figure])


def _worst_ratio(original: dict[str, Any], lukewarm: dict[str, Any], key: str) -> float:
    """Original ÷ lukewarm for a target, the lower of wall and CPU time for times: on a
    shared machine the wall time also measures the neighbours, unequally."""
    figures = [FIGURES[key][1], *([CPU_FIGURES[key]] if key in CPU_FIGURES else [])]
    return min(_ratio(original, lukewarm, figure) for figure in figures)


def _cell(
    original: dict[str, Any], lukewarm: dict[str, Any], key: str, target: float | None
) -> str:
    _, figure, unit, digits = FIGURES[key]
    ratio = original[figure] / lukewarm[figure]
    goal = "" if target is None else f", ≥ {target:g}x {'met' if ratio >= target else 'missed'}"
    return f"{lukewarm[figure]:,.{digits}f} {unit} ({ratio:.1f}x{goal})"


def _table(
    figures: dict[str, dict[str, Any]],
    variants: list[str],
    comparisons: dict[str, Any],
    args: argparse.Namespace,
    same_caption: bool,
) -> str:
    original = figures["original"]
    header = " | ".join(f"lukewarm {name}" for name in variants)
    lines = [
        f"| | original (2022 design) | {header} |",
        "| --- | ---: |" + " ---: |" * len(variants),
    ]
    for key, (label, figure, unit, digits) in FIGURES.items():
        target_key = {"cold_cpu": "cold", "warm_cpu": "warm"}.get(key, key)
        cells = " | ".join(
            _cell(original, figures[name], key, TARGETS[name].get(target_key)) for name in variants
        )
        lines.append(f"| {label} | {original[figure]:,.{digits}f} {unit} | {cells} |")
    lines += ["", "Each lukewarm cell: the figure (original ÷ lukewarm, the target)."]
    for name in ("original", *variants):
        f = figures[name]
        blocked = floors(original, f, TARGETS[name]) if name in TARGETS else ""
        lines += [
            "",
            f"{name}: cold start {f['import_s']:.2f} s imports + {f['load_s']:.2f} s model "
            f"load + {f['first_caption_s']:.2f} s first caption; warm caption {f['encode_ms']:,.0f}"
            f" ms encoder + {f['warm_ms'] - f['encode_ms']:,.0f} ms the rest (image decoding, "
            f"preprocessing, {args.steps} decoding steps); {f['import_rss_mb']:,.0f} MB resident "
            "once the runtime is imported."
            + (f" Missed targets, and what blocks them: {blocked}." if blocked else ""),
        ]
    greedy, beam = comparisons["greedy"], comparisons["beam"]
    lines += [
        "",
        f"Captions of the {greedy['onnx vs torch']['images']} images compared (the real photos "
        f"and {args.scenes} held-out scenes): greedy, onnx against torch "
        f"{_agreed(greedy['onnx vs torch'])}, onnx-int8 against onnx "
        f"{_agreed(greedy['onnx-int8 vs onnx'])}; at beam {args.beam}, onnx against torch "
        f"{_agreed(beam['onnx vs torch'])}, onnx-int8 against onnx "
        f"{_agreed(beam['onnx-int8 vs onnx'])}. Random weights: near-ties among "
        f"{VOCAB_SIZE:,} words flip with the smallest numeric difference.",
        "",
        f"ResNet-101 encoder, 512/512/512 decoder, {VOCAB_SIZE:,} words, random weights (seed "
        f"{SEED}); beam {args.beam}, all decode exactly {args.steps} steps; one thread; "
        f"median of {args.runs} fresh processes, {args.warm} warm captions each, on "
        f"{args.image.name}. Same greedy caption from the original and torch (checked on a "
        f"256x256 copy, where their resizing cannot differ): {'yes' if same_caption else 'no'}. "
        + " ".join(f"{name}: {_ran(figures[name])}." for name in ("original", *variants))
        + " Reproduce: `make bench-reference`.",
        "",
    ]
    return "\n".join(lines)


def _ran(figures: dict[str, Any]) -> str:
    ran = [f"torch {figures['torch']}"] if figures["torch"] else ["no torch"]
    if figures["onnxruntime"]:
        ran.append(f"onnxruntime {figures['onnxruntime']}")
    if figures["torch"]:
        ran.append(f"torch._dynamo {'imported' if figures['dynamo'] else 'not imported'}")
    return ", ".join(ran)


if __name__ == "__main__":
    sys.exit(main())
