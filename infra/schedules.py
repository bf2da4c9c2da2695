"""Warm windows: EventBridge Scheduler's expressions, evaluated as the Scheduler does.

A `WarmSchedule` is one window of `lukewarm:warmSchedules`: `rate(...)`, `cron(...)` or
`at(...)`, how many instances it warms, and the zone its wall-clock times are in. The stack
deploys each as a Scheduler schedule; the local stack and `lukewarm cost` ask it when it
fires next. Standard library, `aws-croniter` and `contract` only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, available_timezones

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


TIME_ZONE_AREAS = frozenset(
    {
        "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic",
        "Australia", "Europe", "Indian", "Pacific", "Etc",
    }
)  # fmt: skip
"""The tz database's regions. Its other names are not zones a schedule should name:
`Factory`, `localtime` and `posixrules` are tzdata's own files, and `US/Eastern`, `GMT`,
`Japan` and the like are legacy aliases kept only for old software."""


@cache
def _all_zone_names() -> frozenset[str]:
    """Every name the tz database knows, its own files and legacy aliases included."""
    return frozenset(available_timezones())


@cache
def _time_zones() -> frozenset[str]:
    """Area/Location names of the tz database, and UTC."""
    return frozenset(
        name
        for name in _all_zone_names()
        if name == "UTC" or ("/" in name and name.split("/", 1)[0] in TIME_ZONE_AREAS)
    )


TZDATA_FILES = frozenset({"Factory", "localtime", "posixrules"})
"""Files of the tz database that are no zone of their own."""


def time_zone_problem(name: object) -> str | None:
    """Why `name` is no zone a schedule may name, with the nearest valid names; None if it is."""
    if isinstance(name, str) and name in _time_zones():
        return None
    problem = "must be an IANA time zone name, Area/Location such as Europe/Berlin, or UTC"
    if not isinstance(name, str):
        return problem
    if name in TZDATA_FILES or name.startswith(("posix/", "right/")):
        return f"{problem}; {name} is a file of the tz database, not a zone; nearest: UTC"
    nearest = _same_zone(name) or _spelt_alike(name)
    return f"{problem}; nearest: {', '.join(nearest)}" if nearest else problem


def _same_zone(alias: str) -> list[str]:
    """The region names a legacy alias (`US/Eastern`, `Japan`) stands for: same zone data."""
    data = _zone_data(alias)
    if data is None:
        return []
    return sorted(zone for zone in _time_zones() if _zone_data(zone) == data)[:3]


@cache
def _zone_data(name: str) -> bytes | None:
    """A zone's compiled data, from the system's tz database or the tzdata package."""
    if name not in _all_zone_names():
        return None
    for root in TZPATH:
        with suppress(OSError):
            return Path(root, name).read_bytes()
    with suppress(ImportError, OSError):
        return resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()
    return None


def _spelt_alike(name: str) -> list[str]:
    """Region names spelt nearly as `name`, or whose city is (`Berlin`, `new york`)."""
    zones = sorted(_time_zones())
    nearest = difflib.get_close_matches(name, zones, n=3, cutoff=0.75)
    if nearest:
        return nearest
    by_location = {zone.rsplit("/", 1)[-1].lower(): zone for zone in zones}
    wanted = name.rsplit("/", 1)[-1].replace(" ", "_").lower()
    return [
        by_location[location]
        for location in difflib.get_close_matches(wanted, by_location, n=3, cutoff=0.75)
    ]


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
    zone_problem = time_zone_problem(timezone)
    if zone_problem:
        problems["timezone"] = zone_problem
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
