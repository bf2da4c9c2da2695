"""A stack's request and cold-start times from the last `make bench`, not from constants.

`make bench` writes its medians, dated, with the commit and the command, to
bench/results/coldstart.json: per variant (a model directory and the runtime it loads on:
`onnx`, `onnx-int8`, `torch`), the init (`import app`: the runtime and the model load,
which Lambda bills as the init phase), the first request, a warm caption, and the share of
each that was CPU time. They were measured on one thread of the machine
that ran them, which stands for Lambda's one vCPU at 1,769 MB.

The estimate uses the CPU time: on a shared development machine the rest of the wall time
is mostly waiting for a core, which a Lambda vCPU does not do. Lambda gives a function CPU
in proportion to its memory, so at `memorySize` M below 1,769 MB the CPU time is stretched
by 1,769 / M; above it the function may use more threads, but the estimate assumes no
speed-up from them (the larger figure). What it cannot know: how a Lambda vCPU compares
with the measuring machine's core, and how long Lambda takes to fetch the image's files
on a cold start. Nothing here was measured on Lambda.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lukewarm.checkout import ROOT

RESULTS = ROOT / "bench" / "results" / "coldstart.json"
"""What `make bench` (bench/coldstart.py) writes and this module reads."""
LAMBDA_MB_PER_VCPU = 1769
"""Lambda's documented CPU share: one vCPU at 1,769 MB of memory (what one benchmark
thread stands for)."""
VARIANT = {"onnx": "onnx", "torch": "torch"}
"""The `make bench` variant that runs what a stack's `runtime` deploys."""
SECTIONS = ("variants", "runtimes")
"""Where the results keep their figures per variant: `runtimes` in files written before
the bench named its columns variants (2026-12), which read the same."""


@dataclass(frozen=True)
class Measured:
    """Seconds a stack's requests take, from a dated benchmark, at the stack's memory."""

    duration_s: float
    """One warm caption."""
    init_s: float
    """What a cold start adds: the init phase and the first caption's extra set-up."""
    source: str
    """Which figures, when and how they were measured, and how they were scaled."""


def cpu_stretch(memory_mb: int) -> float:
    """How much longer CPU work takes at `memory_mb` than on one full vCPU."""
    return max(1.0, LAMBDA_MB_PER_VCPU / memory_mb)


def at_memory(seconds: float, cpu_share: float, memory_mb: int) -> float:
    """The CPU time of `seconds` measured on one thread, at `memory_mb`'s share of a vCPU."""
    return seconds * min(1.0, max(0.0, cpu_share)) * cpu_stretch(memory_mb)


def load(path: Path | None = None) -> dict[str, Any] | None:
    """The last `make bench` results, or None if there are none (or they are unreadable)."""
    try:
        document = json.loads((path or RESULTS).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def for_stack(
    runtime: str, model_dir: str, memory_mb: int, path: Path | None = None
) -> Measured | None:
    """The figures of `runtime` for the model in function/`model_dir`, at `memory_mb`, if
    the last benchmark measured them (another model's figures would not be this stack's)."""
    document = load(path)
    if document is None:
        return None
    measured_dir = str(document.get("model_dir", ""))
    if Path(measured_dir).name != Path(model_dir).name:
        return None
    sections = (document[key] for key in SECTIONS if isinstance(document.get(key), dict))
    section: dict[str, Any] = next(sections, {})
    figures = section.get(VARIANT.get(runtime, runtime))
    if not isinstance(figures, dict):
        return None
    try:
        warm = at_memory(float(figures["warm_s"]), float(figures["warm_cpu_share"]), memory_mb)
        share = float(figures["cold_cpu_share"])
        init = at_memory(float(figures["init_s"]), share, memory_mb)
        first = at_memory(float(figures["first_request_s"]), share, memory_mb)
    except (TypeError, KeyError, ValueError):
        return None
    source = (
        f"make bench of {document.get('date', '?')} (commit {document.get('commit', '?')},"
        f" `{document.get('command', 'make bench')}`, {document.get('machine', '?')}):"
        f" {runtime} warm caption {figures['warm_s']:g} s ({figures['warm_cpu_share']:.0%} CPU),"
        f" init {figures['init_s']:g} s and first caption {figures['first_request_s']:g} s"
        f" ({figures['cold_cpu_share']:.0%} CPU) on one thread; their CPU time, x"
        f"{cpu_stretch(memory_mb):.2f} at {memory_mb} MB (Lambda: 1 vCPU per"
        f" {LAMBDA_MB_PER_VCPU} MB)"
    )
    return Measured(duration_s=warm, init_s=init + max(0.0, first - warm), source=source)
