"""Does the warmer keep sporadic traffic warm? The same seeded trace, with and without it.

A sporadic user: requests whose gaps are exponential with a mean longer than the idle
reclaim time, so without warming most requests find no instance left. Two local stacks
(`lukewarm serve`) replay the same trace at once, one running the stack's own warm
schedules, one with `--no-warmer`; each request's cold/warm comes from the instance
that answered it, its latency from the client.

Time is compressed: the stacks' clock runs `--time-scale` times faster, which shrinks the
schedule, the idle timeout and the gaps alike. Cold starts cannot be compressed, so each
gap is counted from the previous answer (a person reads a caption, then comes back
later), as on the real time scale where a cold start is nothing next to a 25-minute gap.
The warm hold (used when a window warms several instances) is compressed with the clock
too, so warm-ups occupy the same share of the schedule interval as they do on Lambda.

Ends with one line: `keepwarm: cold_with=<fraction> cold_without=<fraction> p95_ratio=<x>`.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from infra.settings import stack_settings
from lukewarm.checkout import FUNCTION_DIR
from lukewarm.http import CaptionError, caption_url, post_image, read_image
from lukewarm.localstack.process import StackProcess
from lukewarm.serve import default_max_instances

PHOTO = Path(__file__).resolve().parent.parent / "data" / "photos" / "coffee.png"


@dataclass(frozen=True)
class Sample:
    latency_ms: float
    cold: bool


@dataclass(frozen=True)
class Summary:
    requests: int
    cold_fraction: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def poisson_gaps(count: int, mean_s: float, seed: int) -> list[float]:
    """Exponential gaps (a Poisson process), the same for every run with the same seed."""
    rng = random.Random(seed)
    return [rng.expovariate(1 / mean_s) for _ in range(count)]


def replay(url: str, gaps_s: list[float], image: bytes, content_type: str) -> list[Sample]:
    """Send one request after each gap (counted from the previous answer)."""
    endpoint = caption_url(url)
    samples = []
    for gap in gaps_s:
        time.sleep(gap)
        answer = post_image(endpoint, image, content_type, timeout=60)
        samples.append(Sample(answer.latency_ms, bool(answer.body.get("cold_start"))))
    return samples


def summarise(samples: list[Sample]) -> Summary:
    latencies = [sample.latency_ms for sample in samples]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Summary(
        requests=len(samples),
        cold_fraction=sum(sample.cold for sample in samples) / len(samples),
        p50_ms=cuts[49],
        p95_ms=cuts[94],
        p99_ms=cuts[98],
    )


def wait_until_warm(stack: StackProcess, timeout_s: float = 180) -> None:
    """The deployed stack warms once after a deploy; the trace starts once an instance is warm."""
    deadline = time.monotonic() + timeout_s
    while not re.search(r'"instances_reached":[1-9]', stack.log()):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench-warm: the warmer reached no instance:\n{stack.log()}")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keepwarm", description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--mean-gap-min", type=float, default=25.0, help="stack minutes")
    parser.add_argument(
        "--idle-timeout-min", type=float, default=10.0, help="idle reclaim, stack minutes"
    )
    parser.add_argument("--time-scale", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--photo", type=Path, default=PHOTO)
    args = parser.parse_args(argv)

    settings = stack_settings()
    model_dir = args.model_dir or FUNCTION_DIR / settings.model_dir
    if not (model_dir / "weights.safetensors").is_file():
        print(f"bench-warm: no model in {model_dir} (make demo-model)", file=sys.stderr)
        return 2
    schedules = ", ".join(f"{s.schedule} x{s.concurrency}" for s in settings.warm_schedules)
    if not schedules:
        print("bench-warm: the stack config has no warm schedule to test", file=sys.stderr)
        return 2
    image, content_type = read_image(args.photo)
    scale = args.time_scale
    gaps = [gap / scale for gap in poisson_gaps(args.requests, args.mean_gap_min * 60, args.seed)]
    common = {
        "model_dir": model_dir,
        "idle_timeout": args.idle_timeout_min * 60,
        "time_scale": scale,
        "max_instances": default_max_instances(settings.reserved_concurrency),
    }
    print(
        f"keep-warm: {args.requests} requests, mean gap {args.mean_gap_min:g} min, idle reclaim "
        f"{args.idle_timeout_min:g} min, warming {schedules}, "
        f"clock x{scale:g} (1 min = {60 / scale:.2f} s), seed {args.seed}",
        flush=True,
    )
    hold_ms = round(settings.warm_hold_ms / scale)
    results: dict[str, list[Sample]] = {}
    failures: dict[str, str] = {}

    def run(name: str, stack: StackProcess) -> None:
        try:
            results[name] = replay(stack.url, gaps, image, content_type)
        except CaptionError as error:
            failures[name] = f"{error}\n{stack.log()[-3000:]}"

    with (
        StackProcess(warm_hold_ms=hold_ms, **common) as warmed,
        StackProcess(no_warmer=True, **common) as unwarmed,
    ):
        wait_until_warm(warmed)
        threads = [
            threading.Thread(target=run, args=(name, stack))
            for name, stack in (("with", warmed), ("without", unwarmed))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        warm_runs = re.findall(r'warm run \(.*"instances_reached":(\d+)', warmed.log())
        started = {
            name: sum(" cold i-" in line for line in stack.request_lines())
            for name, stack in (("with", warmed), ("without", unwarmed))
        }
    for name, failure in failures.items():
        print(f"bench-warm: a request {name} the warmer failed: {failure}", file=sys.stderr)
    if failures:
        return 1
    summaries = {name: summarise(samples) for name, samples in results.items()}
    print(f"{'':16}{'cold':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name in ("with", "without"):
        s = summaries[name]
        print(
            f"{name + ' warmer':16}{s.cold_fraction:>8.1%}"
            f"{s.p50_ms:>10.0f}{s.p95_ms:>10.0f}{s.p99_ms:>10.0f}"
        )
    warm, cold = summaries["with"], summaries["without"]
    reached = sum(int(count) > 0 for count in warm_runs)
    print(
        f"warmer: {len(warm_runs)} runs, {reached} reached their instance; instances started: "
        f"{started['with']} with the warmer, {started['without']} without"
    )
    print(
        f"{'without ÷ with':16}{'':8}{cold.p50_ms / warm.p50_ms:>10.1f}"
        f"{cold.p95_ms / warm.p95_ms:>10.1f}{cold.p99_ms / warm.p99_ms:>10.1f}"
    )
    print(
        f"keepwarm: cold_with={warm.cold_fraction:.3f} cold_without={cold.cold_fraction:.3f} "
        f"p95_ratio={cold.p95_ms / warm.p95_ms:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
