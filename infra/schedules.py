"""Warm windows: EventBridge Scheduler's expressions, evaluated as the Scheduler does.

A `WarmSchedule` is one window of `lukewarm:warmSchedules`: `rate(...)`, `cron(...)` or
`at(...)`, how many instances it warms, and the zone its wall-clock times are in. The stack
deploys each as a Scheduler schedule; the local stack and `lukewarm cost` ask it when it
fires next. Standard library, `aws-croniter` and `contract` only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from aws_croniter import AwsCroniter  # type: ignore[import-untyped]

from contract import MAX_WARM_CONCURRENCY

_RATE = re.compile(r"rate\((?P<value>\d+) (?P<unit>minutes?|hours?|days?)\)")
_CRON = re.compile(r"cron\((?P<fields>[^()]*)\)")
_AT = re.compile(r"at\((?P<when>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")

SCHEDULE_FORMS = (
    "rate(N minute|minutes|hour|hours|day|days) (singular for 1), "
    "cron(minutes hours day-of-month month day-of-week year) with six AWS fields and "
    "'?' in day-of-month or day-of-week, or at(yyyy-mm-ddThh:mm:ss)"
)


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True)
class WarmSchedule:
    """One warm window: when the warmer runs, how many instances it warms, in which zone.

    The expression is what EventBridge Scheduler takes (`rate(...)`, `cron(...)`, `at(...)`)
    and is evaluated in `timezone`, as the Scheduler does.
    """

    schedule: str
    concurrency: int = 1
    timezone: str = "UTC"
    _next: Callable[[datetime], datetime | None] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        problems = schedule_problems(self.schedule, self.concurrency, self.timezone)
        if problems:
            raise ValueError("; ".join(f"{name}: {problem}" for name, problem in problems.items()))
        object.__setattr__(self, "_next", _schedule_clock(self.schedule, ZoneInfo(self.timezone)))

    def next_run(self, after: datetime) -> datetime | None:
        """The first time (in UTC) this schedule fires strictly after `after`; None if never.

        `rate(...)` counts from `after` (the Scheduler counts from when the schedule was
        created, which only it knows); `cron(...)` and `at(...)` are wall-clock times in
        `timezone`: a time skipped by a daylight-saving change does not fire, and a repeated
        hour fires once, as EventBridge Scheduler does.
        """
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError(f"`after` must be timezone-aware, got {after!r}")
        return self._next(after)


def schedule_problems(schedule: object, concurrency: object, timezone: object) -> dict[str, str]:
    """What is wrong with each field of a warm window, by field name."""
    problems = {}
    try:
        _schedule_clock(schedule, ZoneInfo("UTC"))
    except ValueError as error:
        problems["schedule"] = str(error)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= MAX_WARM_CONCURRENCY
    ):
        problems["concurrency"] = f"must be an integer from 1 to {MAX_WARM_CONCURRENCY}"
    if not isinstance(timezone, str) or timezone not in _time_zones():
        problems["timezone"] = "must be a tz database name such as UTC or Europe/Berlin"
    return problems


def _schedule_clock(expression: object, zone: ZoneInfo) -> Callable[[datetime], datetime | None]:
    """Parse a Scheduler expression into a function from a time to the next fire time."""
    if not isinstance(expression, str):
        raise ValueError(f"must be a string: {SCHEDULE_FORMS}")
    if rate := _RATE.fullmatch(expression):
        count, unit = int(rate["value"]), rate["unit"]
        if count < 1:
            raise ValueError("a rate needs a whole number of at least 1")
        if (count == 1) != (not unit.endswith("s")):
            raise ValueError("a rate of 1 takes a singular unit (minute), any other a plural")
        interval = timedelta(**{unit.rstrip("s") + "s": count})
        return lambda after: (after + interval).astimezone(UTC)
    if cron := _CRON.fullmatch(expression):
        try:
            parsed = AwsCroniter(cron["fields"])
        except ValueError as error:
            raise ValueError(f"{error} Allowed: {SCHEDULE_FORMS}") from None
        return lambda after: _next_cron(parsed, zone, after)
    if at := _AT.fullmatch(expression):
        try:
            when = datetime.fromisoformat(at["when"]).replace(tzinfo=zone)
        except ValueError as error:
            raise ValueError(f"not a real date and time ({error})") from None
        return lambda after: when.astimezone(UTC) if when > after else None
    raise ValueError(f"must be {SCHEDULE_FORMS}")


def _next_cron(cron: AwsCroniter, zone: ZoneInfo, after: datetime) -> datetime | None:
    # aws-croniter computes in UTC only; a cron in another zone is a wall-clock pattern,
    # so step through wall-clock times (labelled UTC for the library) and map each back.
    wall = after.astimezone(zone).replace(tzinfo=None)
    for _ in range(10_000):
        (candidate,) = cron.get_next(wall.replace(tzinfo=UTC))
        if candidate is None:
            return None
        wall = candidate.replace(tzinfo=None)
        local = wall.replace(tzinfo=zone)
        exists = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
        if exists and local > after:
            return local.astimezone(UTC)
    return None
