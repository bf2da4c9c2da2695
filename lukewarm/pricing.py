"""The pricing model of `lukewarm cost`: a lukewarm deployment's monthly AWS bill, line by line.

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
  the hold the deployed warmer asks for (`contract.warmer_input`: `hold_ms` when a
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

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from contract import HELPER_ARCHITECTURE, WARMER_MEMORY_MB

if TYPE_CHECKING:
    from infra.schedules import WarmSchedule

MONTH_S = 30 * 24 * 3600
MONTH_START = datetime(2026, 6, 1, tzinfo=UTC)
WARMER_OVERHEAD_MS = 150.0
"""The warmer's own time around the hold: starting the invokes and collecting answers."""
LOG_KB_PER_INVOKE = 1.0
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
    warmer_price = region["lambda"][HELPER_ARCHITECTURE]["gb_second"]

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
