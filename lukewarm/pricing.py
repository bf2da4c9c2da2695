"""The pricing model of `lukewarm cost`: a lukewarm deployment's monthly AWS bill, line by line.

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
  the hold the deployed warmer asks for (`contract.warmer_input`: `hold_ms` when a
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
- Monitoring (`lukewarm:monitoring`, or `--monitoring`): the dashboard, $3 a month, and with
  `alarms` each alarm metric at $0.10 a month (a metric-math alarm is billed for every
  metric it reads; `infra.telemetry.alarm_plan` says which alarms the stack gets).
- Free tier (`--free-tier`, the default): the allowances that never expire, as negative
  lines: Lambda 1M requests and 400,000 GB-s (account-wide; none for a function with
  provisioned concurrency), Scheduler 14M invocations, Logs 5 GB, CloudWatch 3 dashboards
  and 10 alarm metrics (all assumed unused by anything else in the account). The 12-month
  allowances of new accounts are not applied.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any

from contract import HELPER_ARCHITECTURE, WARMER_MEMORY_MB
from lukewarm import traffic

if TYPE_CHECKING:
    from infra.schedules import WarmSchedule

MONTH_S = 30 * 24 * 3600
MONTH_START = datetime(2026, 6, 1, tzinfo=UTC)
WARMER_OVERHEAD_MS = 150.0
"""The warmer's own time around the hold: starting the invokes and collecting answers."""
LOG_KB_PER_INVOKE = 1.0
EPHEMERAL_STORAGE_MB = 512
"""The function's /tmp: Lambda's default, which lukewarm never changes (SnapStart allows no
more). SnapStart's charges count it with the memory."""
DEFAULT_REGION = "us-east-1"
"""Where an estimate without --region or a stack's `aws:region` is priced."""


@dataclass(frozen=True)
class Schedule:
    """A warm window reduced to what it costs: runs a month, instances per run, and how
    long the warmer asks each warm invoke to hold (`contract.warmer_input`)."""

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
    monitoring: str = "off"
    """`lukewarm:monitoring`: off, dashboard or alarms."""
    alarm_metrics: int = 0
    """What the stack's alarms are billed as: one alarm metric per metric each reads."""
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


@dataclass(frozen=True)
class Usage:
    """What one configuration uses in a month, before any price is applied."""

    served: float
    compute_gbs: float
    """The served requests' GB-seconds, on whichever instances they run."""
    on_provisioned_gbs: float
    """The part of `compute_gbs` the provisioned instances serve."""
    init_gbs: float
    warm_invokes: int
    warm_gbs: float
    warmer_runs: int
    warmer_gbs: float
    log_gb: float


def usage(inputs: Inputs) -> Usage:
    """The month's requests, GB-seconds and log volume of the function and the warmer."""
    gb = inputs.memory_mb / 1024
    schedules = inputs.schedules
    compute_gbs = inputs.served * inputs.duration_s * gb
    warm_invokes = sum(s.runs_per_month * s.concurrency for s in schedules)
    warmer_runs = sum(s.runs_per_month for s in schedules)
    return Usage(
        served=inputs.served,
        compute_gbs=compute_gbs,
        on_provisioned_gbs=compute_gbs * inputs.provisioned_share,
        init_gbs=inputs.cold_starts * inputs.init_s * gb,
        warm_invokes=warm_invokes,
        warm_gbs=sum(s.runs_per_month * s.concurrency * s.hold_ms for s in schedules) * gb / 1000,
        warmer_runs=warmer_runs,
        warmer_gbs=sum(s.runs_per_month * (s.hold_ms + WARMER_OVERHEAD_MS) for s in schedules)
        * (WARMER_MEMORY_MB / 1024 / 1000),
        log_gb=(inputs.served + warm_invokes + warmer_runs) * inputs.log_kb / 1024**2,
    )


Items = list[tuple[str, float]]


def _function_items(inputs: Inputs, use: Usage, region: dict[str, Any]) -> Items:
    """What every deployment pays: on-demand compute, inits, requests, API, image."""
    lam = region["lambda"][inputs.architecture]
    api_price = region["api_gateway"][f"{inputs.api}_per_million"] / 1e6
    return [
        ("Lambda compute", (use.compute_gbs - use.on_provisioned_gbs) * lam["gb_second"]),
        ("Lambda init (billed cold starts)", use.init_gbs * lam["gb_second"]),
        ("Lambda requests", use.served * lam["requests_per_million"] / 1e6),
        (f"API Gateway ({inputs.api.upper()} API)", use.served * api_price),
        ("ECR image storage", inputs.image_gb * region["ecr_storage_gb_month"]),
    ]


def _provisioned_items(inputs: Inputs, use: Usage, region: dict[str, Any]) -> Items:
    """The provisioned instances: kept all month, and the compute they serve."""
    if not inputs.provisioned:
        return []
    lam = region["lambda"][inputs.architecture]
    return [
        (
            f"Lambda compute on provisioned instances ({inputs.provisioned_share:.0%})",
            use.on_provisioned_gbs * lam["provisioned_duration_gb_second"],
        ),
        (
            f"Provisioned concurrency ({inputs.provisioned} x {inputs.memory_mb} MB)",
            inputs.provisioned * inputs.memory_mb / 1024 * MONTH_S * lam["provisioned_gb_second"],
        ),
    ]


def _snapstart_items(inputs: Inputs, region: dict[str, Any]) -> Items:
    """SnapStart's cached snapshots and its restores, both weighed by memory + /tmp."""
    if not inputs.snapstart:
        return []
    snapstart = region["snapstart"]
    versions = inputs.snapstart_versions
    snapshot_mb = inputs.memory_mb + EPHEMERAL_STORAGE_MB
    return [
        (
            f"SnapStart cache ({versions} version(s) x {snapshot_mb} MB, memory + /tmp)",
            versions * inputs.snapshot_gb * MONTH_S * snapstart["cache_gb_second"],
        ),
        (
            f"SnapStart restores ({inputs.restores:,.0f} x {snapshot_mb} MB)",
            inputs.restores * inputs.snapshot_gb * snapstart["restore_gb"],
        ),
    ]


def _warming_items(inputs: Inputs, use: Usage, region: dict[str, Any]) -> Items:
    """The warm-ups the function answers, the warmer's own runs, and their schedules."""
    if not inputs.schedules:
        return []
    lam = region["lambda"][inputs.architecture]
    per_request = lam["requests_per_million"] / 1e6
    warmer_price = region["lambda"][HELPER_ARCHITECTURE]["gb_second"]
    holds = sorted({s.hold_ms for s in inputs.schedules})
    hold = f"{holds[0]:g} ms" if len(holds) == 1 else f"{holds[0]:g}-{holds[-1]:g} ms"
    return [
        (
            f"Warm invokes ({use.warm_invokes:,} x {hold})",
            use.warm_gbs * lam["gb_second"] + use.warm_invokes * per_request,
        ),
        (
            f"Warmer function ({use.warmer_runs:,} runs)",
            use.warmer_gbs * warmer_price + use.warmer_runs * per_request,
        ),
        ("EventBridge Scheduler", use.warmer_runs * region["scheduler_per_million"] / 1e6),
    ]


def _free_tier_items(
    inputs: Inputs, use: Usage, region: dict[str, Any], free: dict[str, Any]
) -> Items:
    """The allowances that never expire, as negative items."""
    if not inputs.free_tier:
        return []
    lam = region["lambda"][inputs.architecture]
    per_request = lam["requests_per_million"] / 1e6
    warmer_price = region["lambda"][HELPER_ARCHITECTURE]["gb_second"]
    # The free tier is account-wide; a function with provisioned concurrency gets none.
    provisioned = inputs.provisioned > 0
    function_gbs = use.warm_gbs + (0 if provisioned else use.compute_gbs + use.init_gbs)
    free_function_gbs = min(function_gbs, free["lambda_gb_seconds"])
    free_warmer_gbs = min(use.warmer_gbs, free["lambda_gb_seconds"] - free_function_gbs)
    eligible_requests = use.warm_invokes + use.warmer_runs + (0 if provisioned else use.served)
    lambda_free = (
        free_function_gbs * lam["gb_second"]
        + free_warmer_gbs * warmer_price
        + min(eligible_requests, free["lambda_requests"]) * per_request
    )
    return [
        ("Free tier: Lambda", -lambda_free),
        (
            "Free tier: EventBridge Scheduler",
            -min(use.warmer_runs, free["scheduler_invocations"])
            * region["scheduler_per_million"]
            / 1e6,
        ),
        (
            "Free tier: CloudWatch Logs",
            -min(use.log_gb, free["logs_ingested_gb"]) * region["logs_ingestion_gb"],
        ),
    ]


def estimate(inputs: Inputs, prices: dict[str, Any]) -> Estimate:
    """The monthly line items for one configuration."""
    region = prices["regions"][inputs.region]
    use = usage(inputs)
    items = [
        *_function_items(inputs, use, region),
        *_provisioned_items(inputs, use, region),
        *_snapstart_items(inputs, region),
        *_warming_items(inputs, use, region),
        ("CloudWatch Logs ingestion", use.log_gb * region["logs_ingestion_gb"]),
        *monitoring_items(inputs, prices),
        *_free_tier_items(inputs, use, region, prices["free_tier"]),
        *_monitoring_free_tier_items(inputs, prices),
    ]
    return Estimate([(item, usd) for item, usd in items if usd != 0 or not item.startswith("Free")])


def _monitoring_free_tier_items(inputs: Inputs, prices: dict[str, Any]) -> Items:
    """CloudWatch's always-free dashboards and alarm metrics, if the free tier applies."""
    if not inputs.free_tier or inputs.monitoring == "off":
        return []
    free = prices["free_tier"]
    cloudwatch = prices["cloudwatch"]
    return [
        (
            "Free tier: CloudWatch dashboard and alarms",
            -min(1, free["cloudwatch_dashboards"]) * cloudwatch["dashboard_month"]
            - min(inputs.alarm_metrics, free["cloudwatch_alarm_metrics"])
            * cloudwatch["alarm_metric_month"],
        )
    ]


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
