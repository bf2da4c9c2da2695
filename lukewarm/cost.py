"""`lukewarm cost`: the monthly AWS bill of a lukewarm deployment, line by line.

The command resolves its inputs (flags over a stack's settings over a probe report) and
prints what `lukewarm.pricing` makes of them; the model and its assumptions are described
there.
"""

# infra.settings (YAML, cron) and rich load only when an estimate runs.

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract import warmer_input
from infra.settings import model_measurements
from infra.telemetry import alarm_plan
from lukewarm import measured, traffic
from lukewarm.checkout import ROOT
from lukewarm.pricing import (
    DEFAULT_REGION,
    LOG_KB_PER_INVOKE,
    MONTH_START,
    Inputs,
    Schedule,
    comparison,
    estimate,
    load_prices,
    run_offsets,
)

if TYPE_CHECKING:
    from infra.schedules import WarmSchedule

DEFAULT_DURATION_S = 1.0
DEFAULT_INIT_S = 0.0
"""Only when no benchmark measured the stack's runtime and model, and no flag says."""


class CostError(Exception):
    """Inputs the estimate cannot use; the message is one line for the user."""


# --- command line ------------------------------------------------------------------------


def _number(
    low: float, *, integer: bool = False, high: float | None = None
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            bound = f"from {low:g} to {high:g}" if high is not None else f"{low:g} or more"
            raise argparse.ArgumentTypeError(f"{text} must be {bound}")
        return value

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    prices = load_prices()
    parser.add_argument(
        "--requests", type=_number(0), metavar="N", help="caption requests a month (default 10,000)"
    )
    parser.add_argument(
        "--duration",
        type=_number(0),
        metavar="S",
        help="seconds per request (default: the probe report's, else an imported model's "
        "measured caption time, else the last make bench's)",
    )
    parser.add_argument(
        "--probe-report", type=Path, metavar="PATH", help="report.json from `lukewarm probe`"
    )
    parser.add_argument(
        "--memory",
        type=_number(128, integer=True, high=10240),
        metavar="MB",
        help="function memory (default: the stack's memorySize)",
    )
    parser.add_argument(
        "--arch", choices=("x86_64", "arm64"), help="default: the stack's architecture"
    )
    parser.add_argument(
        "--region",
        choices=sorted(prices["regions"]),
        help=f"AWS region (default: the stack's aws:region, else {DEFAULT_REGION})",
    )
    parser.add_argument("--api", choices=("http", "rest"), default="http", help="API Gateway type")
    parser.add_argument(
        "--image-gb",
        type=_number(0),
        default=1.0,
        metavar="GB",
        help="container image size, GB (default 1)",
    )
    parser.add_argument(
        "--warm-schedule",
        action="append",
        metavar="EXPR",
        help="warm window, e.g. 'rate(5 minutes)' or 'cron(0/5 8-18 ? * MON-FRI *)' (repeatable)",
    )
    parser.add_argument(
        "--warm-concurrency",
        type=_number(1, integer=True),
        metavar="N",
        help="instances per warm run (default: the stack's, or 1)",
    )
    parser.add_argument(
        "--warm-timezone", default="UTC", metavar="TZ", help="timezone of --warm-schedule"
    )
    parser.add_argument("--no-warming", action="store_true", help="no warm schedules at all")
    parser.add_argument(
        "--warm-hold-ms",
        type=_number(0, high=10_000),
        metavar="MS",
        help="how long each warm invoke holds (default: the stack's warmHoldMs)",
    )
    parser.add_argument(
        "--provisioned",
        type=_number(0, integer=True),
        metavar="N",
        help="provisioned concurrency instances (default: the stack's)",
    )
    parser.add_argument(
        "--snapstart",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SnapStart on the function (default: the stack's snapStart)",
    )
    parser.add_argument(
        "--snapstart-versions",
        type=_number(1, integer=True),
        metavar="N",
        help="versions whose snapshot is cached at once (default: the stack's snapStartVersions)",
    )
    parser.add_argument(
        "--monitoring",
        choices=("off", "dashboard", "alarms"),
        help="what watches the stack: no dashboard, a dashboard, or a dashboard and alarms "
        "(default: the stack's monitoring)",
    )
    parser.add_argument(
        "--free-tier",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="subtract the always-free allowances (default on)",
    )
    parser.add_argument(
        "--init-seconds",
        type=_number(0),
        metavar="S",
        help="billed time a cold start adds, s (default: the probe report's, else an imported "
        "model's measured load time, else the last make bench's, at --memory)",
    )
    parser.add_argument(
        "--cold-fraction",
        type=_number(0, high=1),
        metavar="F",
        help="share of the instances requests need that are cold, as measured (default: from"
        " the traffic and the assumed idle reclaim)",
    )
    parser.add_argument(
        "--throttle-rate",
        type=_number(0),
        metavar="RPS",
        help="requests a second the API stage lets through (default: the stack's throttleRate)",
    )
    parser.add_argument(
        "--log-kb",
        type=_number(0),
        default=LOG_KB_PER_INVOKE,
        metavar="KB",
        help="log volume per invoke, KB",
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="read memory, architecture, warming and aws:region from Pulumi.<STACK>.yaml",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _settings(stack: str | None) -> tuple[Any, Any]:
    """infra.settings and the stack's settings (the project's defaults without a stack)."""
    from infra import settings

    try:
        return settings, settings.stack_settings(stack, project_dir=_project_dir())
    except settings.SettingsError as error:
        raise CostError(str(error).replace("\n", " ")) from None


def _project_dir() -> Path:
    """The checkout whose `Pulumi.yaml` and stack files count: the working directory's, if any."""
    return Path.cwd() if (Path.cwd() / "Pulumi.yaml").is_file() else ROOT


def _stack_region(stack: str, regions: Sequence[str]) -> str | None:
    """The `aws:region` that `Pulumi.<stack>.yaml` deploys to, if it sets one."""
    import yaml  # type: ignore[import-untyped]

    name = f"Pulumi.{stack}.yaml"
    document = yaml.safe_load((_project_dir() / name).read_text(encoding="utf-8")) or {}
    region = (document.get("config") or {}).get("aws:region")
    if region is not None and region not in regions:
        raise CostError(
            f"aws:region {region} in {name}: no prices for it "
            f"(lukewarm/prices.json has {', '.join(regions)}); pass --region"
        )
    return region


def _probe_inputs(path: Path, duration_given: bool) -> dict[str, Any]:
    """A probe report's cost inputs; its time per request is needed unless `--duration`
    gives one."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        values = report["cost_inputs"]
    except FileNotFoundError:
        raise CostError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise CostError(f"{path}: not a probe report (report.json from `lukewarm probe`)") from None
    if not isinstance(values, dict):
        raise CostError(f"{path}: not a probe report (report.json from `lukewarm probe`)")
    if values.get("duration_s") is None and not duration_given:
        # Cold and restored requests include the start; only warm ones time a request.
        raise CostError(
            f"{path}: the probe report has no warm or luke-warm request to time a request by "
            "(every answered one was cold or restored, or none was answered): probe with "
            "shorter gaps, or pass --duration"
        )
    return values


def _bench_times(stack: Any, memory_mb: int) -> tuple[float, float, str]:
    """A request's seconds, a cold start's added seconds, and where both come from: an
    imported model's own measurement, else the last `make bench` of the stack's runtime and
    model at its memory, else constants."""
    model = model_measurements(stack.model_dir) or {}
    if "caption_s" in model and "init_s" in model:
        # An imported model's own figures, measured by `lukewarm import` on one thread.
        return (
            model["caption_s"],
            model["init_s"],
            f"model {stack.model_dir} (measured by lukewarm import)",
        )
    bench = measured.for_stack(stack.runtime, stack.model_dir, memory_mb)
    if bench is not None:
        return bench.duration_s, bench.init_s, bench.source
    return (
        DEFAULT_DURATION_S,
        DEFAULT_INIT_S,
        f"default: no make bench figures of the {stack.runtime} runtime for model"
        f" {stack.model_dir} (run make bench, or pass --duration and --init-seconds)",
    )


class _Picker:
    """Takes each input from the first place that gives it, and remembers which."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}

    def __call__(self, name: str, flag: Any, fallback: Any, fallback_source: str) -> Any:
        if flag is not None:
            self.sources[name] = "flag"
            return flag
        self.sources[name] = fallback_source
        return fallback


def _times(
    args: argparse.Namespace, stack: Any, memory_mb: int, pick: _Picker
) -> tuple[float, float, float | None]:
    """A request's seconds, a cold start's added seconds and the cold fraction: flag over
    probe report over the last `make bench` (the fraction then comes from the traffic)."""
    probe = _probe_inputs(args.probe_report, args.duration is not None) if args.probe_report else {}
    from_probe = f"probe report {args.probe_report}"
    bench_duration, bench_init, from_bench = _bench_times(stack, memory_mb)
    duration = pick(
        "duration_s",
        args.duration,
        probe.get("duration_s") or bench_duration,
        from_probe if probe.get("duration_s") else from_bench,
    )
    init_s = pick(
        "init_s",
        args.init_seconds,
        probe["init_s"] if probe.get("init_s") is not None else bench_init,
        from_probe if probe.get("init_s") is not None else from_bench,
    )
    cold_fraction = pick(
        "cold_fraction",
        args.cold_fraction,
        probe.get("cold_fraction"),
        from_probe
        if probe.get("cold_fraction") is not None
        else "the traffic, with the assumed idle reclaim (see assumptions)",
    )
    return (
        float(duration),
        float(init_s),
        None if cold_fraction is None else float(cold_fraction),
    )


def _region(args: argparse.Namespace, pick: _Picker, origin: str) -> str:
    """The flag's region, else the stack's `aws:region`, else the default."""
    stack_region = (
        _stack_region(args.stack, sorted(load_prices()["regions"])) if args.stack else None
    )
    return str(
        pick(
            "region",
            args.region,
            stack_region or DEFAULT_REGION,
            origin if stack_region else "default",
        )
    )


def reduce_windows(windows: Sequence[WarmSchedule], hold_ms: int) -> tuple[Schedule, ...]:
    """Warm windows as what they cost: when each runs in the month, and the hold the
    deployed warmer really asks for, by the program's own rule (`contract.warmer_input`)."""
    schedules = []
    for window in windows:
        offsets = run_offsets(window)
        schedules.append(
            Schedule(
                window.schedule,
                window.concurrency,
                window.timezone,
                len(offsets),
                warmer_input(window.concurrency, hold_ms)["hold_ms"],
                offsets,
            )
        )
    return tuple(schedules)


def _windows(
    args: argparse.Namespace, stack: Any, pick: _Picker, origin: str
) -> Sequence[WarmSchedule]:
    """The warm windows: none with --no-warming, the --warm-schedule flags, or the stack's."""
    from infra.schedules import WarmSchedule

    if args.no_warming and args.warm_schedule:
        raise CostError("--no-warming and --warm-schedule contradict each other")
    if args.no_warming:
        return pick("warm_schedules", (), None, "")
    if args.warm_schedule:
        windows = []
        for expression in args.warm_schedule:
            try:
                windows.append(
                    WarmSchedule(expression, args.warm_concurrency or 1, args.warm_timezone)
                )
            except ValueError as error:
                raise CostError(f"--warm-schedule {expression!r}: {error}") from None
        return pick("warm_schedules", windows, None, "")
    windows = list(stack.warm_schedules)
    if args.warm_concurrency is not None:
        windows = [replace(w, concurrency=args.warm_concurrency) for w in windows]
    return pick("warm_schedules", None, windows, origin)


def resolve(args: argparse.Namespace) -> tuple[Inputs, tuple[Schedule, ...]]:
    """Inputs from flags over probe report over stack over defaults, with their sources,
    and the project's default warm windows (what the comparison warms with when the
    inputs have none)."""
    settings_module, stack = _settings(args.stack)
    origin = f"stack {args.stack}" if args.stack else "Pulumi.yaml default"
    pick = _Picker()
    requests = pick("requests", args.requests, 10_000, "default")
    memory = int(pick("memory_mb", args.memory, stack.memory_size, origin))
    duration, init_s, cold_fraction = _times(args, stack, memory, pick)
    region = _region(args, pick, origin)
    architecture = pick("architecture", args.arch, stack.architecture, origin)
    hold = int(pick("warm_hold_ms", args.warm_hold_ms, stack.warm_hold_ms, origin))
    provisioned = pick("provisioned", args.provisioned, stack.provisioned_concurrency, origin)
    snapstart = pick("snapstart", args.snapstart, stack.snap_start, origin)
    versions = pick(
        "snapstart_versions", args.snapstart_versions, stack.snap_start_versions, origin
    )
    throttle = pick("throttle_rps", args.throttle_rate, stack.throttle_rate, origin)
    reserved = pick("reserved", None, stack.reserved_concurrency, origin)
    if snapstart and provisioned:
        raise CostError("SnapStart cannot be used with provisioned concurrency (AWS refuses both)")
    windows = _windows(args, stack, pick, origin)
    defaults = reduce_windows(settings_module.load_settings().warm_schedules, hold)
    monitoring = pick("monitoring", args.monitoring, stack.monitoring, origin)
    inputs = Inputs(
        region=region,
        architecture=architecture,
        memory_mb=memory,
        requests=float(requests),
        duration_s=duration,
        api=args.api,
        image_gb=args.image_gb,
        schedules=reduce_windows(windows, hold),
        warm_hold_ms=float(hold),
        provisioned=int(provisioned),
        free_tier=args.free_tier,
        init_s=init_s,
        cold_fraction=cold_fraction,
        log_kb=args.log_kb,
        snapstart=bool(snapstart),
        snapstart_versions=int(versions),
        throttle_rps=float(throttle),
        reserved=int(reserved or 0),
        monitoring=monitoring,
        alarm_metrics=alarm_plan(
            monitoring=monitoring,
            warm_schedules=windows,
            provisioned_concurrency=int(provisioned),
            start=MONTH_START,
        ).alarm_metrics,
        sources=pick.sources,
    )
    return inputs, defaults


def _amount(value: float) -> str:
    """A count as given: 10,000, or 2.5 (a monthly average need not be whole)."""
    if value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0")


def _money(usd: float) -> str:
    """Cents for dollars, three significant digits below one: $1.67, $0.167, $0.0086."""
    sign = "-" if usd < 0 else ""
    value = abs(usd)
    if value >= 1:
        return f"{sign}${value:,.2f}"
    if value < 0.00005:
        return "$0.00"
    return f"{sign}${f'{value:.3g}'.ljust(len('0.00'), '0')}"


def _per_event(usd: float) -> str:
    """Dollars for one event (a cold start): fixed-point, three significant digits."""
    if usd <= 0:
        return "$0"
    digits = max(2, 2 - math.floor(math.log10(usd)))
    return f"${usd:.{digits}f}"


def comparison_cells(row: dict[str, Any]) -> list[str]:
    """One row of the printed comparison, cell by cell, as the README and docs/keep-warm.md
    quote it."""
    return [
        row["scenario"],
        _money(row["total_usd"]),
        _money(row["start_ups_usd"]),
        f"{row['cold_starts_per_month']:,}",
        f"{row['restores_per_month']:,}",
        row["detail"],
    ]


def _unverified(inputs: Inputs, prices: dict[str, Any]) -> list[str]:
    """The price file's warnings for what is priced: figures that could not be checked."""
    region = prices["regions"][inputs.region]
    return [
        f"{part}: {entry['unverified']}"
        for part, entry in (
            ("lambda", region["lambda"]),
            ("api_gateway", region["api_gateway"]),
            ("snapstart", region["snapstart"]),
            ("cloudwatch", prices["cloudwatch"] if inputs.monitoring != "off" else {}),
            ("region", region),
        )
        if isinstance(entry, dict) and entry.get("unverified")
    ]


def _traffic_report(inputs: Inputs) -> dict[str, Any]:
    """What the stack lets through, and how busy that keeps it."""
    return {
        "requests": inputs.requests,
        "served": round(inputs.served),
        "refused": round(inputs.refused),
        "capacity": None if math.isinf(inputs.capacity) else round(inputs.capacity),
        "busy_instances": round(inputs.coverage.busy, 4),
    }


def _warming_report(inputs: Inputs) -> dict[str, Any]:
    """What the warming covers, and the cold starts, inits and restores left over."""
    coverage = inputs.coverage
    return {
        "warmed_share_of_month": round(coverage.covered_share, 4),
        "beyond_warmed_share": round(coverage.beyond_warmed_share, 4),
        "cold_share": round(coverage.cold_share, 6),
        "recycled_share": round(coverage.recycled_share, 6),
        "cold_starts": round(inputs.served * coverage.cold_share),
        "warmer_starts": round(coverage.warmer_starts),
        "billed_inits": round(inputs.cold_starts),
        "restores": round(inputs.restores),
    }


def _inputs_report(inputs: Inputs) -> dict[str, Any]:
    """The resolved inputs, each with where it came from."""
    return {
        "region": inputs.region,
        "architecture": inputs.architecture,
        "memory_mb": inputs.memory_mb,
        "requests": inputs.requests,
        "duration_s": inputs.duration_s,
        "api": inputs.api,
        "image_gb": inputs.image_gb,
        "warm_schedules": [
            {
                "schedule": s.expression,
                "concurrency": s.concurrency,
                "timezone": s.timezone,
                "runs_per_month": s.runs_per_month,
                "hold_ms": s.hold_ms,
            }
            for s in inputs.schedules
        ],
        "warm_hold_ms": inputs.warm_hold_ms,
        "provisioned": inputs.provisioned,
        "free_tier": inputs.free_tier,
        "init_s": inputs.init_s,
        "cold_fraction": inputs.cold_fraction,
        "log_kb": inputs.log_kb,
        "snapstart": inputs.snapstart,
        "snapstart_versions": inputs.snapstart_versions,
        "throttle_rps": inputs.throttle_rps,
        "reserved": inputs.reserved,
        "monitoring": inputs.monitoring,
        "alarm_metrics": inputs.alarm_metrics,
        "sources": inputs.sources,
    }


def _report(
    inputs: Inputs, prices: dict[str, Any], defaults: tuple[Schedule, ...]
) -> dict[str, Any]:
    """Everything `--json` prints, and the tables are made from."""
    result = estimate(inputs, prices)
    region = prices["regions"][inputs.region]
    lam = region["lambda"][inputs.architecture]
    return {
        "traffic": _traffic_report(inputs),
        "warming": _warming_report(inputs),
        "init_usd_per_cold_start": round(
            inputs.init_s * inputs.memory_mb / 1024 * lam["gb_second"], 9
        ),
        "assumptions": {
            "idle_reclaim_s": traffic.ASSUMED_IDLE_S,
            "environment_lifetime_s": traffic.ASSUMED_LIFETIME_S,
            "note": "AWS documents neither how long Lambda keeps an idle instance nor how"
            " long one lives; these are assumptions, not measurements",
        },
        "inputs": _inputs_report(inputs),
        "line_items": [{"item": item, "usd": round(usd, 6)} for item, usd in result.line_items],
        "total_usd": round(result.total_usd, 6),
        "comparison": comparison(inputs, prices, defaults),
        "prices": {"checked": prices["checked"], "unverified": _unverified(inputs, prices)},
    }


def run(args: argparse.Namespace) -> int:
    try:
        inputs, defaults = resolve(args)
    except CostError as error:
        print(f"lukewarm cost: {error}", file=sys.stderr)
        return 2
    report = _report(inputs, load_prices(), defaults)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0

    from rich.console import Console

    console = Console()
    _print_summary(console, report)
    _print_tables(console, report)
    console.print(f"prices checked {report['prices']['checked']} (lukewarm/prices.json)")
    for note in report["prices"]["unverified"]:
        console.print(f"[yellow]unverified[/] {note}")
    return 0


def _print_summary(console: Any, report: dict[str, Any]) -> None:
    """The inputs and where the times come from, the traffic, the warming's coverage and
    the assumptions it rests on."""
    i = report["inputs"]
    warming = (
        ", ".join(
            f"{s['schedule']} x{s['concurrency']} ({s['runs_per_month']:,} runs)"
            for s in i["warm_schedules"]
        )
        or "none"
    )
    t, w, a = report["traffic"], report["warming"], report["assumptions"]
    cold = i["cold_fraction"]
    console.print(
        f"{_amount(i['requests'])} requests/month x {i['duration_s']:.3g} s at {i['memory_mb']} MB "
        f"{i['architecture']} in {i['region']}, {i['api'].upper()} API, "
        f"{i['image_gb']:g} GB image\n"
        f"warming: {warming}; provisioned: {i['provisioned']}; "
        f"SnapStart: {'on' if i['snapstart'] else 'off'}; "
        f"monitoring: {i['monitoring']}; free tier {'on' if i['free_tier'] else 'off'}\n"
        f"a cold start adds {i['init_s']:.3g} s ({_per_event(report['init_usd_per_cold_start'])}"
        f" each); cold fraction {'from the traffic' if cold is None else f'{cold:g}'}"
    )
    for name, key in (("request time", "duration_s"), ("cold-start time", "init_s")):
        console.print(f"{name} from: {i['sources'][key]}", soft_wrap=True)
    if t["refused"]:
        console.print(
            f"[yellow]refused[/] {t['refused']:,} requests a month: above the stack's"
            f" {t['capacity']:,} (throttleRate {i['throttle_rps']:g}/s"
            + (f", reservedConcurrency {i['reserved']}" if i["reserved"] else "")
            + "); priced: the served ones only"
        )
    console.print(f"traffic: {t['busy_instances']:.3g} instance(s) busy at once on average")
    console.print(
        f"warm windows cover {w['warmed_share_of_month']:.1%} of the month;"
        f" {w['beyond_warmed_share']:.1%} of requests arrive with every warmed instance busy"
    )
    console.print(
        f"cold starts: {w['cold_starts']:,} a month ({w['cold_share']:.2%} of requests,"
        f" {w['recycled_share']:.2%} from recycling); the warmer starts"
        f" {w['warmer_starts']:,} itself"
    )
    console.print(
        f"assumption: Lambda keeps an idle instance {a['idle_reclaim_s'] / 60:g} min and"
        f" recycles each after {a['environment_lifetime_s'] / 3600:g} h (not documented by"
        " AWS, not measured)"
    )


def _print_tables(console: Any, report: dict[str, Any]) -> None:
    """The month's line items, then the same traffic kept warm five ways."""
    from rich.table import Table

    table = Table(title="monthly cost", title_justify="left")
    table.add_column("item")
    table.add_column("USD", justify="right")
    for line in report["line_items"]:
        table.add_row(line["item"], _money(line["usd"]))
    table.add_section()
    table.add_row("[bold]total", f"[bold]{_money(report['total_usd'])}")
    console.print(table)
    compare = Table(title="the same traffic, five ways", title_justify="left")
    columns = (
        "scenario",
        "USD/month",
        "start-ups, before free tier",
        "cold starts/month",
        "restores/month",
        "detail",
    )
    for column in columns:
        compare.add_column(column, justify="left" if column in ("scenario", "detail") else "right")
    for row in report["comparison"]:
        compare.add_row(*comparison_cells(row))
    console.print(compare)
