"""What lukewarm says about itself, and how it is read: the one definition of a cold start,
the metrics that the function, the warmer and AWS publish, and the alarms a stack gets.

Standard library only: the Pulumi program (`infra.monitoring`), `lukewarm report`,
`lukewarm probe` and `lukewarm cost` all read it, so that a dashboard, an alarm, a report
and a probe never count a cold start differently, and an alarm never watches a metric
nobody emits.

## Cold, restored, warm (the one definition)

An invocation is a **cold start** when it waited for its execution environment's init:
it is the first invocation of an on-demand environment that Lambda initialised for it.
Lambda's REPORT line for it carries `Init Duration`, and the function answers (and logs,
and counts in its `ColdStart` metric) `cold_start: true`.

It is a **restore** when it waited for a SnapStart restore instead: the first invocation
of an environment restored from a snapshot. Its REPORT line carries `Restore Duration`,
and the function says `restored: true` (metric `Restores`).

Anything else is **warm**, including the first invocation of a provisioned-concurrency
environment, whose init ran before any request arrived: nobody waited for it, and
Lambda's REPORT line has no `Init Duration` either.

A cold start and a restore together are the **instance starts**. The **cold-start rate**
is instance starts per invocation, counted over the requests people make: the warmer's
own warm-up invokes are left out of both counts, because a warm-up that finds a cold
instance is the warmer doing its job.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.schedules import WarmSchedule

COLD = "cold"
RESTORED = "restored"
WARM = "warm"
STARTS = (COLD, RESTORED)
"""The kinds of invocation that waited for an instance to start (the cold-start rate's)."""


def start_kind(cold_start: bool, restored: bool) -> str:
    """The kind of an invocation from what the function says about it."""
    if cold_start:
        return COLD
    return RESTORED if restored else WARM


def platform_start_kind(init_duration_ms: float | None, restore_duration_ms: float | None) -> str:
    """The kind of an invocation from its REPORT line: Init Duration or Restore Duration."""
    return start_kind(init_duration_ms is not None, restore_duration_ms is not None)


def cold_start_rate(starts: int, requests: int) -> float | None:
    """Instance starts per request, in percent; None with no requests."""
    return 100.0 * starts / requests if requests else None


# --- metrics -----------------------------------------------------------------------------

NAMESPACE = "lukewarm"
"""The function's and the warmer's EMF namespace (`POWERTOOLS_METRICS_NAMESPACE`)."""
SERVICE = "lukewarm"
"""The function's Powertools service name: its `service` dimension."""
FUNCTION_DIMENSIONS = ("function_name", "service")
"""The dimensions of every metric the function emits (Powertools adds `service`; the
function adds its own name, so two stacks in one account never share a series)."""
WARMER_DIMENSIONS = ("function",)
"""The warmer's dimension: the target it warms, `<function name>:<alias>`."""

FUNCTION_METRICS = (
    "Captions",
    "InferenceTime",
    "ColdStart",
    "Restores",
    "ClientErrors",
    "ServerErrors",
    "WarmUps",
)
"""What function/app.py publishes, all under `FUNCTION_DIMENSIONS`."""
WARMER_METRICS = (
    "WarmTargets",
    "WarmInstancesReached",
    "WarmColdStarts",
    "WarmRestores",
    "WarmErrors",
    "WarmThrottles",
    "WarmDuration",
)
"""What warmer/handler.py publishes once per warm run, under `WARMER_DIMENSIONS`."""


def function_dimensions(function_name: str) -> dict[str, str]:
    return {"function_name": function_name, "service": SERVICE}


def warmer_dimensions(function_name: str, alias: str) -> dict[str, str]:
    return {"function": f"{function_name}:{alias}"}


# --- alarms ------------------------------------------------------------------------------

DEFAULT_COLD_START_ALARM_PERCENT = 15.0
"""Log-analysis tools warn at a cold-start rate above 15 % and call 30 % high."""
MAX_ALARM_PERIOD_S = 86_400
"""CloudWatch evaluates an alarm over at most a day of periods (period x evaluations)."""
HORIZON = timedelta(days=8)
"""How far ahead the warm schedules are stepped to find their cadence: a week and a day."""


ALARM_METRICS = {
    "api-5xx": 1,
    "function-errors": 1,
    "throttles": 1,
    "duration-p99": 1,
    "cold-start-rate": 7,
    "warm-reach": 2,
    "warmer-errors": 1,
    "warmer-stopped": 1,
    "provisioned-spillover": 1,
}
"""The metrics each alarm family reads: CloudWatch bills a standard alarm per metric it
reads, so a metric-math alarm costs one alarm metric per metric in its expression."""


WARM_REACH_RUNS = 3
"""Warm runs in a row that must fall short before `warm-reach` fires."""
WARMER_ERROR_RUNS = 2
"""Warm runs in a row that must have failed warm-ups before `warmer-errors` fires."""


@dataclass(frozen=True)
class AlarmPlan:
    """Which alarm families a stack gets, their warm-run periods, and why one it would want
    cannot be made."""

    families: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    warm_period_s: int | None = None
    """The period of the per-run warm alarms: one scheduled interval between runs."""
    stopped_period_s: int | None = None
    """How long `warmer-stopped` waits for a run: twice the longest gap between runs."""

    @property
    def alarm_metrics(self) -> int:
        """What CloudWatch bills these alarms as: one alarm metric per metric read."""
        return sum(ALARM_METRICS[family] for family in self.families)


@dataclass(frozen=True)
class WarmCadence:
    """How often warm runs come: the usual interval and the longest gap between two."""

    interval_s: float
    longest_gap_s: float


def warm_cadence(
    schedules: Sequence[WarmSchedule], start: datetime | None = None
) -> WarmCadence | None:
    """The schedules' runs stepped over the next eight days (a whole week and a day, so
    weekends count); None when they stop within that time (an `at(...)` window)."""
    if not schedules:
        return None
    now = start or datetime.now(UTC)
    end = now + HORIZON
    times: list[datetime] = []
    for schedule in schedules:
        when = now
        while (following := schedule.next_run(when)) is not None and following < end:
            times.append(following)
            when = following
            if len(times) > 100_000:
                break
    times.sort()
    if len(times) < 2 or times[-1] < end - timedelta(days=1):
        return None  # the runs stop: nothing to wait for
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise([now, *times])]
    return WarmCadence(statistics.median(gaps[1:]), max(gaps))


def alarm_period_s(seconds: float) -> int:
    """A CloudWatch alarm period of at least `seconds`: a whole number of minutes."""
    return max(60, math.ceil(seconds / 60) * 60)


def alarm_plan(
    *,
    monitoring: str,
    warm_schedules: Sequence[WarmSchedule],
    provisioned_concurrency: int,
    start: datetime | None = None,
    warm_reach_runs: int = WARM_REACH_RUNS,
    warmer_error_runs: int = WARMER_ERROR_RUNS,
) -> AlarmPlan:
    """The alarm families a stack's settings call for (`lukewarm cost` prices them).

    An alarm waits at most a day (period x evaluations): warm runs too far apart for that
    get no per-run alarm, and the reason is in `skipped`."""
    if monitoring != "alarms":
        return AlarmPlan(())
    families = ["api-5xx", "function-errors", "throttles", "duration-p99"]
    skipped = []
    warm_period = stopped_period = None
    if warm_schedules:
        families.append("cold-start-rate")
        cadence = warm_cadence(warm_schedules, start)
        if cadence is None:
            skipped.append("warm-reach, warmer-errors, warmer-stopped: the warm schedules stop")
        else:
            warm_period = alarm_period_s(cadence.interval_s)
            for family, runs in (
                ("warm-reach", warm_reach_runs),
                ("warmer-errors", warmer_error_runs),
            ):
                if warm_period * runs <= MAX_ALARM_PERIOD_S:
                    families.append(family)
                else:
                    skipped.append(
                        f"{family}: {runs} warm runs {warm_period} s apart take longer than "
                        "the day a CloudWatch alarm can look back"
                    )
            stopped_period = alarm_period_s(2 * cadence.longest_gap_s)
            if stopped_period <= MAX_ALARM_PERIOD_S:
                families.append("warmer-stopped")
            else:
                skipped.append(
                    "warmer-stopped: the warm schedules leave more than half a day between "
                    "runs, longer than a CloudWatch alarm can wait for the next one"
                )
    if provisioned_concurrency > 0:
        families.append("provisioned-spillover")
    return AlarmPlan(tuple(families), tuple(skipped), warm_period, stopped_period)
