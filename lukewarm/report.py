"""`lukewarm report`: what a stack did over a period, read from its logs.

One aggregation, two sources. On AWS (`--stack NAME`) it reads the function's and the
warmer's log groups (`/lukewarm/NAME/service`, `/lukewarm/NAME/warming`) with CloudWatch
Logs Insights: queries bounded in time and in results (a window whose matches pass the
10,000 a query may return is split in halves, within a budget of queries, and a report
that still could not see everything says so). With `--local [LOG]` it reads the file the
local stack writes (`lukewarm serve --log-file`, by default `.lukewarm/logs.jsonl`).

What it reads:
- Lambda's REPORT lines (Text `REPORT RequestId: ...` or JSON `platform.report`): every
  invocation's duration, billed duration, memory, and `Init Duration` / `Restore
  Duration`, which mark cold starts and restores (the definition in infra/telemetry.py);
- the function's own JSON lines: `captioned`, `refused` (with its error code), `request
  failed` (internal_error), `warmed` (a warm-up invocation, left out of the cold-start rate);
- the warmer's summary line (`warm run`): asked for, reached, cold starts, errors.

Cost: the period's actual charges that follow from the traffic (Lambda's billed duration,
init included, and requests; API Gateway; SnapStart restores) beside `lukewarm cost`'s
estimate for the same traffic, both priced from lukewarm/prices.json. Charges that do not
follow the traffic (image storage, snapshot cache, logs, the warmer's own run time) are in
`lukewarm cost`, not here.
"""

# boto3 and matplotlib load only when a report needs them.

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra import telemetry
from lukewarm import pricing as pricing_model
from lukewarm.checkout import ROOT
from lukewarm.localstack import logs

DEFAULT_LOCAL_LOG = ROOT / ".lukewarm" / "logs.jsonl"
QUERY_LIMIT = 10_000
"""The most rows one Logs Insights query returns."""
MAX_QUERIES = 32
"""How many queries one report may run (each window split in two when it overflows)."""
QUERY_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 1.0
FAILED_STATES = ("Failed", "Cancelled", "Timeout", "Unknown")
TRAFFIC_CHARGES = (
    "Lambda compute",
    "Lambda init",
    "Lambda requests",
    "API Gateway",
    "Warm invokes",
    "SnapStart restores",
)
"""`lukewarm cost` line items that follow the traffic: the ones a report can set beside
what the period actually cost."""
INSIGHTS_QUERY = (
    "fields @timestamp, @message, @log "
    r"| filter @message like /^REPORT RequestId|platform\.report|"
    r'"message":"(captioned|refused|request failed|warmed|warm run)"/ '
    "| sort @timestamp asc "
    f"| limit {QUERY_LIMIT}"
)
_TEXT_REPORT = re.compile(r"^REPORT RequestId: (?P<id>\S+)")
_TEXT_FIELD = re.compile(r"(?P<name>[A-Za-z ]+): (?P<value>[^\t]+?)(?: ms| MB)?(?:\t|$)")
_SINCE = re.compile(r"(?P<count>\d+)(?P<unit>[mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ReportError(Exception):
    """Something the report cannot do; the message is for the user."""


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEvent:
    """One log event as CloudWatch Logs holds it."""

    timestamp_ms: int
    group: str
    message: str


@dataclass(frozen=True)
class PlatformReport:
    """One invocation as Lambda's REPORT line describes it."""

    request_id: str
    timestamp_ms: int
    duration_ms: float
    billed_ms: float
    memory_mb: int
    init_ms: float | None = None
    restore_ms: float | None = None
    status: str = "success"
    error_type: str | None = None

    @property
    def kind(self) -> str:
        """cold, restored or warm, by the one definition (infra/telemetry.py)."""
        return str(telemetry.platform_start_kind(self.init_ms, self.restore_ms))


def parse_report(message: str, timestamp_ms: int) -> PlatformReport | None:
    """A REPORT line in Lambda's Text or JSON log format; None for any other line."""
    if match := _TEXT_REPORT.match(message):
        fields = {m["name"].strip(): m["value"] for m in _TEXT_FIELD.finditer(message[6:])}
        try:
            return PlatformReport(
                request_id=match["id"],
                timestamp_ms=timestamp_ms,
                duration_ms=float(fields["Duration"]),
                billed_ms=float(fields["Billed Duration"]),
                memory_mb=int(fields["Memory Size"]),
                init_ms=float(fields["Init Duration"]) if "Init Duration" in fields else None,
                restore_ms=(
                    float(fields["Restore Duration"]) if "Restore Duration" in fields else None
                ),
                status=fields.get("Status", "success"),
                error_type=fields.get("Error Type"),
            )
        except (KeyError, ValueError):
            return None
    if '"platform.report"' not in message:
        return None
    try:
        document = json.loads(message)
        record = document["record"]
        metrics = record["metrics"]
        return PlatformReport(
            request_id=record["requestId"],
            timestamp_ms=timestamp_ms,
            duration_ms=float(metrics["durationMs"]),
            billed_ms=float(metrics["billedDurationMs"]),
            memory_mb=int(metrics["memorySizeMB"]),
            init_ms=metrics.get("initDurationMs"),
            restore_ms=metrics.get("restoreDurationMs"),
            status=record.get("status", "success"),
            error_type=record.get("errorType"),
        )
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class WarmRun:
    timestamp_ms: int
    targets: int
    reached: int
    cold_starts: int
    restores: int
    errors: int


@dataclass
class Records:
    """Everything a report counts, gathered from either source."""

    reports: dict[str, PlatformReport] = field(default_factory=dict)
    captions: set[str] = field(default_factory=set)
    warm_ups: set[str] = field(default_factory=set)
    refusals: dict[str, str] = field(default_factory=dict)
    """Request id → the error code the function answered with (4xx and internal_error)."""
    warm_runs: list[WarmRun] = field(default_factory=list)

    def add(self, event: LogEvent) -> None:
        if report := parse_report(event.message, event.timestamp_ms):
            self.reports[report.request_id] = report
            return
        try:
            document = json.loads(event.message)
        except ValueError:
            return
        if not isinstance(document, dict):
            return
        message = document.get("message")
        request_id = str(document.get("function_request_id", ""))
        if message == "warm run" and "targets" in document:
            self.warm_runs.append(
                WarmRun(
                    event.timestamp_ms,
                    int(document["targets"]),
                    int(document.get("instances_reached", 0)),
                    int(document.get("cold_starts", 0)),
                    int(document.get("restores", 0)),
                    int(document.get("errors", 0)),
                )
            )
        elif not request_id:
            return
        elif message == "captioned":
            self.captions.add(request_id)
        elif message == "warmed":
            self.warm_ups.add(request_id)
        elif message == "refused":
            self.refusals[request_id] = str(document.get("code", "refused"))
        elif message == "request failed":
            self.refusals[request_id] = "internal_error"


def collect(events: Iterable[LogEvent]) -> Records:
    records = Records()
    for event in events:
        records.add(event)
    return records


# --- the aggregation ---------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank, as Logs Insights' pct), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Pricing:
    region: str
    architecture: str


def summarise(
    records: Records, pricing: Pricing | None, prices: dict[str, Any] | None
) -> dict[str, Any]:
    """The report's figures, as `--json` prints them."""
    reports = list(records.reports.values())
    requests = [r for r in reports if r.request_id not in records.warm_ups]
    warm_ups = [r for r in reports if r.request_id in records.warm_ups]
    kinds = Counter(r.kind for r in requests)
    starts = sum(kinds[kind] for kind in telemetry.STARTS)
    inits = [r.init_ms for r in reports if r.init_ms is not None]
    restores = [r.restore_ms for r in reports if r.restore_ms is not None]
    # What each request waited for inside Lambda: its duration, and its init or restore.
    waits = [r.duration_ms + (r.init_ms or 0.0) + (r.restore_ms or 0.0) for r in requests]
    errors: Counter[str] = Counter(records.refusals.values())
    for report in reports:
        if report.status != "success" and report.request_id not in records.refusals:
            errors[_platform_error(report)] += 1
    billed_gbs = sum(r.billed_ms / 1000 * r.memory_mb / 1024 for r in reports)
    restored_gb = sum(r.memory_mb / 1024 for r in reports if r.restore_ms is not None)
    runs = records.warm_runs
    rate = telemetry.cold_start_rate(starts, len(requests))
    summary: dict[str, Any] = {
        "invocations": len(reports),
        "requests": len(requests),
        "warm_up_invocations": len(warm_ups),
        "captions": len(records.captions),
        "cold_starts": kinds[telemetry.COLD],
        "restores": kinds[telemetry.RESTORED],
        "cold_start_rate_percent": None if rate is None else round(rate, 2),
        "warm_up_cold_starts": sum(1 for r in warm_ups if r.kind == telemetry.COLD),
        "warm_up_restores": sum(1 for r in warm_ups if r.kind == telemetry.RESTORED),
        "init_ms": {
            "count": len(inits),
            "p50": _round(percentile(inits, 50)),
            "p90": _round(percentile(inits, 90)),
            "p99": _round(percentile(inits, 99)),
        },
        "restore_ms": {"count": len(restores), "p50": _round(percentile(restores, 50))},
        "warm_runs": {
            "runs": len(runs),
            "asked_for": sum(run.targets for run in runs),
            "reached": sum(run.reached for run in runs),
            "runs_reaching_all": sum(1 for run in runs if run.reached >= run.targets),
            "runs_with_errors": sum(1 for run in runs if run.errors),
        },
        "errors": dict(sorted(errors.items())),
        "latency_ms": {
            "p50": _round(percentile(waits, 50)),
            "p99": _round(percentile(waits, 99)),
        },
        "billed_gb_seconds": round(billed_gbs, 3),
        "cost": None,
    }
    if pricing is not None and prices is not None:
        summary["cost"] = _cost(summary, records, pricing, prices, billed_gbs, restored_gb)
    return summary


def _platform_error(report: PlatformReport) -> str:
    if report.status == "timeout":
        return "timeout"
    return report.error_type or "function_error"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _cost(
    summary: dict[str, Any],
    records: Records,
    pricing: Pricing,
    prices: dict[str, Any],
    billed_gbs: float,
    restored_gb: float,
) -> dict[str, Any]:
    """The period's traffic-driven charges, and `lukewarm cost`'s estimate of the same."""
    if pricing.region not in prices["regions"]:
        raise ReportError(
            f"no prices for {pricing.region} in lukewarm/prices.json "
            f"(it has {', '.join(prices['regions'])})"
        )
    region = prices["regions"][pricing.region]
    lam = region["lambda"][pricing.architecture]
    invocations = summary["invocations"]
    actual = [
        ("Lambda duration, init included", billed_gbs * lam["gb_second"]),
        ("Lambda requests", invocations * lam["requests_per_million"] / 1e6),
        (
            "API Gateway (HTTP API)",
            summary["requests"] * region["api_gateway"]["http_per_million"] / 1e6,
        ),
    ]
    if restored_gb:
        actual.append(("SnapStart restores", restored_gb * region["snapstart"]["restore_gb"]))

    reports = list(records.reports.values())
    requests = [r for r in reports if r.request_id not in records.warm_ups]
    memory_mb = max((r.memory_mb for r in reports), default=1024)
    inits = [r.init_ms for r in requests if r.init_ms is not None]
    hold_ms = [r.duration_ms for r in reports if r.request_id in records.warm_ups]
    runs = records.warm_runs
    schedules = (
        (
            pricing_model.Schedule(
                expression="observed",
                concurrency=max(1, round(sum(run.targets for run in runs) / len(runs))),
                timezone="UTC",
                runs_per_month=len(runs),
                hold_ms=round(statistics.fmean(hold_ms), 1) if hold_ms else 0.0,
            ),
        )
        if runs
        else ()
    )
    starts = summary["cold_starts"] + summary["restores"]
    inputs = pricing_model.Inputs(
        region=pricing.region,
        architecture=pricing.architecture,
        memory_mb=memory_mb,
        requests=float(len(requests)),
        duration_s=statistics.fmean(r.duration_ms for r in requests) / 1000 if requests else 0.0,
        api="http",
        image_gb=0.0,
        schedules=schedules,
        warm_hold_ms=0.0,
        provisioned=0,
        free_tier=False,
        init_s=statistics.fmean(inits) / 1000 if inits else 0.0,
        cold_fraction=starts / len(requests) if requests else 0.0,
        snapstart=summary["restores"] + summary["warm_up_restores"] > 0,
    )
    estimated = [
        (item, usd)
        for item, usd in pricing_model.estimate(inputs, prices).line_items
        if item.startswith(TRAFFIC_CHARGES)
    ]
    return {
        "region": pricing.region,
        "architecture": pricing.architecture,
        "actual": [{"item": item, "usd": round(usd, 8)} for item, usd in actual],
        "actual_usd": round(sum(usd for _, usd in actual), 8),
        "estimate": [{"item": item, "usd": round(usd, 8)} for item, usd in estimated],
        "estimate_usd": round(sum(usd for _, usd in estimated), 8),
    }


# --- sources -----------------------------------------------------------------------------


def local_events(path: Path, since_ms: int) -> Iterator[LogEvent]:
    """The local stack's log events from `since_ms` on."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(
            f"{path}: no such file; start the local stack (`make serve`) and send it "
            "some requests, or pass the log file `lukewarm serve --log-file` wrote"
        ) from None
    except OSError as error:
        raise ReportError(f"{path}: {error.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                event = LogEvent(int(record["timestamp"]), record["logGroup"], record["message"])
            except (ValueError, KeyError, TypeError):
                raise ReportError(
                    f"{path}:{number}: not a log event (a line of `lukewarm serve --log-file`)"
                ) from None
            if event.timestamp_ms >= since_ms:
                yield event


def _shown(path: Path) -> str:
    """A path as a person would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _insights_time(value: str) -> int:
    """Logs Insights' `@timestamp` (`2026-12-01 10:00:00.123`, UTC) as epoch ms."""
    moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass
class InsightsSource:
    """Log events from CloudWatch Logs Insights, one bounded query at a time."""

    client: Any
    groups: Sequence[str]
    timeout_s: float = QUERY_TIMEOUT_S
    poll_interval_s: float = POLL_INTERVAL_S
    max_queries: int = MAX_QUERIES
    sleep: Callable[[float], None] = time.sleep
    queries: int = 0
    truncated: list[tuple[int, int]] = field(default_factory=list)
    """Windows (epoch s) whose matches were more than one query could return."""

    def events(self, start_s: int, end_s: int) -> list[LogEvent]:
        """Every matching event from `start_s` to `end_s` (epoch seconds, both included)."""
        found: dict[LogEvent, None] = {}
        for event in self._window(start_s, end_s):
            found.setdefault(event)  # the halves share their middle second
        return list(found)

    def _window(self, start_s: int, end_s: int) -> list[LogEvent]:
        rows, matched = self._query(start_s, end_s)
        if matched <= len(rows):
            return rows
        middle = (start_s + end_s) // 2
        if middle <= start_s or self.queries + 2 > self.max_queries:
            self.truncated.append((start_s, end_s))
            return rows
        return self._window(start_s, middle) + self._window(middle, end_s)

    def _query(self, start_s: int, end_s: int) -> tuple[list[LogEvent], int]:
        from botocore.exceptions import BotoCoreError, ClientError

        self.queries += 1
        try:
            query_id = self.client.start_query(
                logGroupNames=list(self.groups),
                startTime=start_s,
                endTime=end_s,
                queryString=INSIGHTS_QUERY,
                limit=QUERY_LIMIT,
            )["queryId"]
        except ClientError as error:
            details = error.response.get("Error", {})
            raise ReportError(
                f"Logs Insights refused the query: {details.get('Code')}: {details.get('Message')}"
            ) from None
        except BotoCoreError as error:
            raise ReportError(f"cannot reach CloudWatch Logs: {error}") from None
        waited = 0.0
        while True:
            try:
                answer = self.client.get_query_results(queryId=query_id)
            except (ClientError, BotoCoreError) as error:
                raise ReportError(f"reading the query's results failed: {error}") from None
            status = answer.get("status")
            if status == "Complete":
                break
            if status in FAILED_STATES:
                raise ReportError(
                    f"the Logs Insights query {query_id} ended {status} "
                    f"(log groups {', '.join(self.groups)}); try a shorter --since"
                )
            if waited >= self.timeout_s:
                # Stopped or finished by now; either way nothing waits on it any more.
                with contextlib.suppress(ClientError, BotoCoreError):
                    self.client.stop_query(queryId=query_id)
                raise ReportError(
                    f"the Logs Insights query {query_id} did not finish within "
                    f"{self.timeout_s:g} s; try a shorter --since"
                )
            self.sleep(self.poll_interval_s)
            waited += self.poll_interval_s
        events = []
        for row in answer.get("results", []):
            fields = {cell["field"]: cell["value"] for cell in row}
            if "@message" not in fields or "@timestamp" not in fields:
                continue
            group = fields.get("@log", "").split(":", 1)[-1]
            events.append(LogEvent(_insights_time(fields["@timestamp"]), group, fields["@message"]))
        matched = int(answer.get("statistics", {}).get("recordsMatched", len(events)))
        return events, matched


# --- command line ------------------------------------------------------------------------


def parse_since(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w` as a time span."""
    match = _SINCE.fullmatch(text.strip())
    if not match or int(match["count"]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time span such as 30m, 12h, 7d or 2w")
    return timedelta(**{_UNITS[match["unit"]]: int(match["count"])})


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="the deployed stack whose log groups to read (and whose Pulumi.<NAME>.yaml "
        "gives the region and architecture)",
    )
    parser.add_argument(
        "--local",
        nargs="?",
        type=Path,
        const=DEFAULT_LOCAL_LOG,
        metavar="LOG",
        help=f"read the local stack's log file instead (default {DEFAULT_LOCAL_LOG})",
    )
    parser.add_argument(
        "--since",
        type=parse_since,
        default=parse_since("7d"),
        metavar="SPAN",
        help="how far back to look: 30m, 12h, 7d (the default) or 2w",
    )
    parser.add_argument("--region", help="AWS region (default: the stack's aws:region)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help="draw cold-start rate and latency over time"
    )


def _stack_config(stack: str | None) -> tuple[Any, str | None]:
    """The stack's settings and its `aws:region` (the defaults and None without a stack)."""
    from infra import settings as settings_module  # YAML and cron: only when a report runs

    path = settings_module.ROOT / f"Pulumi.{stack}.yaml"
    # A stack deployed from another checkout has no file here: its logs are still readable,
    # priced with the project's defaults in the region boto3 is configured for.
    known = stack is not None and path.is_file()
    try:
        settings = settings_module.stack_settings(stack if known else None)
    except settings_module.SettingsError as error:
        raise ReportError(str(error).replace("\n", " ")) from None
    region = None
    if known:
        import yaml  # type: ignore[import-untyped]

        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        region = (document.get("config") or {}).get("aws:region")
    return settings, region


def gather(args: argparse.Namespace, now: datetime | None = None) -> tuple[Records, dict[str, Any]]:
    """The records of the period and what the report says about where they came from."""
    now = now or datetime.now(UTC)
    start = now - args.since
    if args.local is not None:
        records = collect(local_events(args.local, int(start.timestamp() * 1000)))
        return records, {"source": _shown(args.local)}
    if args.stack is None:
        raise ReportError("name the deployed stack (--stack NAME), or read the local one (--local)")
    _, stack_region = _stack_config(args.stack)
    region = args.region or stack_region
    groups = [logs.function_group(args.stack), logs.warmer_group(args.stack)]
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        client = boto3.client("logs", region_name=region)
    except BotoCoreError as error:
        raise ReportError(f"cannot make a CloudWatch Logs client: {error}") from None
    source = InsightsSource(client, groups, max_queries=MAX_QUERIES)
    events = source.events(int(start.timestamp()), int(now.timestamp()))
    where = {
        "source": f"CloudWatch Logs Insights ({client.meta.region_name}): {', '.join(groups)}",
        "queries": source.queries,
        "region": client.meta.region_name,
    }
    if source.truncated:
        where["incomplete"] = [
            f"{datetime.fromtimestamp(a, UTC):%Y-%m-%d %H:%M} to "
            f"{datetime.fromtimestamp(b, UTC):%Y-%m-%d %H:%M}"
            for a, b in source.truncated
        ]
    return collect(events), where


def report(args: argparse.Namespace, now: datetime | None = None) -> tuple[dict[str, Any], Records]:
    """The report's figures, and the records they were counted from."""
    now = now or datetime.now(UTC)
    records, where = gather(args, now)
    settings, stack_region = _stack_config(args.stack)
    # The region the logs were read in prices them; locally, the stack's or the default.
    region = (
        where.pop("region", None) or args.region or stack_region or pricing_model.DEFAULT_REGION
    )
    prices = pricing_model.load_prices()
    summary = summarise(records, Pricing(region, settings.architecture), prices)
    period = {
        "from": (now - args.since).isoformat(timespec="seconds"),
        "to": now.isoformat(timespec="seconds"),
    }
    return {"period": period, **where, **summary}, records


def render(figures: dict[str, Any]) -> str:
    """The report as text, one figure a line."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} ms"

    rate = figures["cold_start_rate_percent"]
    init, warm = figures["init_ms"], figures["warm_runs"]
    lines = [
        f"lukewarm report: {figures['period']['from']} to {figures['period']['to']}",
        f"source: {figures['source']}",
        f"invocations           {figures['invocations']:,} "
        f"({figures['requests']:,} requests, {figures['warm_up_invocations']:,} warm-ups)",
        f"captions              {figures['captions']:,}",
        f"cold starts           {figures['cold_starts']:,} + {figures['restores']:,} restores "
        f"= {'-' if rate is None else f'{rate:.1f} %'} of requests",
        f"  absorbed by warm-ups {figures['warm_up_cold_starts']:,} cold, "
        f"{figures['warm_up_restores']:,} restored",
        f"init                  p50 {ms(init['p50'])}, p90 {ms(init['p90'])}, "
        f"p99 {ms(init['p99'])} ({init['count']:,} inits)",
        f"restores              {figures['restore_ms']['count']:,}, "
        f"p50 {ms(figures['restore_ms']['p50'])}",
        f"warm runs             {warm['runs']:,}: reached {warm['reached']:,} of "
        f"{warm['asked_for']:,} instances asked for; {warm['runs_reaching_all']:,} runs "
        f"reached all, {warm['runs_with_errors']:,} had errors",
        "errors                "
        + (", ".join(f"{code} {count}" for code, count in figures["errors"].items()) or "none"),
        f"latency               p50 {ms(figures['latency_ms']['p50'])}, "
        f"p99 {ms(figures['latency_ms']['p99'])} (in Lambda, init or restore included)",
        f"billed                {figures['billed_gb_seconds']:,.3f} GB-s",
    ]
    cost = figures.get("cost")
    if cost:
        lines.append(
            f"cost ({cost['region']}, {cost['architecture']}): actual ${cost['actual_usd']:.6f}, "
            f"`lukewarm cost` estimate for the same traffic ${cost['estimate_usd']:.6f}"
        )
        for side in ("actual", "estimate"):
            for item in cost[side]:
                lines.append(f"  {side:<8} {item['item']:<44} ${item['usd']:.6f}")
    for window in figures.get("incomplete", []):
        lines.append(f"INCOMPLETE: more log events than the query budget could read, {window}")
    return "\n".join(lines)


def plot(records: Records, path: Path) -> None:
    """Cold-start rate and latency over time, one point per time bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    requests = sorted(
        (r for r in records.reports.values() if r.request_id not in records.warm_ups),
        key=lambda r: r.timestamp_ms,
    )
    if not requests:
        raise ReportError("no requests in the period: nothing to plot")
    first, last = requests[0].timestamp_ms, requests[-1].timestamp_ms
    width = max(60_000, math.ceil((last - first + 1) / 48))
    bins: dict[int, list[PlatformReport]] = {}
    for r in requests:
        bins.setdefault((r.timestamp_ms - first) // width, []).append(r)
    times = [datetime.fromtimestamp((first + k * width) / 1000, UTC) for k in sorted(bins)]
    rates = [
        100 * sum(r.kind in telemetry.STARTS for r in bins[k]) / len(bins[k]) for k in sorted(bins)
    ]
    p50 = [
        percentile([r.duration_ms + (r.init_ms or 0) for r in bins[k]], 50) for k in sorted(bins)
    ]
    p99 = [
        percentile([r.duration_ms + (r.init_ms or 0) for r in bins[k]], 99) for k in sorted(bins)
    ]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    top.plot(times, rates, marker="o")
    top.set_ylabel("cold-start rate, %")
    top.set_ylim(0, 100)
    bottom.plot(times, p50, marker="o", label="p50")
    bottom.plot(times, p99, marker="o", label="p99")
    bottom.set_ylabel("latency in Lambda, ms")
    bottom.legend()
    figure.suptitle("lukewarm report")
    figure.autofmt_xdate()
    try:
        figure.savefig(path)
    except OSError as error:
        raise ReportError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        plt.close(figure)


def run(args: argparse.Namespace) -> int:
    try:
        figures, records = report(args)
        if args.plot is not None:
            plot(records, args.plot)
    except ReportError as error:
        print(f"lukewarm report: {error}", file=sys.stderr)
        return 1
    # A reader that stops early (`| head`) is handled once for every command, in __main__.
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    if args.plot is not None and not args.json:
        print(f"plot: {args.plot}")
    return 0
