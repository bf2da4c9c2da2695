"""`lukewarm cost`: the monthly AWS bill of a lukewarm deployment, line by line.

A month is 30 days. Prices come from `prices.json` beside this module (source and date
inside; figures that could not be verified are flagged there and in the output).

The model, per month:
- Traffic: requests above what the stack lets through (the API stage's `throttleRate`
  a second, and `reservedConcurrency` instances at once when set) are refused, not priced.
  The served ones arrive steadily, at random (lukewarm/traffic.py), so how many instances
  are busy at once follows from requests x duration.
- Times: a request's duration and what a cold start adds come from the last `make bench`
  of the stack's runtime and model (bench/results/coldstart.json, lukewarm/measured.py),
  at the stack's memory, unless a flag or a probe report says otherwise.
- Lambda compute: requests x duration x memory (GB) at the on-demand GB-s price. With
  provisioned concurrency, the share its instances serve (busy instances up to N) at the
  reduced duration price, and the rest, which spills over to on-demand instances, at the
  on-demand price.
- Lambda init: the init phase is billed, so each cold start costs init seconds x memory.
  Cold starts come from what warming really covers (lukewarm/traffic.py): the share of
  the month inside warm windows, the requests beyond the warmed instances, and Lambda
  recycling instances every few hours; the instances the warmer itself starts pay an init
  too. Two figures AWS does not document are assumptions, printed as such.
- Lambda requests, API Gateway (HTTP or REST API), ECR storage of the image.
- Warm invokes: every warm run invokes the function `concurrency` times, each billed for
  the hold the deployed warmer asks for (`infra.settings.warm_input`: `hold_ms` when a
  window warms several instances, none for one), plus a request each. The warmer itself
  (128 MB arm64, as infra/warming.py deploys it): one invoke per run lasting that hold +
  150 ms. EventBridge Scheduler: one invocation per run. Runs are counted by stepping
  each schedule through 30 days from Monday 1 June 2026 00:00 UTC (no daylight-saving
  change in that month).
- Provisioned concurrency: instances x memory x the month's seconds.
- SnapStart: the snapshot cache, for each version whose snapshot is cached
  (`--snapstart-versions`, by default the stack's `snapStartVersions`, which the deployed
  pruner keeps) for the whole month, and one restore for every new instance, in place of
  its init. AWS's Price List weighs both "by memory and disk": both are priced on the
  memory plus the 512 MB of ephemeral storage every lukewarm function has (whether "disk"
  means the storage configured or the part written, AWS does not say; this is the
  larger). Free tiers do not cover either charge.
- CloudWatch Logs: `--log-kb` per invocation of either function.
- Free tier (`--free-tier`, the default): the allowances that never expire, as negative
  lines: Lambda 1M requests and 400,000 GB-s (account-wide; none for a function with
  provisioned concurrency), Scheduler 14M invocations, Logs 5 GB. The 12-month
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
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lukewarm import measured, traffic
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
EPHEMERAL_STORAGE_MB = 512
"""The function's /tmp: Lambda's default, which lukewarm never changes (SnapStart allows no
more). SnapStart's charges count it with the memory."""
DEFAULT_DURATION_S = 1.0
DEFAULT_INIT_S = 0.0
"""Only when no benchmark measured the stack's runtime and model, and no flag says."""
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
    run_offsets_s: tuple[float, ...] = field(default=(), compare=False, repr=False)
    """When each run fires, seconds from the reference month's start."""

    @property
    def window(self) -> traffic.Window:
        return traffic.Window(self.run_offsets_s, self.concurrency)


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
    cold_fraction: float | None
    """Share of the instances a request needs that are cold, as measured (`lukewarm probe`);
    None: from the traffic and the assumed idle reclaim (lukewarm/traffic.py)."""
    log_kb: float = LOG_KB_PER_INVOKE
    snapstart: bool = False
    snapstart_versions: int = 1
    """Versions whose snapshot is cached (and billed) at once."""
    throttle_rps: float | None = None
    """The API stage's steady rate: requests beyond it a month are refused."""
    reserved: int = 0
    """Instances reserved (0: none): the most that run at once."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def capacity(self) -> float:
        """The most requests a month the stack lets through."""
        limits = [math.inf]
        if self.throttle_rps is not None:
            limits.append(self.throttle_rps * MONTH_S)
        if self.reserved and self.duration_s > 0:
            limits.append(self.reserved * MONTH_S / self.duration_s)
        return min(limits)

    @property
    def served(self) -> float:
        return min(self.requests, self.capacity)

    @property
    def refused(self) -> float:
        return self.requests - self.served

    @property
    def snapshot_gb(self) -> float:
        """What SnapStart charges weigh: memory and disk (the 512 MB of ephemeral storage)."""
        return (self.memory_mb + EPHEMERAL_STORAGE_MB) / 1024

    @cached_property
    def coverage(self) -> traffic.Coverage:
        """How many served requests meet a cold start, with this warming."""
        return traffic.coverage(
            [s.window for s in self.schedules],
            requests=self.served,
            duration_s=self.duration_s,
            month_s=MONTH_S,
            cold_fraction=self.cold_fraction,
            always_warm=self.provisioned,
        )

    @property
    def new_instances(self) -> float:
        """Instances started a month: for users' requests, and by the warmer."""
        coverage = self.coverage
        return self.served * coverage.cold_share + coverage.warmer_starts

    @property
    def cold_starts(self) -> float:
        """New instances that run the init: none under SnapStart, which restores them."""
        return 0.0 if self.snapstart else self.new_instances

    @property
    def restores(self) -> float:
        """Restores a month: SnapStart's new instances."""
        return self.new_instances if self.snapstart else 0.0

    @property
    def provisioned_share(self) -> float:
        """Share of the compute that the provisioned instances serve; the rest spills over."""
        busy = self.coverage.busy
        if not self.provisioned or busy <= 0:
            return 0.0
        return traffic.expected_min(self.provisioned, busy) / busy


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


def run_offsets(schedule: WarmSchedule) -> tuple[float, ...]:
    """When a schedule fires in the reference 30-day month, seconds from its start."""
    end = MONTH_START + timedelta(seconds=MONTH_S)
    when = MONTH_START - timedelta(microseconds=1)
    offsets = []
    while (following := schedule.next_run(when)) is not None and following < end:
        offsets.append((following - MONTH_START).total_seconds())
        when = following
    return tuple(offsets)


def runs_per_month(schedule: WarmSchedule) -> int:
    """How often a schedule fires in the reference 30-day month."""
    return len(run_offsets(schedule))


def estimate(inputs: Inputs, prices: dict[str, Any]) -> Estimate:
    """The monthly line items for one configuration."""
    region = prices["regions"][inputs.region]
    lam = region["lambda"][inputs.architecture]
    free = prices["free_tier"]
    gb = inputs.memory_mb / 1024
    provisioned = inputs.provisioned > 0
    per_request = lam["requests_per_million"] / 1e6
    warmer_price = region["lambda"][WARMER_ARCHITECTURE]["gb_second"]

    served = inputs.served
    compute_gbs = served * inputs.duration_s * gb
    on_provisioned_gbs = compute_gbs * inputs.provisioned_share
    init_gbs = inputs.cold_starts * inputs.init_s * gb
    warm_invokes = sum(s.runs_per_month * s.concurrency for s in inputs.schedules)
    warm_gbs = sum(s.runs_per_month * s.concurrency * s.hold_ms for s in inputs.schedules)
    warm_gbs *= gb / 1000
    warmer_runs = sum(s.runs_per_month for s in inputs.schedules)
    warmer_gbs = sum(
        s.runs_per_month * (s.hold_ms + WARMER_OVERHEAD_MS) for s in inputs.schedules
    ) * (WARMER_MEMORY_MB / 1024 / 1000)
    holds = sorted({s.hold_ms for s in inputs.schedules}) or [0.0]
    hold = f"{holds[0]:g} ms" if len(holds) == 1 else f"{holds[0]:g}-{holds[-1]:g} ms"
    invocations = served + warm_invokes + warmer_runs
    log_gb = invocations * inputs.log_kb / 1024**2
    api_price = region["api_gateway"][f"{inputs.api}_per_million"] / 1e6

    items: list[tuple[str, float]] = [
        ("Lambda compute", (compute_gbs - on_provisioned_gbs) * lam["gb_second"]),
        ("Lambda init (billed cold starts)", init_gbs * lam["gb_second"]),
        ("Lambda requests", served * per_request),
        (f"API Gateway ({inputs.api.upper()} API)", served * api_price),
        ("ECR image storage", inputs.image_gb * region["ecr_storage_gb_month"]),
    ]
    if provisioned:
        items += [
            (
                f"Lambda compute on provisioned instances ({inputs.provisioned_share:.0%})",
                on_provisioned_gbs * lam["provisioned_duration_gb_second"],
            ),
            (
                f"Provisioned concurrency ({inputs.provisioned} x {inputs.memory_mb} MB)",
                inputs.provisioned * gb * MONTH_S * lam["provisioned_gb_second"],
            ),
        ]
    if inputs.snapstart:
        snapstart = region["snapstart"]
        versions = inputs.snapstart_versions
        snapshot_mb = inputs.memory_mb + EPHEMERAL_STORAGE_MB
        items += [
            (
                f"SnapStart cache ({versions} version(s) x {snapshot_mb} MB, memory + /tmp)",
                versions * inputs.snapshot_gb * MONTH_S * snapstart["cache_gb_second"],
            ),
            (
                f"SnapStart restores ({inputs.restores:,.0f} x {snapshot_mb} MB)",
                inputs.restores * inputs.snapshot_gb * snapstart["restore_gb"],
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

    if inputs.free_tier:
        # The free tier is account-wide; a function with provisioned concurrency gets none.
        function_gbs = warm_gbs + (0 if provisioned else compute_gbs + init_gbs)
        free_function_gbs = min(function_gbs, free["lambda_gb_seconds"])
        free_warmer_gbs = min(warmer_gbs, free["lambda_gb_seconds"] - free_function_gbs)
        eligible_requests = warm_invokes + warmer_runs + (0 if provisioned else served)
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
    return Estimate([(item, usd) for item, usd in items if usd != 0 or not item.startswith("Free")])


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
                f"{max(s.concurrency for s in scenario.schedules)} warmed, "
                f"{sum(s.runs_per_month for s in scenario.schedules):,} runs"
            )
        if scenario.snapstart:
            details.append(f"{scenario.snapstart_versions} version(s) cached")
        if scenario.provisioned:
            details.append(f"{scenario.provisioned} always on")
        coverage = scenario.coverage
        bill = estimate(scenario, prices)
        rows.append(
            {
                "scenario": name,
                "total_usd": round(bill.total_usd, 6),
                # What new instances cost: billed inits, or SnapStart's restores.
                "start_ups_usd": round(
                    sum(
                        usd
                        for item, usd in bill.line_items
                        if item.startswith(("Lambda init", "SnapStart restores"))
                    ),
                    6,
                ),
                # What users wait for: the warmer's own starts are billed, never waited on.
                "cold_starts_per_month": 0
                if scenario.snapstart
                else round(scenario.served * coverage.cold_share),
                "restores_per_month": round(scenario.restores),
                "warmed_share_of_month": round(coverage.covered_share, 4),
                "detail": "; ".join(details) or "nothing kept warm",
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
        help="seconds per request (default: the probe report's, else the last make bench's)",
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
        "--free-tier",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="subtract the always-free allowances (default on)",
    )
    parser.add_argument(
        "--init-seconds",
        type=_number(0),
        metavar="S",
        help="billed time a cold start adds, s (default: the last make bench's, at --memory)",
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


def _bench_times(stack: Any, memory_mb: int) -> tuple[float, float, str]:
    """A request's seconds, a cold start's added seconds, and where both come from: the
    last `make bench` of the stack's runtime and model at its memory, else constants."""
    bench = measured.for_stack(stack.runtime, stack.model_dir, memory_mb)
    if bench is not None:
        return bench.duration_s, bench.init_s, bench.source
    return (
        DEFAULT_DURATION_S,
        DEFAULT_INIT_S,
        f"default: no make bench figures of the {stack.runtime} runtime for model"
        f" {stack.model_dir} (run make bench, or pass --duration and --init-seconds)",
    )


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
    memory = pick("memory_mb", args.memory, stack.memory_size, origin)
    bench_duration, bench_init, from_bench = _bench_times(stack, int(memory))
    duration = pick(
        "duration_s",
        args.duration,
        probe.get("duration_s", bench_duration),
        from_probe if probe else from_bench,
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
    stack_region = (
        _stack_region(args.stack, sorted(load_prices()["regions"])) if args.stack else None
    )
    region = pick(
        "region", args.region, stack_region or DEFAULT_REGION, origin if stack_region else "default"
    )
    architecture = pick("architecture", args.arch, stack.architecture, origin)
    hold = pick("warm_hold_ms", args.warm_hold_ms, stack.warm_hold_ms, origin)
    provisioned = pick("provisioned", args.provisioned, stack.provisioned_concurrency, origin)
    snapstart = pick("snapstart", args.snapstart, stack.snap_start, origin)
    versions = pick(
        "snapstart_versions", args.snapstart_versions, stack.snap_start_versions, origin
    )
    throttle = pick("throttle_rps", args.throttle_rate, stack.throttle_rate, origin)
    reserved = pick("reserved", None, stack.reserved_concurrency, origin)
    if snapstart and provisioned:
        raise CostError("SnapStart cannot be used with provisioned concurrency (AWS refuses both)")

    def reduce(windows: Sequence[Any]) -> tuple[Schedule, ...]:
        # The hold the deployed warmer really asks for, by the program's own rule.
        schedules = []
        for w in windows:
            offsets = run_offsets(w)
            schedules.append(
                Schedule(
                    w.schedule,
                    w.concurrency,
                    w.timezone,
                    len(offsets),
                    settings_module.warm_input(w.concurrency, int(hold))["hold_ms"],
                    offsets,
                )
            )
        return tuple(schedules)

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
        cold_fraction=None if cold_fraction is None else float(cold_fraction),
        log_kb=args.log_kb,
        snapstart=bool(snapstart),
        snapstart_versions=int(versions),
        throttle_rps=float(throttle),
        reserved=int(reserved or 0),
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


def _per_event(usd: float) -> str:
    """Dollars for one event (a cold start): fixed-point, three significant digits."""
    if usd <= 0:
        return "$0"
    digits = max(2, 2 - math.floor(math.log10(usd)))
    return f"${usd:.{digits}f}"


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
            ("region", region),
        )
        if isinstance(entry, dict) and entry.get("unverified")
    ]
    coverage = inputs.coverage
    lam = region["lambda"][inputs.architecture]
    return {
        "traffic": {
            "requests": inputs.requests,
            "served": round(inputs.served),
            "refused": round(inputs.refused),
            "capacity": None if math.isinf(inputs.capacity) else round(inputs.capacity),
            "busy_instances": round(coverage.busy, 4),
        },
        "warming": {
            "warmed_share_of_month": round(coverage.covered_share, 4),
            "beyond_warmed_share": round(coverage.beyond_warmed_share, 4),
            "cold_share": round(coverage.cold_share, 6),
            "recycled_share": round(coverage.recycled_share, 6),
            "cold_starts": round(inputs.served * coverage.cold_share),
            "warmer_starts": round(coverage.warmer_starts),
            "billed_inits": round(inputs.cold_starts),
            "restores": round(inputs.restores),
        },
        "init_usd_per_cold_start": round(
            inputs.init_s * inputs.memory_mb / 1024 * lam["gb_second"], 9
        ),
        "assumptions": {
            "idle_reclaim_s": traffic.ASSUMED_IDLE_S,
            "environment_lifetime_s": traffic.ASSUMED_LIFETIME_S,
            "note": "AWS documents neither how long Lambda keeps an idle instance nor how"
            " long one lives; these are assumptions, not measurements",
        },
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
            "throttle_rps": inputs.throttle_rps,
            "reserved": inputs.reserved,
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
    t, w, a = report["traffic"], report["warming"], report["assumptions"]
    cold = i["cold_fraction"]
    console.print(
        f"{i['requests']:,.0f} requests/month x {i['duration_s']:.3g} s at {i['memory_mb']} MB "
        f"{i['architecture']} in {i['region']}, {i['api'].upper()} API, "
        f"{i['image_gb']:g} GB image\n"
        f"warming: {warming}; provisioned: {i['provisioned']}; "
        f"SnapStart: {'on' if i['snapstart'] else 'off'}; "
        f"free tier {'on' if i['free_tier'] else 'off'}\n"
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
        compare.add_row(
            row["scenario"],
            _money(row["total_usd"]),
            _money(row["start_ups_usd"]),
            f"{row['cold_starts_per_month']:,}",
            f"{row['restores_per_month']:,}",
            row["detail"],
        )
    console.print(compare)
    console.print(f"prices checked {report['prices']['checked']} (lukewarm/prices.json)")
    for note in report["prices"]["unverified"]:
        console.print(f"[yellow]unverified[/] {note}")
    return 0
