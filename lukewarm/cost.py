"""`lukewarm cost`: the monthly AWS bill of a lukewarm deployment, line by line.

A month is 30 days. Prices come from `prices.json` beside this module (source and date
inside; figures that could not be verified are flagged there and in the output).

The model, per month:
- Lambda compute: requests x duration x memory (GB) at the on-demand GB-s price, or at the
  reduced duration price of provisioned concurrency when that is on.
- Lambda init: the init phase is billed, so requests x cold fraction x init seconds x
  memory. With a warmer or provisioned concurrency, requests are counted as never cold
  (the best case each is bought for).
- Lambda requests, API Gateway (HTTP or REST API), ECR storage of the image.
- Warm invokes: every warm run invokes the function `concurrency` times, each billed for
  the hold the deployed warmer asks for (`infra.settings.warm_input`: `hold_ms` when a
  window warms several instances, none for one), plus a request each. The warmer itself
  (128 MB arm64, as infra/warming.py deploys it): one invoke per run lasting that hold +
  150 ms. EventBridge Scheduler: one invocation per run. Runs are counted by stepping
  each schedule through 30 days from Monday 1 June 2026 00:00 UTC (no daylight-saving
  change in that month).
- Provisioned concurrency: instances x memory x the month's seconds.
- SnapStart: the snapshot cache, memory x the month's seconds for each version whose
  snapshot is cached (`--snapstart-versions`, by default the stack's `snapStartVersions`,
  which the deployed pruner keeps), and one restore of the memory for every new
  instance, that is every request that would have been cold.
  A restore replaces the billed init. Free tiers do not cover either charge.
- CloudWatch Logs: `--log-kb` per invocation of either function.
- Monitoring (`lukewarm:monitoring`, or `--monitoring`): the dashboard, $3 a month, and with
  `alarms` each alarm metric at $0.10 a month (a metric-math alarm is billed for every
  metric it reads; `infra.telemetry.alarm_plan` says which alarms the stack gets).
- Free tier (`--free-tier`, the default): the allowances that never expire, as negative
  lines: Lambda 1M requests and 400,000 GB-s (account-wide; none for a function with
  provisioned concurrency), Scheduler 14M invocations, Logs 5 GB, CloudWatch 3 dashboards
  and 10 alarm metrics (all assumed unused by anything else in the account). The 12-month
  allowances of new accounts are not applied.
"""

# infra.settings (YAML, cron) and rich load only when an estimate runs.

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lukewarm.checkout import ROOT, import_from_checkout

if TYPE_CHECKING:
    from infra.settings import WarmSchedule

MONTH_S = 30 * 24 * 3600
MONTH_START = datetime(2026, 6, 1, tzinfo=UTC)
# The warmer as infra/warming.py deploys it: a 128 MB arm64 zip that only waits on invokes.
WARMER_MEMORY_MB = 128
WARMER_ARCHITECTURE = "arm64"
WARMER_OVERHEAD_MS = 150.0
"""The warmer's own time around the hold: starting the invokes and collecting answers."""
LOG_KB_PER_INVOKE = 1.0
DEFAULT_REGION = "us-east-1"
"""Where an estimate without --region or a stack's `aws:region` is priced."""


class CostError(Exception):
    """Inputs the estimate cannot use; the message is one line for the user."""


@dataclass(frozen=True)
class Schedule:
    """A warm window reduced to what it costs: runs a month, instances per run, and how
    long the warmer asks each warm invoke to hold (`infra.settings.warm_input`)."""

    expression: str
    concurrency: int
    timezone: str
    runs_per_month: int
    hold_ms: float


@dataclass(frozen=True)
class Inputs:
    """Everything an estimate depends on, resolved from flags, stack and probe report."""

    region: str
    architecture: str
    memory_mb: int
    requests: float
    duration_s: float
    api: str
    image_gb: float
    schedules: tuple[Schedule, ...]
    warm_hold_ms: float
    provisioned: int
    free_tier: bool
    init_s: float
    cold_fraction: float
    log_kb: float = LOG_KB_PER_INVOKE
    snapstart: bool = False
    snapstart_versions: int = 1
    """Versions whose snapshot is cached (and billed) at once."""
    monitoring: str = "off"
    """`lukewarm:monitoring`: off, dashboard or alarms."""
    alarm_metrics: int = 0
    """What the stack's alarms are billed as: one alarm metric per metric each reads."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def new_instance_fraction(self) -> float:
        """Share of requests that start a new instance: none once warming of either kind
        is bought (the best case each is bought for)."""
        return 0.0 if self.provisioned or self.schedules else self.cold_fraction

    @property
    def requests_cold_fraction(self) -> float:
        """Share of requests that pay an init: SnapStart restores those instances instead."""
        return 0.0 if self.snapstart else self.new_instance_fraction

    @property
    def restores(self) -> float:
        """Restores a month: SnapStart's new instances."""
        return self.requests * self.new_instance_fraction if self.snapstart else 0.0


@dataclass(frozen=True)
class Estimate:
    """A month's line items (item, USD); free tiers are negative items."""

    line_items: list[tuple[str, float]]

    @property
    def total_usd(self) -> float:
        return sum(usd for _, usd in self.line_items)


def load_prices() -> dict[str, Any]:
    """The price file shipped with the package."""
    text = resources.files("lukewarm").joinpath("prices.json").read_text(encoding="utf-8")
    return json.loads(text)


def runs_per_month(schedule: WarmSchedule) -> int:
    """How often a schedule fires in the reference 30-day month."""
    end = MONTH_START + timedelta(seconds=MONTH_S)
    when = MONTH_START - timedelta(microseconds=1)
    runs = 0
    while (following := schedule.next_run(when)) is not None and following < end:
        runs += 1
        when = following
    return runs


def estimate(inputs: Inputs, prices: dict[str, Any]) -> Estimate:
    """The monthly line items for one configuration."""
    region = prices["regions"][inputs.region]
    lam = region["lambda"][inputs.architecture]
    free = prices["free_tier"]
    gb = inputs.memory_mb / 1024
    provisioned = inputs.provisioned > 0
    duration_price = lam["provisioned_duration_gb_second"] if provisioned else lam["gb_second"]
    per_request = lam["requests_per_million"] / 1e6
    warmer_price = region["lambda"][WARMER_ARCHITECTURE]["gb_second"]

    compute_gbs = inputs.requests * inputs.duration_s * gb
    init_gbs = inputs.requests * inputs.requests_cold_fraction * inputs.init_s * gb
    warm_invokes = sum(s.runs_per_month * s.concurrency for s in inputs.schedules)
    warm_gbs = sum(s.runs_per_month * s.concurrency * s.hold_ms for s in inputs.schedules)
    warm_gbs *= gb / 1000
    warmer_runs = sum(s.runs_per_month for s in inputs.schedules)
    warmer_gbs = sum(
        s.runs_per_month * (s.hold_ms + WARMER_OVERHEAD_MS) for s in inputs.schedules
    ) * (WARMER_MEMORY_MB / 1024 / 1000)
    holds = sorted({s.hold_ms for s in inputs.schedules}) or [0.0]
    hold = f"{holds[0]:g} ms" if len(holds) == 1 else f"{holds[0]:g}-{holds[-1]:g} ms"
    invocations = inputs.requests + warm_invokes + warmer_runs
    log_gb = invocations * inputs.log_kb / 1024**2
    api_price = region["api_gateway"][f"{inputs.api}_per_million"] / 1e6

    items: list[tuple[str, float]] = [
        ("Lambda compute", compute_gbs * duration_price),
        ("Lambda init (billed cold starts)", init_gbs * lam["gb_second"]),
        ("Lambda requests", inputs.requests * per_request),
        (f"API Gateway ({inputs.api.upper()} API)", inputs.requests * api_price),
        ("ECR image storage", inputs.image_gb * region["ecr_storage_gb_month"]),
    ]
    if provisioned:
        items.append(
            (
                f"Provisioned concurrency ({inputs.provisioned} x {inputs.memory_mb} MB)",
                inputs.provisioned * gb * MONTH_S * lam["provisioned_gb_second"],
            )
        )
    if inputs.snapstart:
        snapstart = region["snapstart"]
        versions = inputs.snapstart_versions
        items += [
            (
                f"SnapStart cache ({versions} version(s) x {inputs.memory_mb} MB)",
                versions * gb * MONTH_S * snapstart["cache_gb_second"],
            ),
            (
                f"SnapStart restores ({inputs.restores:,.0f} x {inputs.memory_mb} MB)",
                inputs.restores * gb * snapstart["restore_gb"],
            ),
        ]
    if inputs.schedules:
        items += [
            (
                f"Warm invokes ({warm_invokes:,} x {hold})",
                warm_gbs * lam["gb_second"] + warm_invokes * per_request,
            ),
            (
                f"Warmer function ({warmer_runs:,} runs)",
                warmer_gbs * warmer_price + warmer_runs * per_request,
            ),
            ("EventBridge Scheduler", warmer_runs * region["scheduler_per_million"] / 1e6),
        ]
    items.append(("CloudWatch Logs ingestion", log_gb * region["logs_ingestion_gb"]))
    items += monitoring_items(inputs, prices)

    if inputs.free_tier:
        # The free tier is account-wide; a function with provisioned concurrency gets none.
        function_gbs = warm_gbs + (0 if provisioned else compute_gbs + init_gbs)
        free_function_gbs = min(function_gbs, free["lambda_gb_seconds"])
        free_warmer_gbs = min(warmer_gbs, free["lambda_gb_seconds"] - free_function_gbs)
        eligible_requests = warm_invokes + warmer_runs + (0 if provisioned else inputs.requests)
        lambda_free = (
            free_function_gbs * lam["gb_second"]
            + free_warmer_gbs * warmer_price
            + min(eligible_requests, free["lambda_requests"]) * per_request
        )
        items += [
            ("Free tier: Lambda", -lambda_free),
            (
                "Free tier: EventBridge Scheduler",
                -min(warmer_runs, free["scheduler_invocations"])
                * region["scheduler_per_million"]
                / 1e6,
            ),
            (
                "Free tier: CloudWatch Logs",
                -min(log_gb, free["logs_ingested_gb"]) * region["logs_ingestion_gb"],
            ),
        ]
        if inputs.monitoring != "off":
            cloudwatch = prices["cloudwatch"]
            items.append(
                (
                    "Free tier: CloudWatch dashboard and alarms",
                    -min(1, free["cloudwatch_dashboards"]) * cloudwatch["dashboard_month"]
                    - min(inputs.alarm_metrics, free["cloudwatch_alarm_metrics"])
                    * cloudwatch["alarm_metric_month"],
                )
            )
    return Estimate([(item, usd) for item, usd in items if usd != 0 or not item.startswith("Free")])


def monitoring_items(inputs: Inputs, prices: dict[str, Any]) -> list[tuple[str, float]]:
    """The dashboard and the alarms `lukewarm:monitoring` deploys, a month."""
    if inputs.monitoring == "off":
        return []
    cloudwatch = prices["cloudwatch"]
    items = [("CloudWatch dashboard", cloudwatch["dashboard_month"])]
    if inputs.alarm_metrics:
        items.append(
            (
                f"CloudWatch alarms ({inputs.alarm_metrics} alarm metrics)",
                inputs.alarm_metrics * cloudwatch["alarm_metric_month"],
            )
        )
    return items


def comparison(
    inputs: Inputs, prices: dict[str, Any], default_schedules: tuple[Schedule, ...]
) -> list[dict[str, Any]]:
    """The same traffic kept warm five ways: not at all, the warmer, SnapStart, both, and
    provisioned concurrency (which SnapStart excludes)."""
    warm = inputs.schedules or default_schedules
    off = replace(inputs, schedules=(), provisioned=0, snapstart=False)
    scenarios = [
        ("no warming", off),
        ("warmer", replace(off, schedules=warm)),
        ("SnapStart", replace(off, snapstart=True)),
        ("SnapStart + warmer", replace(off, schedules=warm, snapstart=True)),
        ("provisioned concurrency", replace(off, provisioned=inputs.provisioned or 1)),
    ]
    rows = []
    for name, scenario in scenarios:
        details = []
        if scenario.schedules:
            details.append(
                f"{max(s.concurrency for s in scenario.schedules)} instance(s) warmed, "
                f"{sum(s.runs_per_month for s in scenario.schedules):,} runs"
            )
        if scenario.snapstart:
            details.append(f"{scenario.snapstart_versions} cached version(s)")
        if scenario.provisioned:
            details.append(f"{scenario.provisioned} instance(s) always on")
        rows.append(
            {
                "scenario": name,
                "total_usd": round(estimate(scenario, prices).total_usd, 6),
                "cold_starts_per_month": round(inputs.requests * scenario.requests_cold_fraction),
                "restores_per_month": round(scenario.restores),
                "detail": "; ".join(details) or f"cold fraction {inputs.cold_fraction:g}",
            }
        )
    return rows


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
    try:
        settings = import_from_checkout("infra.settings")
    except ImportError:
        raise CostError(f"no infra/settings.py in {ROOT}: run from a lukewarm checkout") from None
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
                settings_module.warm_input(w.concurrency, int(hold))["hold_ms"],
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
        alarm_metrics=import_from_checkout("infra.telemetry")
        .alarm_plan(
            monitoring=monitoring,
            warm_schedules=windows,
            provisioned_concurrency=int(provisioned),
            start=MONTH_START,
        )
        .alarm_metrics,
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
