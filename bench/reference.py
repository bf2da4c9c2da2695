"""`make bench-reference`: the original 2022 design against lukewarm, side by side.

Both caption with the same ResNet-101 / 9,490-word Show-Attend-Tell weights (random,
seeded) and decode exactly the same number of steps with the same beam: the `<end>`
logit is pushed to -1e4, so neither stops early, and both stop at `--steps`.

- original: torch and torchvision as `pip install torch torchvision` gives them (the
  CUDA build, run on CPU), the whole model pickled with joblib, numpy preprocessing,
  no inference mode, the tutorial's beam search (attention projection recomputed at
  every step). Runs in this repository's dev virtualenv.
- lukewarm: what the function image runs: function/requirements.txt with the CPU-only
  torch wheel, no torchvision, safetensors, `captioner`, in its own cached virtualenv.

Every figure comes from fresh processes on one thread (OMP/MKL/torch), median of
`--runs`: cold start (process start to first caption), warm caption latency (image
bytes to caption), peak RSS, and the installed size of the runtime's distributions
plus the model file. A first round per runtime, not counted, warms the disk cache and
bytecode alike and checks that both compute the same caption. Writes bench/results/reference.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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
CACHE = ROOT / ".bench"
RESULTS = ROOT / "bench" / "results" / "reference.md"
CHILD = ROOT / "bench" / "child.py"
PHOTOS = ROOT / "data" / "photos"
DEV_PYTHON = Path(sys.executable)
LUKEWARM_VENV = CACHE / "venv-lukewarm"
DEMO_MODEL = ROOT / "function" / "model"
EVALUATION_SEED = 1000003
CPU_TORCH_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")

VOCAB_SIZE = 9490
SEED = 0
ORIGINAL_DISTS = ("torch", "torchvision", "numpy", "pillow", "joblib")
LUKEWARM_DISTS = ("torch", "pillow", "safetensors", "aws-lambda-powertools")
TARGETS = {"cold": 4, "warm": 5, "rss": 3, "size": 3}
"""Original ÷ lukewarm, from the project's brief."""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LUKEWARM_THREADS": "1"}


@dataclass
class Runtime:
    label: str
    mode: str
    python: Path
    pythonpath: Path
    model: Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per runtime")
    parser.add_argument("--warm", type=int, default=3, help="warm captions per process")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument(
        "--steps",
        type=int,
        default=25,
        help="decoding steps for both (default 25: lukewarm's 24-word limit and <end>)",
    )
    parser.add_argument("--image", type=Path, default=PHOTOS / "motorcycle.jpg")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warm < 1 or not 2 <= args.steps <= 100:
        parser.error("--runs and --warm must be at least 1, --steps 2-100")

    began = time.perf_counter()
    lukewarm_python = _lukewarm_venv()
    models = _models(args.steps)
    runtimes = [
        Runtime("original", "original", DEV_PYTHON, ROOT, models / "original" / "model.joblib"),
        Runtime("lukewarm", "lukewarm", lukewarm_python, ROOT / "function", models / "lukewarm"),
        Runtime("lukewarm int8", "lukewarm", lukewarm_python, ROOT / "function", models / "int8"),
    ]
    results: dict[str, list[dict[str, Any]]] = {r.label: [] for r in runtimes}
    # The first round warms caches alike for all and checks both runtimes compute the same
    # caption, on an image already at the input size (their resizing differs slightly).
    check_image = models / "check-256.png"
    Image.open(args.image).convert("RGB").resize((256, 256)).save(check_image)
    check = {r.label: _timed_run(r, args, check_image, beam=1)["caption"] for r in runtimes}
    # Greedy: the same words, except that lukewarm's last step can only end the caption.
    same_caption = check["original"].split()[:-1] == check["lukewarm"].split()
    print(f"{args.runs} fresh processes per runtime, {args.warm} warm captions each", flush=True)
    for _ in range(args.runs):
        for runtime in runtimes:
            result = _timed_run(runtime, args, args.image.resolve())
            results[runtime.label].append(result)
            print(
                f"  {runtime.label:14} cold {result['cold_s']:6.2f} s "
                f"({result['cold_cpu_s']:5.2f} s CPU)  warm "
                f"{statistics.median(result['warm_ms']):6.0f} ms "
                f"({statistics.median(result['warm_cpu_ms']):5.0f} ms CPU)  "
                f"rss {result['max_rss_mb']:5.0f} MB",
                flush=True,
            )
    figures = {label: _summary(runs) for label, runs in results.items()}
    figures["original"]["size_mb"] = _size(DEV_PYTHON, ORIGINAL_DISTS, runtimes[0].model)
    figures["lukewarm"]["size_mb"] = _size(lukewarm_python, LUKEWARM_DISTS, runtimes[1].model)
    weights = runtimes[1].model / "weights.safetensors"
    figures["lukewarm"]["weights_mb"] = weights.stat().st_size / 2**20  # as RSS: MiB
    agreement = _agreement(lukewarm_python, models / "lukewarm", models / "int8", 8, args.beam)
    demo_agreement = _demo_agreement(lukewarm_python, args.beam)
    table = _table(figures, agreement, demo_agreement, args, same_caption)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print()
    print(table)
    print(f"written to {args.out} in {time.perf_counter() - began:.0f} s")
    original, lukewarm = figures["original"], figures["lukewarm"]
    # Wall time on a shared machine also measures the neighbours; CPU time does not.
    print(
        f"CPU-time ratios: cold={original['cold_cpu_s'] / lukewarm['cold_cpu_s']:.1f} "
        f"warm={original['warm_cpu_ms'] / lukewarm['warm_cpu_ms']:.1f}"
    )
    print(
        f"ratios: cold={original['cold_s'] / lukewarm['cold_s']:.1f} "
        f"warm={original['warm_ms'] / lukewarm['warm_ms']:.1f} "
        f"rss={original['max_rss_mb'] / lukewarm['max_rss_mb']:.1f} "
        f"size={original['size_mb'] / lukewarm['size_mb']:.1f}"
    )
    return 0


def _lukewarm_venv() -> Path:
    """The function image's runtime: function/requirements.txt, torch from PyTorch's
    CPU-only index as the image gets it, or from this machine's CPU-only wheel if there
    is one (offline). Built once, rebuilt when the requirements change."""
    lines = (ROOT / "function" / "requirements.txt").read_text().splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    torch_pin = [r for r in requirements if r.startswith("torch==")]
    rest = [r for r in requirements if r not in torch_pin]
    if CPU_TORCH_WHEEL.exists():
        torch_install = [str(CPU_TORCH_WHEEL)]
    else:
        torch_install = ["--index-url", "https://download.pytorch.org/whl/cpu", *torch_pin]
    python = LUKEWARM_VENV / "bin" / "python"
    stamp = LUKEWARM_VENV / "installed.json"
    wanted = [torch_install, rest]
    if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return python
    print(f"building lukewarm's runtime in {LUKEWARM_VENV} (once, a minute or two)", flush=True)
    subprocess.run(["python3.11", "-m", "venv", "--clear", str(LUKEWARM_VENV)], check=True)
    for packages in wanted:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
    stamp.write_text(json.dumps(wanted))
    return python


def _models(steps: int) -> Path:
    """The same seeded random weights as a joblib pickle (original) and as lukewarm model
    directories (exact and int8), made once per step count, in a process of its own."""
    key = hashlib.sha256(f"{VOCAB_SIZE}-{SEED}-{steps}-v1".encode()).hexdigest()[:12]
    models = CACHE / "reference" / key
    if not (models / "done").exists():
        print(f"building the ResNet-101 / {VOCAB_SIZE:,}-word model in {models}", flush=True)
        code = "import sys; from bench.reference import build_models; build_models(*sys.argv[1:])"
        subprocess.run([str(DEV_PYTHON), "-c", code, str(models), str(steps)], check=True, cwd=ROOT)
    return models


def build_models(directory: str, steps: str) -> None:
    import joblib
    import torch

    from bench.original.models import DecoderWithAttention, Encoder
    from lukewarm.convert import convert, write_model

    torch.manual_seed(SEED)
    encoder = Encoder(14)
    encoder.fine_tune(False)  # the tutorial's default: the ResNet is not trained
    decoder = DecoderWithAttention(512, 512, 512, VOCAB_SIZE)
    # The tutorial's numbering: <pad> 0, words from 1, then <unk>, <start>, <end>.
    names = [f"word{i}" for i in range(1, VOCAB_SIZE - 3)]
    word_map = {"<pad>": 0, **{w: i for i, w in enumerate(names, 1)}}
    word_map |= {t: len(word_map) + i for i, t in enumerate(("<unk>", "<start>", "<end>"))}
    with torch.no_grad():
        decoder.fc.bias[word_map["<end>"]] = -1e4  # never ends early: equal steps for both
    models = Path(directory)
    (models / "original").mkdir(parents=True, exist_ok=True)
    joblib.dump(
        {"encoder": encoder.eval(), "decoder": decoder.eval(), "word_map": word_map},
        models / "original" / "model.joblib",
    )
    for name, quantize in (("lukewarm", "none"), ("int8", "int8-dynamic")):
        conversion = convert(
            encoder,
            decoder,
            word_map,
            name="reference-random",
            version=models.name,
            max_length=int(steps) - 1,
            quantize=quantize,
        )
        write_model(models / name, conversion, force=True)
    (models / "done").touch()


def _timed_run(
    runtime: Runtime, args: argparse.Namespace, image: Path, beam: int | None = None
) -> dict[str, Any]:
    command = [str(runtime.python), str(CHILD), runtime.mode, str(runtime.model), str(image)]
    command += ["--beam", str(beam or args.beam), "--steps", str(args.steps)]
    command += ["--warm", str(args.warm)]
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(runtime.pythonpath)}
    with tempfile.TemporaryDirectory() as workdir:
        started = time.time()
        done = subprocess.run(
            command, check=False, env=env, cwd=workdir, capture_output=True, text=True
        )
    if done.returncode != 0:
        raise SystemExit(f"{runtime.label} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.splitlines()[-1])
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
    }


def _size(python: Path, dists: tuple[str, ...], model: Path) -> float:
    """MB of the runtime's distributions (dependencies included) plus the model file(s)."""
    done = subprocess.run(
        [str(python), str(CHILD), "sizes", *dists], capture_output=True, text=True, check=True
    )
    installed = sum(json.loads(done.stdout)["dists"].values())
    files = [model] if model.is_file() else [p for p in model.rglob("*") if p.is_file()]
    if not model.is_file():
        files += list((ROOT / "function" / "captioner").glob("*.py"))
    return (installed + sum(f.stat().st_size for f in files)) / 1e6


def _agreement(
    python: Path, exact: Path, quantized: Path, scenes: int, beam: int
) -> dict[str, Any]:
    """How often the int8 model's top caption matches the exact model's, on the real
    photos and `scenes` generated scenes (the demo model's held-out evaluation split):
    the share of word positions that agree, and of captions that are identical."""
    from training.scenes import make_scene

    with tempfile.TemporaryDirectory() as workdir:
        images = sorted(str(p) for p in PHOTOS.iterdir() if p.suffix in {".png", ".jpg"})
        for index in range(scenes):
            path = Path(workdir) / f"scene-{index}.png"
            make_scene("evaluate", EVALUATION_SEED, index).image.save(path)
            images.append(str(path))
        command = [str(python), str(CHILD), "agreement", str(exact), str(quantized), *images]
        env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT / "function")}
        done = subprocess.run(
            [*command, "--beam", str(beam)], env=env, capture_output=True, text=True, check=True
        )
    captions = json.loads(done.stdout)["captions"]
    agreeing = total = identical = 0
    for exact_caption, quantized_caption in captions.values():
        a, b = exact_caption.split(), quantized_caption.split()
        agreeing += sum(x == y for x, y in zip(a, b, strict=False))
        total += max(len(a), len(b), 1)
        identical += a == b
    return {"images": len(captions), "tokens": agreeing / total, "identical": identical}


def _demo_agreement(python: Path, beam: int) -> dict[str, Any] | None:
    """The same agreement for the trained demo model, if it is in function/model: its
    captions mean something, unlike the random weights'."""
    if not (DEMO_MODEL / "config.json").exists():
        return None
    quantized = CACHE / "reference" / "demo-int8"
    shutil.rmtree(quantized, ignore_errors=True)
    quantized.mkdir(parents=True)
    config = json.loads((DEMO_MODEL / "config.json").read_text())
    (quantized / "config.json").write_text(json.dumps({**config, "quantize": "int8-dynamic"}))
    for name in ("vocab.json", "weights.safetensors"):
        (quantized / name).symlink_to(DEMO_MODEL / name)
    return _agreement(python, DEMO_MODEL, quantized, 40, beam)


def _agreed(agreement: dict[str, Any]) -> str:
    return (
        f"{agreement['tokens']:.1%} of words agree, {agreement['identical']} of "
        f"{agreement['images']} captions identical"
    )


def _bounds(original: dict[str, Any], lukewarm: dict[str, Any]) -> str:
    """Below what lukewarm cannot go with this architecture at full precision in torch,
    against what each target allows, from the run's own figures."""
    cold = lukewarm["import_s"] + lukewarm["encode_ms"] / 1000
    rss = lukewarm["import_rss_mb"] + lukewarm["weights_mb"]
    return (
        "The floors of an exact fp32 runtime of this architecture in torch, from this run: "
        "cold start, the imports (nearly all torch) plus one pass of the encoder, "
        f"{lukewarm['import_s']:.2f} + {lukewarm['encode_ms'] / 1000:.2f} = {cold:.2f} s, against "
        f"{original['cold_s'] / TARGETS['cold']:.2f} s for {TARGETS['cold']}x; peak RSS, torch "
        f"once imported plus the float weights, {lukewarm['import_rss_mb']:,.0f} + "
        f"{lukewarm['weights_mb']:,.0f} = {rss:,.0f} MB, against "
        f"{original['max_rss_mb'] / TARGETS['rss']:,.0f} MB for {TARGETS['rss']}x; warm "
        f"caption, the ResNet-101 encoder alone (the same network on the same 256x256 input "
        f"in both), {lukewarm['encode_ms']:,.0f} ms, against "
        f"{original['warm_ms'] / TARGETS['warm']:,.0f} ms for {TARGETS['warm']}x."
    )


def _table(
    figures: dict[str, dict[str, Any]],
    agreement: dict[str, Any],
    demo_agreement: dict[str, Any] | None,
    args: argparse.Namespace,
    same_caption: bool,
) -> str:
    original, lukewarm, int8 = figures["original"], figures["lukewarm"], figures["lukewarm int8"]

    def row(name: str, key: str, unit: str, digits: int, target: float | None = None) -> str:
        a, b = original[key], lukewarm[key]
        goal = "" if target is None else f"≥ {target:g}x, {'met' if a / b >= target else 'missed'}"
        return (
            f"| {name} | {a:,.{digits}f} {unit} | {b:,.{digits}f} {unit} | {a / b:.1f}x | {goal} |"
        )

    lines = [
        "| | original (2022 design) | lukewarm | original ÷ lukewarm | target |",
        "| --- | ---: | ---: | ---: | --- |",
        row("cold start, process to first caption", "cold_s", "s", 2, TARGETS["cold"]),
        row("warm caption", "warm_ms", "ms", 0, TARGETS["warm"]),
        row("peak RSS", "max_rss_mb", "MB", 0, TARGETS["rss"]),
        row("installed size (dependencies + weights)", "size_mb", "MB", 0, TARGETS["size"]),
        row("cold start, CPU time", "cold_cpu_s", "s", 2),
        row("warm caption, CPU time", "warm_cpu_ms", "ms", 0),
        "",
        f"Cold start, split: imports {original['import_s']:.2f} s vs {lukewarm['import_s']:.2f} s,"
        f" model load {original['load_s']:.2f} s vs {lukewarm['load_s']:.2f} s, first caption "
        f"{original['first_caption_s']:.2f} s vs {lukewarm['first_caption_s']:.2f} s. Warm "
        f"caption, split: encoder {original['encode_ms']:,.0f} ms vs "
        f"{lukewarm['encode_ms']:,.0f} ms, the rest (image decoding, preprocessing, "
        f"{args.steps} decoding steps) {original['warm_ms'] - original['encode_ms']:,.0f} ms vs "
        f"{lukewarm['warm_ms'] - lukewarm['encode_ms']:,.0f} ms.",
        "",
        _bounds(original, lukewarm),
        "",
        f'Opt-in int8 dynamic quantization of the decoder (`"quantize": "int8-dynamic"`): '
        f"warm caption {int8['warm_ms']:,.0f} ms ({original['warm_ms'] / int8['warm_ms']:.1f}x "
        f"faster than the original), cold start {int8['cold_s']:.2f} s, "
        f"peak RSS {int8['max_rss_mb']:,.0f} MB. Its top captions against the exact "
        f"model's: {_agreed(agreement)} with these random weights (near-ties among "
        f"{VOCAB_SIZE:,} words flip easily)"
        + (f"; {_agreed(demo_agreement)} with the trained demo model." if demo_agreement else "."),
        "",
        f"ResNet-101 encoder, 512/512/512 decoder, {VOCAB_SIZE:,} words, random weights (seed "
        f"{SEED}); beam {args.beam}, both decode exactly {args.steps} steps; one thread; "
        f"median of {args.runs} fresh processes, {args.warm} warm captions each, on "
        f"{args.image.name}. Same greedy caption from both (checked on a 256x256 copy, where "
        f"their resizing cannot differ): {'yes' if same_caption else 'no'}. "
        f"torch {original['torch']} (original) and {lukewarm['torch']} (lukewarm). "
        f"`torch._dynamo` imported by lukewarm: {'yes' if lukewarm['dynamo'] else 'no'} "
        f"(int8: {'yes' if int8['dynamo'] else 'no'}). "
        "Reproduce: `make bench-reference`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
