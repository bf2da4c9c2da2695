"""Cold start and warm caption latency of the function, against the reference design.

`make bench` (or `python -m bench.coldstart`). Cold start is a fresh Python process to
its first caption: interpreter start, `import app` (torch, the model load) and one
`POST /caption` through the handler, like a new Lambda instance. Warm latency is the
handler's time for one caption once loaded. Both at one thread (LUKEWARM_THREADS=1),
about what a 1,769 MB Lambda gets. A benchmark, not a test: the figures depend on the
machine and on what else it is doing (the load average is printed).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"
DEFAULT_PHOTO = ROOT / "data" / "photos" / "motorcycle.jpg"

REFERENCE_COLD_S = 32.2
REFERENCE_WARM_S = 4.8
"""The 2022 hand-built deployment at 1024 MB (DESIGN.md)."""

MARKER = "BENCH-RESULT "

# Runs in a fresh interpreter with function/ as the working directory, like /var/task.
COLD_PROBE = """
import json, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter()
class Context:
    aws_request_id = "bench"
    function_name = "lukewarm"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:lukewarm"
    memory_limit_in_mb = 1769
reply = app.handler(json.loads(sys.stdin.read()), Context())
done = time.perf_counter()
body = json.loads(reply["body"])
assert reply["statusCode"] == 200 and body["cold_start"], reply
print("BENCH-RESULT " + json.dumps({
    "import_s": imported - started, "first_request_s": done - imported,
    "caption": body["caption"],
}), flush=True)
"""

POWERTOOLS_PROBE = """
import json, time
import captioner
started = time.perf_counter()
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit
print("BENCH-RESULT " + json.dumps({"powertools_s": time.perf_counter() - started}), flush=True)
"""


def caption_event(photo: bytes) -> dict[str, Any]:
    """An HTTP API (payload 2.0) `POST /caption` event carrying the photo."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/caption",
        "rawQueryString": "",
        "headers": {"content-type": "image/jpeg", "host": "bench.local"},
        "requestContext": {
            "http": {"method": "POST", "path": "/caption", "protocol": "HTTP/1.1"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": base64.b64encode(photo).decode(),
        "isBase64Encoded": True,
    }


def child_env(model_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LUKEWARM_MODEL_DIR": str(model_dir),
        "LUKEWARM_THREADS": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def run_probe(code: str, env: dict[str, str], stdin: str = "") -> tuple[float, dict[str, Any]]:
    """Seconds from starting a fresh interpreter running `code` until it reports, and
    the report. Not until it exits: tearing torch down takes seconds, and a Lambda
    instance never pays that on a request."""
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        with subprocess.Popen(
            [sys.executable, "-c", code],
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


def measure_cold(model_dir: Path, photo: bytes, runs: int) -> dict[str, list[float]]:
    event = json.dumps(caption_event(photo))
    figures: dict[str, list[float]] = {"total_s": [], "import_s": [], "first_request_s": []}
    for _ in range(runs):
        total, reported = run_probe(COLD_PROBE, child_env(model_dir), event)
        figures["total_s"].append(total)
        figures["import_s"].append(reported["import_s"])
        figures["first_request_s"].append(reported["first_request_s"])
    return figures


def measure_warm(model_dir: Path, photo: bytes, calls: int) -> list[float]:
    """Seconds per caption through the handler, in this process, once warm."""
    os.environ.update(child_env(model_dir))
    sys.path.insert(0, str(FUNCTION_DIR))
    import app

    class Context:
        aws_request_id = "bench"
        function_name = "lukewarm"
        invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:lukewarm"
        memory_limit_in_mb = 1769

    event = caption_event(photo)
    seconds = []
    # The handler prints its EMF metrics to stdout, as on Lambda; keep them off the table.
    with contextlib.redirect_stdout(io.StringIO()):
        app.handler(event, Context())  # the cold one
        for _ in range(calls):
            started = time.perf_counter()
            reply = app.handler(event, Context())
            seconds.append(time.perf_counter() - started)
            assert reply["statusCode"] == 200, reply
    return seconds


def measure_draft(photo: bytes, image_size: int, repeats: int = 7) -> tuple[float, float]:
    """Median seconds to decode and preprocess a 12 MP JPEG (a phone photo): fully
    decoded, and decoded at the reduced scale JPEG allows (`image.draft`)."""
    from PIL import Image

    from captioner.config import PreprocessConfig
    from captioner.images import decode_image
    from captioner.preprocess import to_tensor

    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("RGB").resize((4032, 3024)).save(buffer, "JPEG")
    config = PreprocessConfig(image_size=image_size)
    medians = []
    for min_size in (None, image_size):
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            to_tensor(decode_image(buffer.getvalue(), min_size=min_size), config)
            seconds.append(time.perf_counter() - started)
        medians.append(statistics.median(seconds))
    return medians[0], medians[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=FUNCTION_DIR / "model")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes (default 5)")
    parser.add_argument("--calls", type=int, default=30, help="warm captions (default 30)")
    args = parser.parse_args(argv)
    from captioner.config import read_config

    if not (args.model_dir / "weights.safetensors").is_file():
        parser.error(f"no model in {args.model_dir} (make demo-model, or pass --model-dir)")
    if args.runs < 1 or args.calls < 2:
        parser.error("--runs must be at least 1 and --calls at least 2")
    photo = args.photo.read_bytes()

    load = os.getloadavg()[0]
    print(f"model {args.model_dir}, photo {args.photo.name}, 1 thread, load average {load:.1f}")
    powertools = [
        run_probe(POWERTOOLS_PROBE, child_env(args.model_dir))[1]["powertools_s"]
        for _ in range(args.runs)
    ]
    cold = measure_cold(args.model_dir, photo, args.runs)
    warm = measure_warm(args.model_dir, photo, args.calls)
    image_size = read_config(args.model_dir).preprocess.image_size
    full_decode_s, draft_decode_s = measure_draft(photo, image_size)

    cold_s = statistics.median(cold["total_s"])
    warm_s = statistics.median(warm)
    rows = [
        ("cold start: process to first caption", cold_s, REFERENCE_COLD_S),
        ("  of which import app (torch, model)", statistics.median(cold["import_s"]), None),
        ("  of which first request", statistics.median(cold["first_request_s"]), None),
        ("  of which Powertools import", statistics.median(powertools), None),
        ("warm caption, median", warm_s, REFERENCE_WARM_S),
        ("warm caption, p95", percentile(warm, 0.95), None),
        ("12 MP JPEG decode+preprocess, full", full_decode_s, None),
        (f"12 MP JPEG, draft (>= {image_size} px)", draft_decode_s, None),
    ]
    print(f"\n{'':40} {'lukewarm':>10} {'reference':>10} {'faster':>8}")
    for label, seconds, reference in rows:
        versus = f"{reference:>9.1f}s {reference / seconds:>7.1f}x" if reference else ""
        print(f"{label:40} {seconds:>9.3f}s {versus}")
    print(f"\ncold: median of {args.runs} fresh processes; warm: {args.calls} calls in one process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
