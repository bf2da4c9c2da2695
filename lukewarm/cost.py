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
from typing import Any

from contract import warmer_input
from infra.telemetry import alarm_plan
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
    runs_per_month,
)


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
        help="seconds per request (default 1, or the probe report's)",
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
        help="billed init per cold start, s (default 0)",
    )
    parser.add_argument(
        "--cold-fraction",
        type=_number(0, high=1),
        metavar="F",
        help="share of requests that are cold without warming (default 1)",
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


def _probe_inputs(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        values = report["cost_inputs"]
    except FileNotFoundError:
        raise CostError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise CostError(f"{path}: not a probe report (report.json from `lukewarm probe`)") from None
    if not isinstance(values, dict) or values.get("duration_s") is None:
        raise CostError(f"{path}: the probe report has no answered non-cold request to time")
    return values


def resolve(args: argparse.Namespace) -> tuple[Inputs, tuple[Schedule, ...]]:
    """Inputs from flags over probe report over stack over defaults, with their sources."""
    settings_module, stack = _settings(args.stack)
    origin = f"stack {args.stack}" if args.stack else "Pulumi.yaml default"
    sources: dict[str, str] = {}

    def pick(name: str, flag: Any, fallback: Any, fallback_source: str) -> Any:
        if flag is not None:
            sources[name] = "flag"
            return flag
        sources[name] = fallback_source
        return fallback

    probe = _probe_inputs(args.probe_report) if args.probe_report else {}
    from_probe = f"probe report {args.probe_report}"
    requests = pick("requests", args.requests, 10_000, "default")
    duration = pick(
        "duration_s",
        args.duration,
        probe.get("duration_s", 1.0),
        from_probe if probe else "default",
    )
    init_s = pick(
        "init_s",
        args.init_seconds,
        probe.get("init_s") or 0.0,
        from_probe if probe.get("init_s") is not None else "default",
    )
    cold_fraction = pick(
        "cold_fraction",
        args.cold_fraction,
        probe["cold_fraction"] if probe.get("cold_fraction") is not None else 1.0,
        from_probe if probe.get("cold_fraction") is not None else "default",
    )
    stack_region = (
        _stack_region(args.stack, sorted(load_prices()["regions"])) if args.stack else None
    )
    region = pick(
        "region", args.region, stack_region or DEFAULT_REGION, origin if stack_region else "default"
    )
    memory = pick("memory_mb", args.memory, stack.memory_size, origin)
    architecture = pick("architecture", args.arch, stack.architecture, origin)
    hold = pick("warm_hold_ms", args.warm_hold_ms, stack.warm_hold_ms, origin)
    provisioned = pick("provisioned", args.provisioned, stack.provisioned_concurrency, origin)
    snapstart = pick("snapstart", args.snapstart, stack.snap_start, origin)
    versions = pick(
        "snapstart_versions", args.snapstart_versions, stack.snap_start_versions, origin
    )
    if snapstart and provisioned:
        raise CostError("SnapStart cannot be used with provisioned concurrency (AWS refuses both)")
    monitoring = pick("monitoring", args.monitoring, stack.monitoring, origin)

    def reduce(windows: Sequence[Any]) -> tuple[Schedule, ...]:
        # The hold the deployed warmer really asks for, by the program's own rule.
        return tuple(
            Schedule(
                w.schedule,
                w.concurrency,
                w.timezone,
                runs_per_month(w),
                warmer_input(w.concurrency, int(hold))["hold_ms"],
            )
            for w in windows
        )

    defaults = reduce(settings_module.load_settings().warm_schedules)
    if args.no_warming and args.warm_schedule:
        raise CostError("--no-warming and --warm-schedule contradict each other")
    if args.no_warming:
        windows: Sequence[Any] = ()
        sources["warm_schedules"] = "flag"
    elif args.warm_schedule:
        windows = []
        for expression in args.warm_schedule:
            try:
                windows.append(
                    settings_module.WarmSchedule(
                        expression, args.warm_concurrency or 1, args.warm_timezone
                    )
                )
            except ValueError as error:
                raise CostError(f"--warm-schedule {expression!r}: {error}") from None
        sources["warm_schedules"] = "flag"
    else:
        windows = stack.warm_schedules
        if args.warm_concurrency is not None:
            windows = [replace(w, concurrency=args.warm_concurrency) for w in windows]
        sources["warm_schedules"] = origin
    inputs = Inputs(
        region=region,
        architecture=architecture,
        memory_mb=int(memory),
        requests=float(requests),
        duration_s=float(duration),
        api=args.api,
        image_gb=args.image_gb,
        schedules=reduce(windows),
        warm_hold_ms=float(hold),
        provisioned=int(provisioned),
        free_tier=args.free_tier,
        init_s=float(init_s),
        cold_fraction=float(cold_fraction),
        log_kb=args.log_kb,
        snapstart=bool(snapstart),
        snapstart_versions=int(versions),
        monitoring=monitoring,
        alarm_metrics=alarm_plan(
            monitoring=monitoring,
            warm_schedules=windows,
            provisioned_concurrency=int(provisioned),
            start=MONTH_START,
        ).alarm_metrics,
        sources=sources,
    )
    return inputs, defaults


def _money(usd: float) -> str:
    """Cents for dollars, three significant digits below one: $1.67, $0.167, $0.0086."""
    sign = "-" if usd < 0 else ""
    value = abs(usd)
    if value >= 1:
        return f"{sign}${value:,.2f}"
    if value < 0.00005:
        return "$0.00"
    return f"{sign}${f'{value:.3g}'.ljust(len('0.00'), '0')}"


def _report(
    inputs: Inputs, prices: dict[str, Any], defaults: tuple[Schedule, ...]
) -> dict[str, Any]:
    result = estimate(inputs, prices)
    region = prices["regions"][inputs.region]
    unverified = [
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
    return {
        "inputs": {
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
            "monitoring": inputs.monitoring,
            "alarm_metrics": inputs.alarm_metrics,
            "sources": inputs.sources,
        },
        "line_items": [{"item": item, "usd": round(usd, 6)} for item, usd in result.line_items],
        "total_usd": round(result.total_usd, 6),
        "comparison": comparison(inputs, prices, defaults),
        "prices": {"checked": prices["checked"], "unverified": unverified},
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
    from rich.table import Table

    console = Console()
    i = report["inputs"]
    warming = (
        ", ".join(
            f"{s['schedule']} x{s['concurrency']} ({s['runs_per_month']:,} runs)"
            for s in i["warm_schedules"]
        )
        or "none"
    )
    console.print(
        f"{i['requests']:,.0f} requests/month x {i['duration_s']:g} s at {i['memory_mb']} MB "
        f"{i['architecture']} in {i['region']}, {i['api'].upper()} API, "
        f"{i['image_gb']:g} GB image\n"
        f"warming: {warming}; provisioned: {i['provisioned']}; "
        f"SnapStart: {'on' if i['snapstart'] else 'off'}; "
        f"init {i['init_s']:g} s x cold fraction {i['cold_fraction']:g}; "
        f"monitoring: {i['monitoring']}; free tier {'on' if i['free_tier'] else 'off'}"
    )
    table = Table(title="monthly cost", title_justify="left")
    table.add_column("item")
    table.add_column("USD", justify="right")
    for line in report["line_items"]:
        table.add_row(line["item"], _money(line["usd"]))
    table.add_section()
    table.add_row("[bold]total", f"[bold]{_money(report['total_usd'])}")
    console.print(table)
    compare = Table(title="the same traffic, five ways", title_justify="left")
    for column in ("scenario", "USD/month", "cold starts/month", "restores/month", "detail"):
        compare.add_column(column, justify="left" if column in ("scenario", "detail") else "right")
    for row in report["comparison"]:
        compare.add_row(
            row["scenario"],
            _money(row["total_usd"]),
            f"{row['cold_starts_per_month']:,}",
            f"{row['restores_per_month']:,}",
            row["detail"],
        )
    console.print(compare)
    console.print(f"prices checked {report['prices']['checked']} (lukewarm/prices.json)")
    for note in report["prices"]["unverified"]:
        console.print(f"[yellow]unverified[/] {note}")
    return 0
