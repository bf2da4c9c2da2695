"""`lukewarm probe URL`: measure cold, luke-warm and warm latency at random times.

The experiment behind the original write-up, automated. One request at a time, each
after a random idle gap (measured from the previous answer), so the platform has the
chance to reclaim or keep instances exactly as it would with sporadic real traffic.
That takes time: the default 20 requests at the default gaps (1 s to 15 min) run for
about 2.4 hours, and the probe says how long it expects to run before it starts.

Each answered request is put in one class:
- cold: the response says `cold_start: true` (the instance loaded the model for it);
- restored: the response says `restored: true` (SnapStart restored the instance for it);
- luke-warm: not cold, but slower than the luke-warm threshold;
- warm: the rest.
The threshold is `--lukewarm-threshold` ms if given; otherwise it is derived from the
data: `--lukewarm-factor` (default 1.5) times the median of the faster half of the
non-cold requests (the warm cluster), and at least that median + 100 ms, so that jitter
on fast answers is not called luke-warm. Requests that failed are kept as `error`.

Writes `report.json` (every request, the summary, the cost inputs `lukewarm cost
--probe-report` reads) and `report.png`; Ctrl-C stops early and still writes both.
"""

# matplotlib, Pillow and rich load only when a probe runs: `lukewarm probe --help` stays instant.

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The one definition of a cold start and a restore, shared with report, dashboard and alarms.
from infra import telemetry
from lukewarm import auth
from lukewarm.http import CaptionError, caption_url, post_image, read_image

CLASSES = ("cold", "restored", "luke-warm", "warm", "error")
COLOURS = {
    "cold": "#1f77b4",
    "restored": "#2ca02c",
    "luke-warm": "#ff7f0e",
    "warm": "#d62728",
    "error": "#7f7f7f",
}
DEFAULT_FACTOR = 1.5
MIN_MARGIN_MS = 100.0
DEFAULT_COUNT = 20
DEFAULT_GAP_S = (1.0, 900.0)
"""Idle gaps from a second to 15 minutes: on both sides of Lambda's idle reclaim (minutes,
undocumented), so one run meets warm, luke-warm and cold instances. The price is time:
20 requests take about 2.4 hours."""


@dataclass
class Sample:
    """One request as the probe saw it."""

    index: int
    sent_at: str
    offset_s: float
    gap_s: float
    latency_ms: float | None
    status: int | None
    cold_start: bool | None = None
    restored: bool | None = None
    instance: str | None = None
    model: dict[str, str] | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    kind: str = "error"


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be zero or more")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


CLASS_HELP = __doc__.split("Each answered request is put in one class:\n", 1)[1].split("\n\n")[0]
"""The classes, as the module's docstring defines them: `--help` shows them too."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = f"Each answered request is put in one class:\n{CLASS_HELP}"
    parser.add_argument("url", help="base URL of the API (the stack's `url` output)")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument(
        "--count",
        type=_count,
        metavar="N",
        help=f"send this many requests (default {DEFAULT_COUNT}: about 2.4 h at the default gaps)",
    )
    stop.add_argument(
        "--duration", type=_positive, metavar="S", help="or keep probing for this many seconds"
    )
    parser.add_argument(
        "--gap-min",
        type=_positive,
        metavar="S",
        default=DEFAULT_GAP_S[0],
        help=f"shortest idle gap, s (default {DEFAULT_GAP_S[0]:g})",
    )
    parser.add_argument(
        "--gap-max",
        type=_positive,
        metavar="S",
        default=DEFAULT_GAP_S[1],
        help=f"longest idle gap, s (default {DEFAULT_GAP_S[1]:g})",
    )
    parser.add_argument(
        "--image", type=Path, metavar="PATH", help="image to send (default: a built-in one)"
    )
    parser.add_argument(
        "--lukewarm-threshold",
        type=_positive,
        metavar="MS",
        help="latency above which a non-cold request is luke-warm (default: from the data)",
    )
    parser.add_argument(
        "--lukewarm-factor",
        type=_positive,
        metavar="X",
        default=DEFAULT_FACTOR,
        help=f"derived threshold = factor x warm-cluster median (default {DEFAULT_FACTOR})",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        default="probe/",
        help="directory (report.json, report.png) or file prefix (PREFIX.json, PREFIX.png); "
        "default probe/",
    )
    parser.add_argument(
        "--timeout", type=_positive, default=60.0, metavar="S", help="seconds per request (60)"
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed for the random gaps (repeatable runs)"
    )
    auth.configure(parser)


def _span(seconds: float) -> str:
    """A duration as people say it: 45 s, 9 min, 2 h 23 min."""
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def plan(count: int | None, duration_s: float | None, gap_min: float, gap_max: float) -> str:
    """What a probe is about to do and how long it will take, said before it starts.

    Every request but the first waits a gap drawn uniformly from [gap_min, gap_max], so
    `count` requests take (count - 1) x the mean gap, plus the requests' own time.
    """
    mean_gap = (gap_min + gap_max) / 2
    gaps = f"a random gap of {gap_min:g}-{gap_max:g} s"
    if count is not None:
        expected, longest = (count - 1) * mean_gap, (count - 1) * gap_max
        return (
            f"{count} requests, each after {gaps}: expect about {_span(expected)} "
            f"(at most {_span(longest)}) plus the requests' own time"
        )
    assert duration_s is not None
    if not mean_gap:
        return f"probing for {_span(duration_s)}: requests back to back"
    requests = math.floor(duration_s / mean_gap) + 1
    return f"probing for {_span(duration_s)}: about {requests} requests, each after {gaps}"


def builtin_image() -> bytes:
    """A small PNG made on the spot: a red circle and a blue square on grass green."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (224, 224), (96, 160, 72))
    draw = ImageDraw.Draw(image)
    draw.ellipse((24, 40, 104, 120), fill=(200, 30, 30))
    draw.rectangle((124, 100, 200, 176), fill=(30, 60, 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def derive_threshold(samples: Iterable[Sample], factor: float = DEFAULT_FACTOR) -> float | None:
    """`factor` x the warm cluster's median (at least median + 100 ms), or None.

    The warm cluster is the faster half of the non-cold answers: luke-warm ones are slow
    by definition, so the median of them all would drag the threshold up.
    """
    latencies = sorted(
        s.latency_ms
        for s in samples
        if s.latency_ms is not None and s.error is None and not s.cold_start and not s.restored
    )
    if not latencies:
        return None
    warm_median = statistics.median(latencies[: max(1, (len(latencies) + 1) // 2)])
    return max(factor * warm_median, warm_median + MIN_MARGIN_MS)


def classify(samples: Sequence[Sample], threshold_ms: float | None) -> None:
    """Set each sample's `kind` (cold, restored, luke-warm, warm or error) in place: cold
    and restored by the one definition (infra/telemetry.py), luke-warm by latency."""
    for sample in samples:
        started = telemetry.start_kind(bool(sample.cold_start), bool(sample.restored))
        if sample.error is not None or sample.latency_ms is None:
            sample.kind = "error"
        elif started in telemetry.STARTS:
            sample.kind = started
        elif threshold_ms is not None and sample.latency_ms > threshold_ms:
            sample.kind = "luke-warm"
        else:
            sample.kind = "warm"


def summarise(samples: Sequence[Sample]) -> dict[str, dict[str, float | int | None]]:
    """Count, p50, p95 and max client latency (ms) per class, and the server's own p50.

    The server's `timing_ms.total` is the handler's work; the rest of the client latency
    is the network, the API and, when cold, the instance starting.
    """
    summary: dict[str, dict[str, float | int | None]] = {}
    for kind in CLASSES:
        latencies = [s.latency_ms for s in samples if s.kind == kind and s.latency_ms is not None]
        server = [
            s.timing_ms["total"] for s in samples if s.kind == kind and "total" in s.timing_ms
        ]
        summary[kind] = {
            "count": sum(1 for s in samples if s.kind == kind),
            "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
            "max_ms": round(max(latencies), 1) if latencies else None,
            "server_p50_ms": round(percentile(server, 50), 1) if server else None,
        }
    return summary


def cost_inputs(samples: Sequence[Sample]) -> dict[str, float | None]:
    """What `lukewarm cost --probe-report` needs, in seconds (client latency bounds billing).

    `duration_s` is the mean of the requests that did not start an instance, so it can be
    billed for every request while `init_s` (cold median - warm median) is billed only for
    the `cold_fraction` of them.
    """
    answered = [s for s in samples if s.kind != "error" and s.latency_ms is not None]

    def mean_s(kinds: tuple[str, ...]) -> float | None:
        values = [s.latency_ms for s in answered if s.kind in kinds and s.latency_ms is not None]
        return round(statistics.fmean(values) / 1000, 4) if values else None

    def median_ms(kind: str) -> float | None:
        values = [s.latency_ms for s in answered if s.kind == kind and s.latency_ms is not None]
        return statistics.median(values) if values else None

    cold, warm = median_ms("cold"), median_ms("warm")
    return {
        "duration_s": mean_s(("warm", "luke-warm")),
        "warm_duration_s": mean_s(("warm",)),
        "overall_duration_s": mean_s(("cold", "restored", "luke-warm", "warm")),
        # Requests that started an instance: a cold start, or a restore under SnapStart.
        "cold_fraction": (
            round(sum(1 for s in answered if s.kind in telemetry.STARTS) / len(answered), 4)
            if answered
            else None
        ),
        "init_s": round(max(cold - warm, 0.0) / 1000, 4)
        if cold is not None and warm is not None
        else None,
    }


def output_paths(out: str) -> tuple[Path, Path]:
    """report.json/report.png in a directory, or PREFIX.json/PREFIX.png for a prefix."""
    path = Path(out)
    if out.endswith(("/", os.sep)) or path.is_dir():
        return path / "report.json", path / "report.png"
    return path.with_name(path.name + ".json"), path.with_name(path.name + ".png")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same directory, so no half-written report."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def plot(samples: Sequence[Sample], threshold_ms: float | None, title: str) -> bytes:
    """PNG: latency histogram per class (left) and latency over time by class (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (histogram, timeline) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    seconds = [s.latency_ms / 1000 for s in samples if s.kind != "error" and s.latency_ms]
    # Cold starts can be 100x a warm answer: a log axis keeps both readable.
    logarithmic = bool(seconds) and max(seconds) > 5 * min(seconds) > 0
    _draw_histogram(histogram, samples, seconds, logarithmic)
    _draw_timeline(timeline, samples, seconds, threshold_ms, logarithmic)
    if logarithmic:
        _plain_log_ticks(histogram.xaxis)
        _plain_log_ticks(timeline.yaxis)
    figure.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _plain_log_ticks(axis: Any) -> None:
    """Ticks at 1, 2 and 5 of each decade, written 0.5 and 2 rather than 5x10^-1."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def _draw_histogram(
    axes: Any, samples: Sequence[Sample], seconds: list[float], logarithmic: bool
) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_xlabel("latency (s)")
    axes.set_ylabel("requests")
    axes.set_title("latency per class")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not seconds:
        axes.text(0.5, 0.5, "no answered requests", ha="center", transform=axes.transAxes)
        return
    low, high = min(seconds), max(seconds)
    bins: Any = [low * (high / low) ** (i / 30) for i in range(31)] if logarithmic else 30
    if logarithmic:
        axes.set_xscale("log")
    for kind in ("cold", "restored", "luke-warm", "warm"):
        values = [s.latency_ms / 1000 for s in samples if s.kind == kind and s.latency_ms]
        if values:
            label = f"{kind} ({len(values)})"
            axes.hist(values, bins=bins, color=COLOURS[kind], alpha=0.75, label=label)
    axes.legend(frameon=False)


def _draw_timeline(
    axes: Any,
    samples: Sequence[Sample],
    seconds: list[float],
    threshold_ms: float | None,
    logarithmic: bool,
) -> None:
    axes.set_xlabel("time since start (min)")
    axes.set_ylabel("latency (s)")
    axes.set_title("latency over time")
    for kind in CLASSES:
        chosen = [s for s in samples if s.kind == kind]
        minutes = [s.offset_s / 60 for s in chosen]
        if kind == "error" and chosen:
            top = [max(seconds, default=1.0)] * len(chosen)
            axes.scatter(minutes, top, marker="x", color=COLOURS[kind], label=kind)
        elif chosen:
            values = [(s.latency_ms or 0) / 1000 for s in chosen]
            axes.scatter(minutes, values, color=COLOURS[kind], s=22, label=kind)
    if threshold_ms is not None and seconds:
        axes.axhline(
            threshold_ms / 1000,
            color=COLOURS["luke-warm"],
            lw=0.8,
            ls="--",
            label="luke-warm threshold",
        )
    if logarithmic:
        axes.set_yscale("log")
    if samples:
        axes.legend(frameon=False)


def _request(
    endpoint: str,
    image: bytes,
    content_type: str,
    timeout: float,
    request_auth: auth.RequestAuth | None = None,
) -> dict[str, Any]:
    try:
        response = post_image(endpoint, image, content_type, timeout=timeout, auth=request_auth)
    except CaptionError as error:
        return {"error": str(error), "status": error.status, "latency_ms": None}
    body = response.body
    timing = body.get("timing_ms")
    timing = timing if isinstance(timing, dict) else {}
    return {
        "error": None,
        "status": 200,
        "latency_ms": round(response.latency_ms, 2),
        "cold_start": bool(body.get("cold_start")),
        "restored": bool(body.get("restored")),
        "instance": body.get("instance"),
        "model": body.get("model") if isinstance(body.get("model"), dict) else None,
        "timing_ms": {k: v for k, v in timing.items() if isinstance(v, int | float)},
    }


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """While inside, the first Ctrl-C only sets `stop`; a second raises KeyboardInterrupt.
    (Signal handlers can be set in the main thread only; elsewhere Ctrl-C is left as is.)"""

    def ask_to_stop(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, ask_to_stop) if in_main_thread else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def measure(
    endpoint: str,
    image: bytes,
    content_type: str,
    args: argparse.Namespace,
    count: int | None,
    samples: list[Sample],
    request_auth: auth.RequestAuth | None = None,
) -> None:
    """Send requests at random gaps into `samples` until done, or until Ctrl-C.

    The first Ctrl-C stops after the request in flight, and KeyboardInterrupt is raised
    once the progress bar has stopped: raised inside the bar's update, it could leave the
    bar's refresh thread waiting for a lock for ever, and the probe hung. A second Ctrl-C
    raises at once.

    Raises CaptionError if the very first request cannot reach the server at all, or is
    refused by the API's auth: a mistyped URL or a missing token should not cost a whole
    experiment's wait.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    rng = random.Random(args.seed)  # noqa: S311 (gaps need no cryptography)
    start = time.monotonic()
    unit = " req" if count is not None else " s"
    progress = Progress(
        TextColumn("[bold]probe"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}" + unit),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=Console(stderr=True),
    )

    shown = ""

    def advance(last: str | None = None) -> None:
        nonlocal shown
        shown = shown if last is None else last
        done = len(samples) if count is not None else time.monotonic() - start
        progress.update(task, completed=done, last=shown)

    stop = threading.Event()
    with _ctrl_c_stops(stop), progress:
        task = progress.add_task("probe", total=count or args.duration, last="")
        gap = 0.0
        while len(samples) < (count or math.inf) and not stop.is_set():
            if count is None and time.monotonic() - start + gap > args.duration:
                break
            deadline = time.monotonic() + gap
            while (remaining := deadline - time.monotonic()) > 0 and not stop.is_set():
                time.sleep(min(remaining, 0.2))
                advance()
            if stop.is_set():
                break
            sent_at = datetime.now(UTC)
            offset = time.monotonic() - start
            result = _request(endpoint, image, content_type, args.timeout, request_auth)
            if not samples and result["error"] and result["status"] in (None, 401, 403):
                raise CaptionError(result["error"])
            sample = Sample(
                index=len(samples),
                sent_at=sent_at.isoformat(timespec="milliseconds"),
                offset_s=round(offset, 3),
                gap_s=round(gap, 3),
                **result,
            )
            samples.append(sample)
            if sample.latency_ms is None:
                advance(f"last: error {sample.status or ''}")
            else:
                cold = " cold" if sample.cold_start else " restored" if sample.restored else ""
                advance(f"last: {sample.latency_ms / 1000:.2f} s{cold}")
            gap = rng.uniform(args.gap_min, args.gap_max)
        if count is None and not stop.is_set():
            progress.update(task, completed=args.duration)
    if stop.is_set():
        raise KeyboardInterrupt


def served_by(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """Each model that answered (name, version and the runtime it ran on, as the function
    reports them), in the order of first answer, with how many requests it answered: a
    deploy during the probe shows as two."""
    seen: dict[tuple[object, object, object], dict[str, Any]] = {}
    for sample in samples:
        if sample.model is None:
            continue
        model = sample.model
        key = (model.get("name"), model.get("version"), model.get("runtime"))
        entry = seen.setdefault(
            key, {"name": key[0], "version": key[1], "runtime": key[2], "requests": 0}
        )
        entry["requests"] += 1
    return list(seen.values())


def describe_model(model: dict[str, Any]) -> str:
    """`demo 2 on onnx`; a function too old to report its runtime says only its model."""
    runtime = f" on {model['runtime']}" if model.get("runtime") else ""
    return f"{model.get('name')} {model.get('version')}{runtime}"


def build_report(
    args: argparse.Namespace,
    endpoint: str,
    image: bytes,
    count: int | None,
    samples: list[Sample],
    started_at: datetime,
    interrupted: bool,
) -> dict[str, Any]:
    """Classify the samples and assemble report.json."""
    if args.lukewarm_threshold is not None:
        threshold, rule = args.lukewarm_threshold, "given (--lukewarm-threshold)"
    else:
        threshold = derive_threshold(samples, args.lukewarm_factor)
        rule = (
            f"{args.lukewarm_factor:g} x the warm cluster's median, at least median + "
            f"{MIN_MARGIN_MS:g} ms; warm cluster = faster half of the non-cold requests"
        )
    classify(samples, threshold)
    return {
        "url": args.url,
        "endpoint": endpoint,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "settings": {
            "count": count,
            "duration_s": args.duration,
            "gap_min_s": args.gap_min,
            "gap_max_s": args.gap_max,
            "image": str(args.image) if args.image else "built-in 224x224 PNG",
            "image_bytes": len(image),
            "seed": args.seed,
        },
        "lukewarm_threshold_ms": round(threshold, 1) if threshold is not None else None,
        "lukewarm_threshold_rule": rule,
        "summary": summarise(samples),
        "served_by": served_by(samples),
        "cost_inputs": cost_inputs(samples),
        "requests": [asdict(s) for s in samples],
    }


def print_summary(report: dict[str, Any], json_path: Path, png_path: Path) -> None:
    """The per-class table, the threshold and where the files are, on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="latency by class (ms)", title_justify="left")
    for column in ("class", "count", "p50", "p95", "max", "server p50"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for kind, row in report["summary"].items():
        if kind == "error" and not row["count"]:
            continue
        cells = [row[key] for key in ("p50_ms", "p95_ms", "max_ms", "server_p50_ms")]
        table.add_row(
            kind, str(row["count"]), *(f"{c:,.0f}" if c is not None else "-" for c in cells)
        )
    console = Console()
    console.print(table)
    threshold = report["lukewarm_threshold_ms"]
    shown = f"{threshold:,.0f} ms" if threshold is not None else "none (no warm requests)"
    console.print(f"luke-warm threshold: {shown} ({report['lukewarm_threshold_rule']})")
    for model in report["served_by"]:
        console.print(f"served by: {describe_model(model)} ({model['requests']} requests)")
    if report["interrupted"]:
        count = len(report["requests"])
        console.print(f"interrupted after {count} requests; kept what was measured")
    # Paths whole on one line each, however narrow the terminal, and never read as markup.
    console.print(
        f"report: {json_path}\nplot:   {png_path}", soft_wrap=True, markup=False, highlight=False
    )


def _prepare(
    args: argparse.Namespace,
) -> tuple[str, bytes, str, Path, Path, auth.RequestAuth | None]:
    """Everything checked before the first request: URL, auth, image, gaps, output directory.

    Raises CaptionError with the one-line reason; a long experiment never starts only to
    fail at the end.
    """
    if args.gap_min > args.gap_max:
        raise CaptionError(f"--gap-min {args.gap_min:g} is larger than --gap-max {args.gap_max:g}")
    endpoint = caption_url(args.url)
    try:
        request_auth = auth.from_args(args, endpoint)
    except auth.AuthError as error:
        raise CaptionError(str(error)) from None
    image, content_type = read_image(args.image) if args.image else (builtin_image(), "image/png")
    json_path, png_path = output_paths(args.out)
    try:
        json_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CaptionError(f"cannot write to {json_path.parent}: {error.strerror}") from None
    return endpoint, image, content_type, json_path, png_path, request_auth


def run(args: argparse.Namespace) -> int:
    try:
        endpoint, image, content_type, json_path, png_path, request_auth = _prepare(args)
    except CaptionError as error:
        print(f"lukewarm probe: {error}", file=sys.stderr)
        return 2
    count = None if args.duration is not None else (args.count or DEFAULT_COUNT)
    print(
        f"lukewarm probe: {plan(count, args.duration, args.gap_min, args.gap_max)}; "
        "Ctrl-C stops early and keeps what was measured",
        file=sys.stderr,
        flush=True,
    )
    samples: list[Sample] = []
    started_at = datetime.now(UTC)
    interrupted = False
    try:
        measure(endpoint, image, content_type, args, count, samples, request_auth)
    except KeyboardInterrupt:
        interrupted = True
    except CaptionError as error:
        print(f"lukewarm probe: {error}", file=sys.stderr)
        return 1

    report = build_report(args, endpoint, image, count, samples, started_at, interrupted)
    models = "; ".join(describe_model(model) for model in report["served_by"])
    served = f" ({models})" if models else ""
    title = (
        f"lukewarm probe: {args.url}{served}, {started_at:%Y-%m-%d %H:%M} UTC, "
        f"{len(samples)} requests"
    )
    png = plot(samples, report["lukewarm_threshold_ms"], title)
    try:
        _write_atomically(json_path, json.dumps(report, indent=2).encode())
        _write_atomically(png_path, png)
    except OSError as error:
        print(f"lukewarm probe: cannot write the report: {error}", file=sys.stderr)
        return 1
    print_summary(report, json_path, png_path)
    if interrupted:
        return 130
    return 0 if report["summary"]["error"]["count"] < len(samples) else 1
