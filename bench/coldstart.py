"""Cold start and warm caption latency of the function, against the reference design.

`make bench` (or `python -m bench.coldstart`; `--variant onnx-int8` for one variant).
A variant is a model directory plus the runtime (`LUKEWARM_RUNTIME`) it loads on: `onnx`
(the model's fp32 ONNX export on ONNX Runtime), `onnx-int8` (its int8 export, made once
into .bench/, on the same runtime) and `torch`. For each variant, cold start is a fresh
Python process to its first caption: interpreter start, `import app` (the runtime, the
model load) and one `POST /caption` through the handler, like a new Lambda instance.
Warm latency is the handler's time for one caption once loaded, in another fresh
process, which then reports its peak RSS before and after captioning a PNG of nearly the
most pixels the function accepts. All at one thread (LUKEWARM_THREADS=1), about what a
1,769 MB Lambda gets, with the CPU time beside the wall time. torch is the development
virtualenv's (`make bench-reference` runs the image's own). A benchmark, not a test: the
figures depend on the machine and on what else it is doing (the load average is printed).

Each run also writes its medians, dated, with the commit and the command, to
bench/results/coldstart.json (`--results`): `lukewarm cost` prices a stack's requests and
cold starts from them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contract import RUNTIME_VARIABLE
from lukewarm.measured import LAMBDA_MB_PER_VCPU, RESULTS

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"
CACHE = ROOT / ".bench"
DEFAULT_PHOTO = ROOT / "data" / "photos" / "motorcycle.jpg"

REFERENCE_COLD_S = 32.2
REFERENCE_WARM_S = 4.8
"""The 2022 hand-built deployment at 1024 MB (DESIGN.md)."""

MARKER = "BENCH-RESULT "

VARIANTS = {"onnx": "onnx", "onnx-int8": "onnx", "torch": "torch"}
"""Each benchmarked variant and the runtime (`LUKEWARM_RUNTIME`) it runs on."""

# Run in a fresh interpreter with function/ as the working directory, like /var/task.
CONTEXT = """
import json, sys, time
class Context:
    aws_request_id = "bench"
    function_name = "lukewarm"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:lukewarm"
    memory_limit_in_mb = 1769
"""

COLD_PROBE = (
    CONTEXT
    + """
started = time.perf_counter()
import app
imported = time.perf_counter()
reply = app.handler(json.loads(sys.stdin.read()), Context())
done = time.perf_counter()
body = json.loads(reply["body"])
assert reply["statusCode"] == 200 and body["cold_start"], reply
print("BENCH-RESULT " + json.dumps({
    "import_s": imported - started, "first_request_s": done - imported,
    "cpu_s": time.process_time(), "caption": body["caption"], "model": body["model"],
}), flush=True)
"""
)

WARM_PROBE = (
    CONTEXT
    + """
import contextlib, io
from pathlib import Path
import app
def peak_mb():
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
events = json.loads(sys.stdin.read())
seconds, cpu_seconds = [], []
# The handler prints its EMF metrics to stdout, as on Lambda; keep them off the report.
with contextlib.redirect_stdout(io.StringIO()):
    app.handler(events["photo"], Context())  # the cold one
    for _ in range(int(sys.argv[1])):
        started, started_cpu = time.perf_counter(), time.process_time()
        reply = app.handler(events["photo"], Context())
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - started_cpu)
        assert reply["statusCode"] == 200, reply
    photo_peak_mb = peak_mb()
    reply = app.handler(events["largest"], Context())
    assert reply["statusCode"] == 200, reply
print("BENCH-RESULT " + json.dumps({
    "seconds": seconds, "cpu_seconds": cpu_seconds, "photo_peak_mb": photo_peak_mb,
    "largest_peak_mb": peak_mb(),
}), flush=True)
"""
)

POWERTOOLS_PROBE = """
import json, time
import captioner
started = time.perf_counter()
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit
print("BENCH-RESULT " + json.dumps({"powertools_s": time.perf_counter() - started}), flush=True)
"""


def caption_event(photo: bytes, content_type: str = "image/jpeg") -> dict[str, Any]:
    """An HTTP API (payload 2.0) `POST /caption` event carrying the photo."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/caption",
        "rawQueryString": "",
        "headers": {"content-type": content_type, "host": "bench.local"},
        "requestContext": {
            "http": {"method": "POST", "path": "/caption", "protocol": "HTTP/1.1"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": base64.b64encode(photo).decode(),
        "isBase64Encoded": True,
    }


def child_env(model_dir: Path, runtime: str) -> dict[str, str]:
    return {
        **os.environ,
        "LUKEWARM_MODEL_DIR": str(model_dir),
        RUNTIME_VARIABLE: runtime,
        "LUKEWARM_THREADS": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def run_probe(
    code: str, env: dict[str, str], stdin: str = "", args: tuple[str, ...] = ()
) -> tuple[float, dict[str, Any]]:
    """Seconds from starting a fresh interpreter running `code` until it reports, and
    the report. Not until it exits: tearing torch down takes seconds, and a Lambda
    instance never pays that on a request."""
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        with subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=FUNCTION_DIR,
            env=env,
            text=True,
        ) as process:
            assert process.stdin and process.stdout
            process.stdin.write(stdin)
            process.stdin.close()
            for line in process.stdout:
                if line.startswith(MARKER):
                    elapsed = time.perf_counter() - started
                    process.stdout.read()
                    return elapsed, json.loads(line.removeprefix(MARKER))
        errors.seek(0)
        raise SystemExit(f"benchmark process failed:\n{errors.read()[-3000:]}")


def measure_cold(env: dict[str, str], photo: bytes, runs: int) -> dict[str, Any]:
    event = json.dumps(caption_event(photo))
    figures: dict[str, Any] = {"total_s": [], "import_s": [], "first_request_s": [], "cpu_s": []}
    for _ in range(runs):
        total, reported = run_probe(COLD_PROBE, env, event)
        figures["total_s"].append(total)
        for key in ("import_s", "first_request_s", "cpu_s"):
            figures[key].append(reported[key])
        figures["model"] = reported["model"]
    return figures


def largest_image() -> tuple[bytes, float]:
    """A colour PNG of nearly the most pixels the function accepts, and its megapixels:
    what decoding can add to the peak memory (JPEGs decode at reduced scale, PNGs cannot).
    Both limits bind: the pixel count, and the decoded bytes at the 4 bytes a pixel
    Pillow holds colour in."""
    from PIL import Image

    from captioner.images import MAX_DECODED_BYTES, MAX_PIXELS

    side = int(min(MAX_PIXELS, MAX_DECODED_BYTES // 4) ** 0.5)
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (90, 140, 200)).save(buffer, "PNG")
    return buffer.getvalue(), side * side / 1e6


def measure_warm(env: dict[str, str], photo: bytes, calls: int, largest: bytes) -> dict[str, Any]:
    """Seconds (wall and CPU) per caption through the handler, in a fresh process once warm,
    and its peak RSS after them and after one caption of `largest`."""
    events = {"photo": caption_event(photo), "largest": caption_event(largest, "image/png")}
    return run_probe(WARM_PROBE, env, json.dumps(events), (str(calls),))[1]


def int8_model(model_dir: Path) -> Path:
    """A copy of the model directory with an int8 ONNX export, made once in .bench/ per
    version of the model's files and of the exporter (exporting takes a while: torch, the
    calibration and the agreement check)."""
    from bench.reference import exporter_digest

    digest = hashlib.sha256(exporter_digest())
    for name in ("config.json", "vocab.json", "weights.safetensors"):
        digest.update((model_dir / name).read_bytes())
    exported = CACHE / "models" / f"int8-{digest.hexdigest()[:12]}"
    if not (exported / "done").exists():
        print(f"exporting {model_dir} as int8 into {exported} (once)", flush=True)
        shutil.rmtree(exported, ignore_errors=True)
        exported.mkdir(parents=True)
        for name in ("config.json", "vocab.json", "weights.safetensors"):
            shutil.copy(model_dir / name, exported / name)
        subprocess.run(
            [sys.executable, "-m", "lukewarm", "export", str(exported), "--quantize", "int8"],
            check=True,
            cwd=ROOT,
        )
        (exported / "done").touch()
    return exported


def measure_draft(photo: bytes, image_size: int, repeats: int = 7) -> tuple[float, float]:
    """Median seconds to decode and preprocess a 12 MP JPEG (a phone photo): fully
    decoded, and decoded at the reduced scale JPEG allows (`image.draft`)."""
    from PIL import Image

    from captioner.config import PreprocessConfig
    from captioner.images import decode_image
    from captioner.preprocess import to_array

    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("RGB").resize((4032, 3024)).save(buffer, "JPEG")
    config = PreprocessConfig(image_size=image_size)
    medians = []
    for min_size in (None, image_size):
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            to_array(decode_image(buffer.getvalue(), min_size=min_size), config)
            seconds.append(time.perf_counter() - started)
        medians.append(statistics.median(seconds))
    return medians[0], medians[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=FUNCTION_DIR / "model")
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        choices=tuple(VARIANTS),
        help="measure this variant: a model directory and the runtime it loads on"
        " (repeatable; default: all of them)",
    )
    # The flag's name until 2026-12: a variant is not a runtime (onnx-int8 runs on onnx).
    parser.add_argument("--runtime", dest="old_flag", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes (default 5)")
    parser.add_argument("--calls", type=int, default=30, help="warm captions (default 30)")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="where to write the dated medians (default bench/results/coldstart.json)",
    )
    args = parser.parse_args(argv)
    if args.old_flag:
        parser.error(
            f"--runtime is now --variant (one of {', '.join(VARIANTS)}): "
            + " ".join(f"--variant {name}" for name in args.old_flag)
        )
    from captioner.config import read_config

    if not (args.model_dir / "weights.safetensors").is_file():
        parser.error(f"no model in {args.model_dir} (make demo-model, or pass --model-dir)")
    if args.runs < 1 or args.calls < 2:
        parser.error("--runs must be at least 1 and --calls at least 2")
    photo = args.photo.read_bytes()
    variants = list(dict.fromkeys(args.variants or VARIANTS))
    model_dirs = {
        name: int8_model(args.model_dir) if name == "onnx-int8" else args.model_dir
        for name in variants
    }

    load = os.getloadavg()[0]
    print(f"model {args.model_dir}, photo {args.photo.name}, 1 thread, load average {load:.1f}")
    env = {name: child_env(model_dirs[name], VARIANTS[name]) for name in variants}
    powertools = [
        run_probe(POWERTOOLS_PROBE, env[variants[0]])[1]["powertools_s"] for _ in range(args.runs)
    ]
    cold = {name: measure_cold(env[name], photo, args.runs) for name in variants}
    largest, megapixels = largest_image()
    warm = {name: measure_warm(env[name], photo, args.calls, largest) for name in variants}
    image_size = read_config(args.model_dir).preprocess.image_size
    full_decode_s, draft_decode_s = measure_draft(photo, image_size)

    def row(label: str, seconds: dict[str, float], reference: float | None = None) -> str:
        cells = "".join(f"{seconds[name]:>10.3f}s" for name in variants)
        return f"{label:40}{cells}" + (f"{reference:>10.1f}s" if reference else "")

    cold_s = {name: statistics.median(cold[name]["total_s"]) for name in variants}
    warm_s = {name: statistics.median(warm[name]["seconds"]) for name in variants}
    print(f"\n{'':40}" + "".join(f"{name:>11}" for name in variants) + f"{'reference':>11}")
    rows = [
        row("cold start: process to first caption", cold_s, REFERENCE_COLD_S),
        row(
            "  of which import app (runtime, model)",
            {name: statistics.median(cold[name]["import_s"]) for name in variants},
        ),
        row(
            "  of which first request",
            {name: statistics.median(cold[name]["first_request_s"]) for name in variants},
        ),
        row(
            "cold start, CPU time",
            {name: statistics.median(cold[name]["cpu_s"]) for name in variants},
        ),
        row("warm caption, median", warm_s, REFERENCE_WARM_S),
        row(
            "warm caption, p95",
            {name: percentile(warm[name]["seconds"], 0.95) for name in variants},
        ),
        row(
            "warm caption, CPU time (median)",
            {name: statistics.median(warm[name]["cpu_seconds"]) for name in variants},
        ),
    ]
    print("\n".join(rows))
    for key, label in (
        ("photo_peak_mb", "peak RSS, photo"),
        ("largest_peak_mb", f"peak RSS, then a {megapixels:.1f} MP PNG"),
    ):
        cells = "".join(f"{warm[name][key]:>8.0f} MB" for name in variants)
        print(f"{label:40}{cells}")
    for label, figures, reference in (
        ("cold", cold_s, REFERENCE_COLD_S),
        ("warm", warm_s, REFERENCE_WARM_S),
    ):
        cells = "".join(f"{reference / figures[name]:>10.1f}x" for name in variants)
        print(f"{'faster than the reference, ' + label:40}{cells}")
    reported = "".join(f"{cold[name]['model'].get('runtime', '?'):>11}" for name in variants)
    print(f"{'runtime the function reported':40}{reported}")
    print(
        f"\nPowertools import {statistics.median(powertools):.3f} s; a 12 MP JPEG decodes and "
        f"preprocesses in {full_decode_s:.3f} s in full, {draft_decode_s:.3f} s at reduced "
        f"scale (>= {image_size} px)"
    )
    print(
        f"cold: median of {args.runs} fresh processes; warm: {args.calls} calls in one fresh "
        "process per variant"
    )
    write_results(args, variants, cold, warm, load, sys.argv[1:] if argv is None else argv)
    return 0


def write_results(
    args: argparse.Namespace,
    variants: list[str],
    cold: dict[str, dict[str, Any]],
    warm: dict[str, dict[str, Any]],
    load: float,
    argv: list[str] | None,
) -> None:
    """The run's medians as `lukewarm cost` reads them: per variant, the runtime it ran
    on, the init (`import app`: runtime and model load, Lambda's billed init phase), the
    first request, a warm caption, and the share of each that was CPU time (what scales
    with Lambda's memory)."""
    figures = {}
    for name in variants:
        total = statistics.median(cold[name]["total_s"])
        warm_s = statistics.median(warm[name]["seconds"])
        figures[name] = {
            "runtime": VARIANTS[name],
            "init_s": round(statistics.median(cold[name]["import_s"]), 4),
            "first_request_s": round(statistics.median(cold[name]["first_request_s"]), 4),
            "cold_cpu_share": round(min(1.0, statistics.median(cold[name]["cpu_s"]) / total), 3),
            "warm_s": round(warm_s, 4),
            "warm_cpu_share": round(
                min(1.0, statistics.median(warm[name]["cpu_seconds"]) / warm_s), 3
            ),
            "model": cold[name]["model"],
        }
    document = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "commit": _commit(),
        "command": "make bench" + (f" ARGS='{' '.join(argv)}'" if argv else ""),
        "machine": f"{os.cpu_count()} CPUs, load average {load:.1f}, one thread"
        f" (stands for Lambda's one vCPU at {LAMBDA_MB_PER_VCPU} MB)",
        "model_dir": _relative(args.model_dir),
        "photo": args.photo.name,
        "runs": args.runs,
        "calls": args.calls,
        "variants": figures,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"results: {_relative(args.results)}")


def _commit() -> str:
    """The checkout's commit, `+dirty` when files differ from it."""

    def git(*command: str) -> str:
        done = subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=10", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _relative(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(main())
