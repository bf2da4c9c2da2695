"""`make bench-hf`: imported Hub captioners on lukewarm against transformers' pipeline.

For each family (ViT-GPT2, BLIP) a random-initialised model at the published model's
size (`toolkit.hub.random`: ViT-base + GPT-2 small, 239 M parameters; BLIP base) is
saved in the Hub's layout and imported with `lukewarm import`, fp32 and int8. Both sides
decode exactly `--steps` tokens at beam `--beam`: end of sentence is suppressed until
the last step (the model's generation config sets `min_length` to its `max_length` for
lukewarm; the pipeline is given `min_new_tokens` = `max_new_tokens`), and each side
counts its decoder steps, which the bench checks are equal.

- reference: what a user would otherwise deploy, transformers' `pipeline("image-to-text")`
  on CPU-only torch, in its own virtualenv holding what that image would hold (torch,
  transformers and their dependencies, Pillow, NumPy). transformers 5 removed the
  `image-to-text` task (it became `image-text-to-text`, which has no processor for a
  VisionEncoderDecoder model), so the reference runs the last 4.x release, which the
  model cards' code runs. torch from PyTorch's CPU-only index, or `LUKEWARM_TORCH_WHEEL`.
- lukewarm: the function's `captioner` in the onnx image's virtualenv (bench.reference
  builds it), the imported directory as the image holds it.

Every figure comes from fresh processes on one thread, median of `--runs`: cold start
(process start to first caption), warm caption, peak RSS, installed size (distributions
plus model files). One thread is what the default `memorySize`, 1769 MB, buys: one vCPU.
Writes bench/results/hf.md; the last lines are `hf[FAMILY][VARIANT]: ...` ratio lines,
reference ÷ lukewarm.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import reference

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"
CACHE = ROOT / ".bench" / "hf"
RESULTS = ROOT / "bench" / "results" / "hf.md"
CHILD = ROOT / "bench" / "hf_child.py"
PHOTOS = ROOT / "data" / "photos"
DEV_PYTHON = Path(sys.executable)

FAMILIES = ("vit-gpt2", "blip")
VARIANTS = {"onnx": "none", "onnx-int8": "int8"}
"""Each lukewarm variant and the import's `--quantize`."""
REFERENCE_TRANSFORMERS = "transformers==4.57.6"
"""The last transformers with the `image-to-text` pipeline the model cards use."""
REFERENCE_DISTS = ("torch", "transformers", "pillow", "numpy")
DEFAULT_MEMORY_MB = 1769
"""The stack's default `memorySize`: exactly one vCPU on Lambda."""
SIZES = {
    "full": "Full-size random weights (ViT-base + GPT-2 small, 239 M parameters; BLIP base)",
    "tiny": "Tiny random weights (toolkit.hub.random's test configs: a smoke run, no figures)",
}
TARGETS = {
    "onnx": {"cold": 4, "warm": 1.8, "rss": 1.3, "size": 1.7},
    "onnx-int8": {"cold": 6, "warm": 3.5, "rss": 3, "size": 4},
}
"""Reference ÷ lukewarm, from issue #18, per variant."""
FIGURES = reference.FIGURES
CPU_FIGURES = reference.CPU_FIGURES
"""The same rows and CPU-time pairs as `make bench-reference`'s table."""
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class Side:
    label: str
    python: Path
    model: Path
    mode: str
    """`pipeline` (the reference) or `lukewarm`."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per side")
    parser.add_argument("--warm", type=int, default=3, help="warm captions per process")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--steps", type=int, default=16, help="tokens decoded by every side")
    parser.add_argument("--family", choices=FAMILIES, action="append", help="default: both")
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--image", type=Path, default=PHOTOS / "motorcycle.jpg")
    parser.add_argument("--out", type=Path, default=RESULTS)
    reference.add_torch_wheel(parser, "the reference's torch")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warm < 1 or args.beam < 1 or not 2 <= args.steps <= 60:
        parser.error("--runs, --warm and --beam must be at least 1, --steps 2-60")
    reference.check_torch_wheel(parser, args)

    began = time.perf_counter()
    header = run_header(time.gmtime(), sys.argv[1:])
    families = args.family or list(FAMILIES)
    lukewarm_python = reference.runtime_venv("onnx", None)
    reference_python = reference_venv(args.torch_wheel)
    load = os.getloadavg()
    reports, ratio_lines = [], []
    for family in families:
        models = build_models(family, args.size, args.beam, args.steps)
        sides = [Side("reference", reference_python, models / "source", "pipeline")] + [
            Side(name, lukewarm_python, models / name, "lukewarm") for name in VARIANTS
        ]
        figures = measure(family, sides, args)
        # Every figure, for a second look at a run without repeating it (git-ignored).
        (CACHE / f"last-{family}.json").write_text(json.dumps(figures, indent=1, default=str))
        reports.append(family_report(family, figures, args))
        ratio_lines += [
            f"hf[{family}][{name}]: {ratios(figures['reference'], figures[name])}"
            for name in VARIANTS
        ]
    after = os.getloadavg()
    machine = machine_line(load, after, args, time.perf_counter() - began)
    text = header + "\n".join(reports) + machine
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print()
    print(text)
    print(f"written to {args.out}")
    for line in ratio_lines:
        print(line)
    return 0


# --- the reference's virtualenv -----------------------------------------------------------


def reference_commands(torch_wheel: Path | None) -> list[list[str]]:
    """pip's arguments, one install per list: CPU-only torch first (as a torch image
    installs it, from PyTorch's CPU index or `torch_wheel`), then transformers and the
    image libraries at the function's pins."""
    pins = [
        line for line in reference.requirements("onnx") if line.startswith(("pillow==", "numpy=="))
    ]
    torch = [str(torch_wheel)] if torch_wheel else ["--index-url", reference.TORCH_INDEX, "torch"]
    return [torch, [REFERENCE_TRANSFORMERS, *pins]]


def reference_venv(torch_wheel: Path | None) -> Path:
    """The reference's Python, built once in .bench/hf/, rebuilt when its installs change."""
    venv = CACHE / "venv-reference"
    python = venv / "bin" / "python"
    stamp = venv / "installed.json"
    wanted = reference_commands(torch_wheel)
    if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return python
    print(f"building the reference's virtualenv in {venv} (once, a few minutes)", flush=True)
    subprocess.run([str(DEV_PYTHON), "-m", "venv", "--clear", str(venv)], check=True)
    for packages in wanted:
        pip = [str(python), "-m", "pip", "install", "--quiet", *packages]
        done = subprocess.run(pip, check=False)
        if done.returncode != 0:
            hint = (
                f"; without access to {reference.TORCH_INDEX}, set "
                f"{reference.TORCH_WHEEL_VARIABLE} to a CPU-only torch wheel file"
                if reference.TORCH_INDEX in packages
                else ""
            )
            raise SystemExit(f"cannot install {' '.join(packages)}{hint}")
    stamp.write_text(json.dumps(wanted))
    return python


# --- the models ---------------------------------------------------------------------------


BUILT_FROM = (
    "bench/hf_build.py",
    "toolkit/hub/__init__.py",
    "toolkit/hub/random.py",
    "toolkit/hub/families.py",
    "toolkit/hub/importer.py",
    "toolkit/export.py",
)
"""What the built models' weights, graphs and generation settings come from (not
toolkit/hub/need.py: it only adds the manifest's `measured`, which this bench measures
for itself)."""


def _source_digest() -> bytes:
    digest = hashlib.sha256()
    for name in BUILT_FROM:
        digest.update(name.encode() + (ROOT / name).read_bytes())
    return digest.digest()


def build_models(family: str, size: str, beam: int, steps: int) -> Path:
    """The random source in the Hub's layout and its fp32 and int8 imports, built once per
    family, size and decoding settings (in a process of its own: torch stays out of this
    one), under .bench/hf/."""
    key = hashlib.sha256(f"{family}-{size}-{beam}-{steps}".encode() + _source_digest())
    models = CACHE / f"{family}-{size}-{key.hexdigest()[:12]}"
    if (models / "done").exists():
        return models
    print(f"building the random {size} {family} and importing it to {models}", flush=True)
    command = [str(DEV_PYTHON), "-m", "bench.hf_build", family, size, str(beam), str(steps)]
    subprocess.run([*command, str(models)], check=True, cwd=ROOT, env=_dev_env())
    return models


def _dev_env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), str(FUNCTION_DIR)])
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}


# --- measuring ----------------------------------------------------------------------------


def measure(family: str, sides: list[Side], args: argparse.Namespace) -> dict[str, Any]:
    """Each side's medians over `args.runs` rounds of fresh processes (a first round, not
    counted, warms the disk cache alike for all), its installed size, and its steps."""
    for side in sides:
        _timed_run(side, family, args)
    runs: dict[str, list[dict[str, Any]]] = {side.label: [] for side in sides}
    for _ in range(args.runs):
        for side in sides:
            result = _timed_run(side, family, args)
            runs[side.label].append(result)
            print(
                f"  {family:8} {side.label:10} cold {result['cold_s']:6.2f} s "
                f"({result['cold_cpu_s']:5.2f} s CPU)  warm "
                f"{statistics.median(result['warm_ms']):6.0f} ms  "
                f"rss {result['max_rss_mb']:5.0f} MB  steps {sorted(set(result['steps']))}",
                flush=True,
            )
    figures = {label: summary(results) for label, results in runs.items()}
    steps = {label: f["steps"] for label, f in figures.items()}
    if len(set(steps.values())) != 1:
        raise SystemExit(f"{family}: the sides decoded different numbers of steps: {steps}")
    for side in sides:
        if side.mode == "pipeline":
            files = sorted(p for p in side.model.iterdir() if p.name != "lukewarm-random.json")
            figures[side.label] |= _size(side.python, REFERENCE_DISTS, files)
        else:
            files = [side.model / n for n in MODEL_FILES if (side.model / n).exists()]
            files += sorted(p for p in (side.model / "onnx").rglob("*") if p.is_file())
            files += sorted((FUNCTION_DIR / "captioner").glob("*.py"))
            names = reference.requirement_names("onnx")
            figures[side.label] |= _size(side.python, names, files)
        model_bytes = [f for f in files if f.suffix in (".safetensors", ".data", ".onnx")]
        figures[side.label]["weights_mb"] = sum(f.stat().st_size for f in model_bytes) / 2**20
    return figures


def _timed_run(side: Side, family: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [str(side.python), str(CHILD), side.mode, str(side.model), str(args.image.resolve())]
    command += ["--family", family, "--beam", str(args.beam), "--steps", str(args.steps)]
    command += ["--warm", str(args.warm)]
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = str(FUNCTION_DIR) if side.mode == "lukewarm" else ""
    return reference.fresh_process(command, env, f"{family} {side.label}")


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def median_of_medians(key: str) -> float:
        return statistics.median(statistics.median(r[key]) for r in runs)

    steps = {s for r in runs for s in r["steps"]}
    return {
        **{k: median(k) for k in ("cold_s", "import_s", "load_s", "first_caption_s")},
        **{k: median(k) for k in ("cold_cpu_s", "max_rss_mb", "import_rss_mb")},
        **{k: median_of_medians(k) for k in ("warm_ms", "warm_cpu_ms", "encode_ms")},
        "steps": steps.pop() if len(steps) == 1 else tuple(sorted(steps)),
        "versions": {k: runs[0].get(k) for k in ("torch", "transformers", "onnxruntime")},
    }


def _size(python: Path, dists: tuple[str, ...], files: list[Path]) -> dict[str, Any]:
    """MB installed: the distributions (dependencies included) plus the model files."""
    sizes = [str(python), str(ROOT / "bench" / "child.py"), "sizes", *dists]
    done = subprocess.run(sizes, capture_output=True, text=True, check=True)
    installed = {name: size / 1e6 for name, size in json.loads(done.stdout)["dists"].items()}
    files_mb = sum(f.stat().st_size for f in files) / 1e6
    return {
        "size_mb": sum(installed.values()) + files_mb,
        "dists_mb": installed,
        "files_mb": files_mb,
    }


# --- the report ---------------------------------------------------------------------------


def ratios(ref: dict[str, Any], lukewarm: dict[str, Any]) -> str:
    """`cold=… warm=… rss=… size=…`: reference ÷ lukewarm, by wall time."""
    keys = {key: FIGURES[key][1] for key in ("cold", "warm", "rss", "size")}
    return " ".join(f"{name}={ref[key] / lukewarm[key]:.1f}" for name, key in keys.items())


def worst_ratio(ref: dict[str, Any], lukewarm: dict[str, Any], key: str) -> float:
    """Reference ÷ lukewarm for a target, the lower of wall and CPU time for times."""
    figures = [FIGURES[key][1], *([CPU_FIGURES[key]] if key in CPU_FIGURES else [])]
    return min(float(ref[f] / lukewarm[f]) for f in figures)


def floors(ref: dict[str, Any], lukewarm: dict[str, Any], targets: dict[str, float]) -> str:
    """For each target a variant misses, what it is made of in this run against what the
    target allows: what would have to shrink, and how far."""
    missed = [key for key, goal in targets.items() if worst_ratio(ref, lukewarm, key) < goal]
    allowed = {key: ref[FIGURES[key][1]] / targets[key] for key in missed}
    parts = []

    def against(key: str, unit: str, digits: int) -> str:
        text = f"against {allowed[key]:,.{digits}f} {unit} for {targets[key]:g}x"
        if key in CPU_FIGURES:
            cpu = ref[CPU_FIGURES[key]] / targets[key]
            wall = ref[FIGURES[key][1]] / lukewarm[FIGURES[key][1]]
            by_cpu = ref[CPU_FIGURES[key]] / lukewarm[CPU_FIGURES[key]]
            text = (
                f"against {allowed[key]:,.{digits}f} {unit} ({cpu:,.{digits}f} {unit} of CPU) "
                f"for {targets[key]:g}x ({wall:.1f}x by wall time, {by_cpu:.1f}x by CPU time)"
            )
        return text

    if "cold" in missed:
        encode = lukewarm["encode_ms"] / 1000
        parts.append(
            f"cold start: imports {lukewarm['import_s']:.2f} s + model load "
            f"{lukewarm['load_s']:.2f} s + first caption {lukewarm['first_caption_s']:.2f} s "
            f"(of which one encoder pass {encode:.2f} s), {against('cold', 's', 2)}"
        )
    if "warm" in missed:
        parts.append(
            f"warm caption: the image encoder alone {lukewarm['encode_ms']:,.0f} ms + "
            f"{lukewarm['warm_ms'] - lukewarm['encode_ms']:,.0f} ms decoding, "
            f"{against('warm', 'ms', 0)}"
        )
    if "rss" in missed:
        rest = lukewarm["max_rss_mb"] - lukewarm["import_rss_mb"] - lukewarm["weights_mb"]
        parts.append(
            f"peak RSS: the runtime once imported {lukewarm['import_rss_mb']:,.0f} MB + the "
            f"model files {lukewarm['weights_mb']:,.0f} MB + {rest:,.0f} MB the rest (what the "
            f"runtime allocates while it captions: activations, the beams' key/value cache, "
            f"weights it repacks) = {lukewarm['max_rss_mb']:,.0f} MB, {against('rss', 'MB', 0)}"
        )
    if "size" in missed:
        dists = sorted(lukewarm["dists_mb"].items(), key=lambda item: -item[1])
        largest = ", ".join(f"{name} {mb:,.0f}" for name, mb in dists[:3])
        parts.append(
            f"installed size: dependencies {sum(lukewarm['dists_mb'].values()):,.0f} MB "
            f"({largest}) + model files {lukewarm['files_mb']:,.0f} MB, "
            f"{against('size', 'MB', 0)}"
        )
    return "; ".join(parts)


def _cell(ref: dict[str, Any], lukewarm: dict[str, Any], key: str, target: float | None) -> str:
    _, figure, unit, digits = FIGURES[key]
    ratio = ref[figure] / lukewarm[figure]
    goal = "" if target is None else f", ≥ {target:g}x {'met' if ratio >= target else 'missed'}"
    return f"{lukewarm[figure]:,.{digits}f} {unit} ({ratio:.1f}x{goal})"


def family_report(family: str, figures: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    ref = figures["reference"]
    lines = [
        f"## {family}",
        "",
        "| | transformers pipeline | lukewarm onnx | lukewarm onnx-int8 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, (label, figure, unit, digits) in FIGURES.items():
        target_key = {"cold_cpu": "cold", "warm_cpu": "warm"}.get(key, key)
        cells = " | ".join(
            _cell(ref, figures[name], key, TARGETS[name].get(target_key)) for name in VARIANTS
        )
        lines.append(f"| {label} | {ref[figure]:,.{digits}f} {unit} | {cells} |")
    lines += ["", "Each lukewarm cell: the figure (reference ÷ lukewarm, the target)."]
    for name in ("reference", *VARIANTS):
        f = figures[name]
        blocked = floors(ref, f, TARGETS[name]) if name in TARGETS else ""
        fits = "fits" if f["max_rss_mb"] < DEFAULT_MEMORY_MB else "does NOT fit"
        lines += [
            "",
            f"{name} ({_ran(f['versions'])}): cold start {f['cold_s']:.2f} s = "
            f"{f['import_s']:.2f} s imports + {f['load_s']:.2f} s model load + "
            f"{f['first_caption_s']:.2f} s first caption; warm caption {f['warm_ms']:,.0f} ms "
            f"({f['encode_ms']:,.0f} ms encoder + {f['warm_ms'] - f['encode_ms']:,.0f} ms the "
            f"rest: image decoding, preprocessing, {f['steps']} decoding steps); peak RSS "
            f"{f['max_rss_mb']:,.0f} MB ({f['import_rss_mb']:,.0f} MB once the runtime is "
            f"imported), which {fits} the default memorySize {DEFAULT_MEMORY_MB} MB (1 vCPU, "
            f"the one-thread figures); installed {f['size_mb']:,.0f} MB."
            + (f" Missed targets, and what blocks them: {blocked}." if blocked else ""),
        ]
    lines.append("")
    return "\n".join(lines)


def _ran(versions: dict[str, Any]) -> str:
    ran = [f"{name} {v}" for name, v in versions.items() if v]
    if not versions.get("torch"):
        ran.append("no torch")
    return ", ".join(ran)


def run_header(started: time.struct_time, argv: list[str]) -> str:
    """When, at which commit and with which command the figures below were measured."""

    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    at = f"{commit or 'an unknown commit'}{' with uncommitted changes' if dirty else ''}"
    wheel = os.environ.get(reference.TORCH_WHEEL_VARIABLE)
    command = f"{reference.TORCH_WHEEL_VARIABLE}={wheel} " if wheel else ""
    command += "make bench-hf" + (f' ARGS="{" ".join(argv)}"' if argv else "")
    return (
        f"# make bench-hf, {time.strftime('%Y-%m-%d %H:%M UTC', started)}\n\n"
        f"At {at}: `{command}`.\n\n"
    )


def machine_line(
    before: tuple[float, ...], after: tuple[float, ...], args: argparse.Namespace, seconds: float
) -> str:
    loads = "/".join(f"{x:.1f}" for x in before), "/".join(f"{x:.1f}" for x in after)
    return (
        f"\n{SIZES[args.size]}, "
        f"beam {args.beam}, exactly {args.steps} tokens decoded by every side (end of "
        f"sentence suppressed); one thread; median of {args.runs} fresh processes, "
        f"{args.warm} warm captions each, on {args.image.name}; {os.cpu_count()} CPUs, load "
        f"average (1/5/15 min) {loads[0]} at the start and {loads[1]} at the end; "
        f"{seconds:.0f} s. Reproduce: `make bench-hf`.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
