"""The stack's settings: every `lukewarm:` config key, typed and validated in one place.

The defaults live in `Pulumi.yaml` and nowhere else, so `pulumi up`, the Pulumi tests
(where Pulumi applies no defaults), `lukewarm serve --stack` and `lukewarm cost --stack`
all see the same values. Every value is checked before any resource exists, and all the
problems are reported together, each naming the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import yaml  # type: ignore[import-untyped]
from aws_croniter import AwsCroniter  # type: ignore[import-untyped]

PROJECT = "lukewarm"
ROOT = Path(__file__).resolve().parent.parent
"""The repository root: where `Pulumi.yaml`, the stack files and `function/` live."""

MEMORY_MB = (128, 10240)
API_TIMEOUT_S = 30
"""HTTP API's integration timeout (hard). Every caption request comes through the API, so
a longer function timeout would only bill for answers nobody receives."""
MAX_HOLD_MS = 10_000
MAX_WARM_CONCURRENCY = 50
"""The warmer's own limits (warmer/handler.py) on one warm-up's hold and instance count."""
# fmt: off
LOG_RETENTION_DAYS = (
    0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)
# fmt: on
"""What CloudWatch Logs accepts; 0 means never expire."""
ARCHITECTURES = ("x86_64", "arm64")
RUNTIMES = ("onnx", "torch")
"""What the function runs the model with: ONNX Runtime on numpy (no torch), or torch."""
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
"""Application log levels that both Lambda's logging config and Python's logging know."""
MAX_SNAPSTART_VERSIONS = 100
"""The version pruner's own limit (pruner/handler.py) on versions kept."""
MAX_API_RATE = 10_000.0
MAX_API_BURST = 5_000
"""API Gateway's default account-level throttle per region."""
MONITORING_MODES = ("off", "dashboard", "alarms")

_RATE = re.compile(r"rate\((?P<value>\d+) (?P<unit>minutes?|hours?|days?)\)")
_CRON = re.compile(r"cron\((?P<fields>[^()]*)\)")
_AT = re.compile(r"at\((?P<when>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_ORIGIN = re.compile(
    r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(:\d{1,5})?"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SCHEDULE_FIELDS = ("schedule", "concurrency", "timezone")

SCHEDULE_FORMS = (
    "rate(N minute|minutes|hour|hours|day|days) (singular for 1), "
    "cron(minutes hours day-of-month month day-of-week year) with six AWS fields and "
    "'?' in day-of-month or day-of-week, or at(yyyy-mm-ddThh:mm:ss)"
)


class SettingsError(ValueError):
    """Invalid stack config; `problems` has one line per bad value."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"invalid stack config: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"invalid stack config ({len(self.problems)} problems):\n{lines}"
        super().__init__(message)


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
        problems = _schedule_problems(self.schedule, self.concurrency, self.timezone)
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


def warm_input(concurrency: int, hold_ms: int) -> dict[str, int]:
    """The warmer's event: how many instances to reach, how long each holds its instance.

    Holding only keeps concurrent warm-ups on distinct instances; a lone warm-up has
    nothing to keep apart from, so it does not hold (and is not billed for holding).
    """
    return {"concurrency": concurrency, "hold_ms": hold_ms if concurrency > 1 else 0}


def _schedule_problems(schedule: object, concurrency: object, timezone: object) -> dict[str, str]:
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


@dataclass(frozen=True)
class Settings:
    """Everything the stack is configured with, validated (see `Pulumi.yaml` for meanings)."""

    memory_size: int
    timeout: int
    architecture: str
    runtime: str
    model_dir: str
    reserved_concurrency: int
    throttle_rate: float
    throttle_burst: int
    cors_origins: tuple[str, ...]
    log_retention_days: int
    keep_images: int
    warm_schedules: tuple[WarmSchedule, ...]
    warm_hold_ms: int
    prewarm_on_deploy: bool
    provisioned_concurrency: int
    log_level: str
    snap_start: bool
    snap_start_versions: int
    monitoring: str
    alarm_email: str | None
    cold_start_alarm: float
    """Percent of requests that may wait for an instance start before the alarm fires."""

    @property
    def platform(self) -> str:
        """The Docker build platform whose binaries run on `architecture`."""
        return "linux/arm64" if self.architecture == "arm64" else "linux/amd64"


# --- reading raw values -------------------------------------------------------------------


class _Invalid(Exception):
    """A raw value that does not fit; the message says what is allowed."""


def _integer(raw: object, low: int, high: int | None = None, unit: str = "") -> int:
    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    allowed += f" {unit}" if unit else ""
    value: object = raw
    if (isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw)) or (
        isinstance(raw, float) and raw.is_integer()
    ):
        value = int(raw)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"must be {allowed}")
    if value < low or (high is not None and value > high):
        raise _Invalid(f"must be {allowed}")
    return value


def _number(raw: object, low_exclusive: float, high: float) -> float:
    allowed = f"must be a number above {low_exclusive:g} and at most {high:g}"
    if isinstance(raw, bool):
        raise _Invalid(allowed)
    try:
        value = float(raw) if isinstance(raw, int | float | str) else float("nan")
    except ValueError:
        raise _Invalid(allowed) from None
    if not low_exclusive < value <= high:  # also rejects nan
        raise _Invalid(allowed)
    return value


def _boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _Invalid("must be true or false")


def _string(raw: object, allowed: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _Invalid(f"must be {allowed}")
    return raw.strip()


def _structured(raw: object, what: str) -> object:
    """Lists arrive from Pulumi as JSON text and from YAML files as lists."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise _Invalid(f"must be {what} (JSON or YAML list)") from None
    return raw


def _architecture(raw: object) -> str:
    value = _string(raw, "x86_64 or arm64")
    if value not in ARCHITECTURES:
        raise _Invalid("must be x86_64 or arm64")
    return value


def _runtime(raw: object) -> str:
    allowed = " or ".join(RUNTIMES)
    value = _string(raw, allowed)
    if value not in RUNTIMES:
        raise _Invalid(f"must be {allowed}")
    return value


def _log_level(raw: object) -> str:
    allowed = f"one of {', '.join(LOG_LEVELS)}"
    value = _string(raw, allowed).upper()
    if value not in LOG_LEVELS:
        raise _Invalid(f"must be {allowed}")
    return value


def _model_dir(raw: object) -> str:
    allowed = "a relative path inside function/, such as model"
    value = _string(raw, allowed)
    path = Path(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        raise _Invalid(f"must be {allowed}")
    return path.as_posix()


def _monitoring(raw: object) -> str:
    allowed = "off, dashboard or alarms (the dashboard, alarms and their SNS topic)"
    value = _string(raw, allowed).lower()
    if value not in MONITORING_MODES:
        raise _Invalid(f"must be {allowed}")
    return value


def _alarm_email(raw: object) -> str | None:
    """An address for the alarm topic, or none ("")."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str) or not _EMAIL.fullmatch(raw.strip()):
        raise _Invalid('must be an e-mail address such as ops@example.com, or "" for none')
    return raw.strip()


def _cors_origins(raw: object) -> tuple[str, ...]:
    allowed = 'must be a list of origins scheme://host[:port] (http or https, no path), or ["*"]'
    value = _structured(raw, "a list of origins")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Invalid(allowed)
    origins = tuple(value)
    if "*" in origins:
        if len(origins) > 1:
            raise _Invalid(f'{allowed}: "*" allows every origin and stands alone')
        return origins
    bad = [origin for origin in origins if not _ORIGIN.fullmatch(origin)]
    if bad:
        raise _Invalid(f"{allowed}; not an origin: {', '.join(bad)}")
    return origins


def _log_retention(raw: object) -> int:
    days = ", ".join(str(day) for day in LOG_RETENTION_DAYS)
    try:
        value = _integer(raw, 0)
    except _Invalid:
        raise _Invalid(f"must be one of {days} (0 = never expire)") from None
    if value not in LOG_RETENTION_DAYS:
        raise _Invalid(f"must be one of {days} (0 = never expire)")
    return value


def _warm_schedules(raw: object) -> Iterator[tuple[str, object, str] | WarmSchedule]:
    """Yield each schedule, or (sub-key, value, problem) for each bad part of one."""
    value = _structured(raw, "a list of {schedule, concurrency, timezone}")
    if not isinstance(value, list):
        raise _Invalid("must be a list of {schedule, concurrency, timezone}; [] turns warming off")
    for index, entry in enumerate(value):
        where = f"[{index}]"
        if not isinstance(entry, Mapping):
            yield where, entry, "must be a mapping {schedule, concurrency, timezone}"
            continue
        extra = sorted(str(key) for key in entry if key not in _SCHEDULE_FIELDS)
        if extra:
            allowed = f"unknown field {', '.join(extra)}; allowed: {', '.join(_SCHEDULE_FIELDS)}"
            yield where, dict(entry), allowed
            continue
        if "schedule" not in entry:
            yield where, dict(entry), f"needs a schedule: {SCHEDULE_FORMS}"
            continue
        fields: dict[str, Any] = {
            "schedule": entry["schedule"],
            "concurrency": entry.get("concurrency", 1),
            "timezone": entry.get("timezone", "UTC"),
        }
        with suppress(_Invalid):
            fields["concurrency"] = _integer(fields["concurrency"], 1)
        problems = _schedule_problems(**fields)
        for name, problem in problems.items():
            yield f"{where}.{name}", fields[name], problem
        if not problems:
            yield WarmSchedule(**fields)


_KEYS: dict[str, str] = {
    "memorySize": "memory_size",
    "timeout": "timeout",
    "architecture": "architecture",
    "runtime": "runtime",
    "modelDir": "model_dir",
    "reservedConcurrency": "reserved_concurrency",
    "throttleRate": "throttle_rate",
    "throttleBurst": "throttle_burst",
    "corsOrigins": "cors_origins",
    "logRetentionDays": "log_retention_days",
    "keepImages": "keep_images",
    "warmSchedules": "warm_schedules",
    "warmHoldMs": "warm_hold_ms",
    "prewarmOnDeploy": "prewarm_on_deploy",
    "provisionedConcurrency": "provisioned_concurrency",
    "logLevel": "log_level",
    "snapStart": "snap_start",
    "snapStartVersions": "snap_start_versions",
    "monitoring": "monitoring",
    "alarmEmail": "alarm_email",
    "coldStartAlarm": "cold_start_alarm",
}
"""Config key (as in `Pulumi.yaml`, without `lukewarm:`) → `Settings` field."""

_SIMPLE: dict[str, Callable[[object], Any]] = {
    "memorySize": lambda raw: _integer(raw, *MEMORY_MB, unit="(MB)"),
    "timeout": lambda raw: _integer(
        raw, 1, API_TIMEOUT_S, "(seconds; the HTTP API gives up at 30)"
    ),
    "architecture": _architecture,
    "runtime": _runtime,
    "modelDir": _model_dir,
    "reservedConcurrency": lambda raw: _integer(raw, 0, unit="(0 = no reservation)"),
    "throttleRate": lambda raw: _number(raw, 0, MAX_API_RATE),
    "throttleBurst": lambda raw: _integer(raw, 1, MAX_API_BURST),
    "corsOrigins": _cors_origins,
    "logRetentionDays": _log_retention,
    "keepImages": lambda raw: _integer(raw, 1),
    "warmHoldMs": lambda raw: _integer(raw, 0, MAX_HOLD_MS, "(ms)"),
    "prewarmOnDeploy": _boolean,
    "provisionedConcurrency": lambda raw: _integer(raw, 0),
    "logLevel": _log_level,
    "snapStart": _boolean,
    "snapStartVersions": lambda raw: _integer(raw, 1, MAX_SNAPSTART_VERSIONS),
    "monitoring": _monitoring,
    "alarmEmail": _alarm_email,
    "coldStartAlarm": lambda raw: _number(raw, 0, 100),
}


def _show(value: object) -> str:
    if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
        with suppress(json.JSONDecodeError):
            value = json.loads(value)
    return json.dumps(value, default=str)


def _problem(key: str, value: object, allowed: str) -> str:
    return f"{PROJECT}:{key} = {_show(value)}: {allowed}"


@cache
def _project_defaults(project_file: Path) -> Mapping[str, object]:
    document = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    declared = document.get("config") or {}
    defaults = {}
    for key, declaration in declared.items():
        name = key.removeprefix(f"{PROJECT}:")
        if name in _KEYS:
            defaults[name] = declaration["default"]
    missing = sorted(set(_KEYS) - set(defaults))
    if missing:
        raise SettingsError([f"{project_file} declares no default for {', '.join(missing)}"])
    return defaults


def project_defaults(project_dir: Path = ROOT) -> dict[str, object]:
    """The default of every config key, as declared in `Pulumi.yaml`."""
    return dict(_project_defaults(project_dir / "Pulumi.yaml"))


def load_settings(values: Mapping[str, object] | None = None, project_dir: Path = ROOT) -> Settings:
    """Validate config values (Pulumi's strings or YAML-typed values) over the defaults.

    Keys are config keys with or without the `lukewarm:` prefix; a key that is missing or
    None takes its `Pulumi.yaml` default. Raises `SettingsError` listing every problem.
    """
    merged: dict[str, object] = project_defaults(project_dir)
    problems: list[str] = []
    for key, raw in (values or {}).items():
        name = key.removeprefix(f"{PROJECT}:")
        if name not in _KEYS:
            problems.append(_problem(name, raw, f"unknown key; known keys: {', '.join(_KEYS)}"))
        elif raw is not None:
            merged[name] = raw

    fields: dict[str, Any] = {}
    for name, parse in _SIMPLE.items():
        try:
            fields[_KEYS[name]] = parse(merged[name])
        except _Invalid as error:
            problems.append(_problem(name, merged[name], str(error)))
    schedules: list[WarmSchedule] = []
    try:
        for item in _warm_schedules(merged["warmSchedules"]):
            if isinstance(item, WarmSchedule):
                schedules.append(item)
            else:
                where, value, allowed = item
                problems.append(_problem(f"warmSchedules{where}", value, allowed))
    except _Invalid as error:
        problems.append(_problem("warmSchedules", merged["warmSchedules"], str(error)))
    fields["warm_schedules"] = tuple(schedules)
    if not problems:
        problems.extend(_cross_checks(fields))
    if problems:
        raise SettingsError(problems)
    return Settings(**fields)


def _cross_checks(fields: Mapping[str, Any]) -> Iterator[str]:
    """Values that are fine alone but contradict each other."""
    # With no reservation (0) the function shares the account's unreserved pool, whose
    # size only AWS knows; only a reservation is a cap these values can contradict.
    reserved = fields["reserved_concurrency"] or None
    if reserved is not None and fields["provisioned_concurrency"] > reserved:
        yield _problem(
            "provisionedConcurrency",
            fields["provisioned_concurrency"],
            f"must be at most reservedConcurrency ({reserved})",
        )
    if fields["snap_start"] and fields["provisioned_concurrency"] > 0:
        yield _problem(
            "snapStart",
            True,
            "cannot be used with lukewarm:provisionedConcurrency "
            f"({fields['provisioned_concurrency']}); AWS allows one or the other: "
            "set provisionedConcurrency to 0 or snapStart to false",
        )
    for index, schedule in enumerate(fields["warm_schedules"]):
        if reserved is not None and schedule.concurrency > reserved:
            yield _problem(
                f"warmSchedules[{index}].concurrency",
                schedule.concurrency,
                f"must be at most reservedConcurrency ({reserved}); more would be throttled",
            )
    if fields["alarm_email"] and fields["monitoring"] != "alarms":
        yield _problem(
            "alarmEmail",
            fields["alarm_email"],
            f"needs lukewarm:monitoring = alarms (it is {fields['monitoring']}): "
            "only alarms send mail",
        )
    if fields["warm_schedules"] and fields["warm_hold_ms"] >= fields["timeout"] * 1000:
        yield _problem(
            "warmHoldMs",
            fields["warm_hold_ms"],
            f"must be shorter than the function timeout ({fields['timeout']} s)",
        )


def stack_settings(stack: str | None = None, project_dir: Path = ROOT) -> Settings:
    """The settings of a stack as its files say: `Pulumi.yaml` defaults + `Pulumi.<stack>.yaml`.

    For the tools that run without Pulumi (`lukewarm serve --stack`, `lukewarm cost --stack`);
    with no stack, the defaults.
    """
    if stack is None:
        return load_settings(project_dir=project_dir)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(
            path.name[len("Pulumi.") : -len(".yaml")] for path in _stack_files(project_dir)
        )
        raise SettingsError(
            [f"no stack file {stack_file.name} in {project_dir} (stacks here: {known or 'none'})"]
        )
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    config = document.get("config") or {}
    values = {key: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
    return load_settings(values, project_dir=project_dir)


def _stack_files(project_dir: Path) -> Iterator[Path]:
    return (path for path in project_dir.glob("Pulumi.*.yaml") if path.name != "Pulumi.yaml")


def from_pulumi_config() -> Settings:
    """The settings inside a running Pulumi program, from `pulumi.Config("lukewarm")`."""
    # Imported here: the local tools read settings without paying for Pulumi's import.
    import pulumi  # noqa: PLC0415
    import pulumi.runtime.config  # noqa: PLC0415

    # Every lukewarm: key the stack sets, so that a misspelt key fails instead of being
    # ignored. `pulumi up` hands config over in PULUMI_CONFIG; tests set it in-process.
    given = {*pulumi.runtime.config.CONFIG.get(), *pulumi.runtime.config.get_config_env()}
    names = set(_KEYS) | {
        key.removeprefix(f"{PROJECT}:") for key in given if key.startswith(f"{PROJECT}:")
    }
    config = pulumi.Config(PROJECT)
    return load_settings({name: config.get(name) for name in sorted(names)})
