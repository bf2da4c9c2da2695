"""The stack's settings: every `lukewarm:` config key, typed and validated in one place.

The defaults live in `Pulumi.yaml` and nowhere else, so `pulumi up`, the Pulumi tests
(where Pulumi applies no defaults), `lukewarm serve --stack` and `lukewarm cost --stack`
all see the same values. Every value is checked before any resource exists, and all the
problems are reported together, each naming the key, the value and what is allowed.

A key is one `setting(key, parser)` field of `Settings` (its parser says what is allowed)
plus its declaration in `Pulumi.yaml` (default and description): adding one is that edit
and its test. When warm windows fire is `infra.schedules`'.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from contract import HUB_MODEL_FORMAT, MAX_HOLD_MS, MAX_KEPT_VERSIONS, RUNTIMES
from infra.schedules import SCHEDULE_FORMS, WarmSchedule, schedule_problems

PROJECT = "lukewarm"
ROOT = Path(__file__).resolve().parent.parent
"""The repository root: where `Pulumi.yaml`, the stack files and `function/` live."""

MEMORY_MB = (128, 10240)
API_TIMEOUT_S = 30
"""HTTP API's integration timeout (hard). Every caption request comes through the API, so
a longer function timeout would only bill for answers nobody receives."""
# fmt: off
LOG_RETENTION_DAYS = (
    0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)
# fmt: on
"""What CloudWatch Logs accepts; 0 means never expire."""
ARCHITECTURES = ("x86_64", "arm64")
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
"""Application log levels that both Lambda's logging config and Python's logging know."""
AUTH_MODES = ("none", "iam", "jwt")
"""Who may call the caption route: anyone (throttled), SigV4-signed IAM principals, or
holders of a JWT from one issuer for one of the audiences."""
MAX_API_RATE = 10_000.0
MAX_API_BURST = 5_000
"""API Gateway's default account-level throttle per region."""
MONITORING_MODES = ("off", "dashboard", "alarms")

_ORIGIN = re.compile(
    r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(:\d{1,5})?"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SCHEDULE_FIELDS = ("schedule", "concurrency", "timezone")


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


# --- reading raw values -------------------------------------------------------------------


class _Invalid(Exception):
    """A raw value that does not fit; the message says what is allowed."""


class _InvalidParts(Exception):
    """A structured value with bad parts: (sub-key, value, what is allowed) for each."""

    def __init__(self, parts: Sequence[tuple[str, object, str]]) -> None:
        super().__init__(parts)
        self.parts = tuple(parts)


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
            raise _Invalid(f"must be {what} (JSON or YAML)") from None
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


def _auth(raw: object) -> str:
    allowed = "none, iam or jwt"
    value = _string(raw, allowed).lower()
    if value not in AUTH_MODES:
        raise _Invalid(f"must be {allowed}")
    return value


def _jwt_issuer(raw: object) -> str | None:
    """An OIDC issuer URL, exactly as its tokens' `iss` says it; "" for none."""
    if raw is None or raw == "":
        return None
    allowed = (
        "must be the issuer's https:// URL, exactly as its tokens' iss claim says it "
        "(e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID), or empty"
    )
    if not isinstance(raw, str):
        raise _Invalid(allowed)
    parts = urllib.parse.urlsplit(raw)
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(character.isspace() for character in raw)
    ):
        raise _Invalid(allowed)
    return raw


def _jwt_audience(raw: object) -> str | None:
    """The audience a token must be for (an app client id, an API identifier); "" for none."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or raw != raw.strip() or any(c.isspace() for c in raw):
        raise _Invalid("must be the audience a token is for (such as an app client id), or empty")
    return raw


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
        problems = schedule_problems(**fields)
        for name, problem in problems.items():
            yield f"{where}.{name}", fields[name], problem
        if not problems:
            yield WarmSchedule(**fields)


def _warm_schedule_list(raw: object) -> tuple[WarmSchedule, ...]:
    """Every window, or `_InvalidParts` naming each bad part of each bad one."""
    schedules: list[WarmSchedule] = []
    parts: list[tuple[str, object, str]] = []
    for item in _warm_schedules(raw):
        if isinstance(item, WarmSchedule):
            schedules.append(item)
        else:
            parts.append(item)
    if parts:
        raise _InvalidParts(parts)
    return tuple(schedules)


TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}")
TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")
MAX_USER_TAGS = 50 - 3
"""AWS allows 50 tags a resource; lukewarm's own project, stack and component are 3."""


def _tags(raw: object) -> Mapping[str, str]:
    tags = _structured(raw, "a mapping of tag names to values")
    if not isinstance(tags, dict):
        raise _Invalid('must be a mapping of tag names to values, e.g. {"team": "vision"}')
    problems = []
    for key, value in tags.items():
        if not isinstance(value, str) or not TAG_VALUE.fullmatch(value):
            problems.append(f"{key}: a value is 0-256 letters, digits, spaces or _.:/=+-@")
        if not TAG_KEY.fullmatch(key):
            problems.append(f"{key!r}: a name is 1-128 letters, digits, spaces or _.:/=+-@")
        elif key.lower().startswith(("aws:", "lukewarm:")):
            problems.append(f"{key}: names starting aws: or lukewarm: are reserved")
    if len(tags) > MAX_USER_TAGS:
        problems.append(f"at most {MAX_USER_TAGS} tags (AWS's 50, less lukewarm's own 3)")
    if problems:
        raise _Invalid("; ".join(problems))
    return dict(tags)


# --- the settings: one field per config key -------------------------------------------


def setting(key: str, parse: Callable[[object], Any]) -> Any:
    """A `Settings` field read from `lukewarm:<key>` by `parse` (which raises `_Invalid`
    saying what is allowed). The key's default and description are declared in
    `Pulumi.yaml`, and nowhere else."""
    return field(metadata={"key": key, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """Everything the stack is configured with, validated (see `Pulumi.yaml` for meanings)."""

    memory_size: int = setting("memorySize", lambda raw: _integer(raw, *MEMORY_MB, unit="(MB)"))
    timeout: int = setting(
        "timeout",
        lambda raw: _integer(raw, 1, API_TIMEOUT_S, "(seconds; the HTTP API gives up at 30)"),
    )
    architecture: str = setting("architecture", _architecture)
    runtime: str = setting("runtime", _runtime)
    model_dir: str = setting("modelDir", _model_dir)
    reserved_concurrency: int = setting(
        "reservedConcurrency", lambda raw: _integer(raw, 0, unit="(0 = no reservation)")
    )
    throttle_rate: float = setting("throttleRate", lambda raw: _number(raw, 0, MAX_API_RATE))
    throttle_burst: int = setting("throttleBurst", lambda raw: _integer(raw, 1, MAX_API_BURST))
    cors_origins: tuple[str, ...] = setting("corsOrigins", _cors_origins)
    log_retention_days: int = setting("logRetentionDays", _log_retention)
    keep_images: int = setting("keepImages", lambda raw: _integer(raw, 1))
    warm_schedules: tuple[WarmSchedule, ...] = setting("warmSchedules", _warm_schedule_list)
    warm_hold_ms: int = setting("warmHoldMs", lambda raw: _integer(raw, 0, MAX_HOLD_MS, "(ms)"))
    prewarm_on_deploy: bool = setting("prewarmOnDeploy", _boolean)
    provisioned_concurrency: int = setting("provisionedConcurrency", lambda raw: _integer(raw, 0))
    log_level: str = setting("logLevel", _log_level)
    snap_start: bool = setting("snapStart", _boolean)
    snap_start_versions: int = setting(
        "snapStartVersions", lambda raw: _integer(raw, 1, MAX_KEPT_VERSIONS)
    )
    auth: str = setting("auth", _auth)
    jwt_issuer: str | None = setting("jwtIssuer", _jwt_issuer)
    jwt_audience: str | None = setting("jwtAudience", _jwt_audience)
    monitoring: str = setting("monitoring", _monitoring)
    alarm_email: str | None = setting("alarmEmail", _alarm_email)
    cold_start_alarm: float = setting("coldStartAlarm", lambda raw: _number(raw, 0, 100))
    """Percent of requests that may wait for an instance start before the alarm fires."""
    tags: Mapping[str, str] = setting("tags", _tags)

    @property
    def platform(self) -> str:
        """The Docker build platform whose binaries run on `architecture`."""
        return "linux/arm64" if self.architecture == "arm64" else "linux/amd64"


_KEYS: dict[str, str] = {f.metadata["key"]: f.name for f in fields(Settings)}
"""Config key (as in `Pulumi.yaml`, without `lukewarm:`) → `Settings` field."""
_PARSERS: dict[str, Callable[[object], Any]] = {
    f.metadata["key"]: f.metadata["parse"] for f in fields(Settings)
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

    values_read: dict[str, Any] = {}
    # The bad parts of a list come after the bad single values, each under its sub-key.
    part_problems: list[str] = []
    for name, parse in _PARSERS.items():
        try:
            values_read[_KEYS[name]] = parse(merged[name])
        except _Invalid as error:
            problems.append(_problem(name, merged[name], str(error)))
        except _InvalidParts as error:
            part_problems += [_problem(f"{name}{where}", v, a) for where, v, a in error.parts]
    problems += part_problems
    if not problems:
        problems.extend(_cross_checks(values_read))
    if problems:
        raise SettingsError(problems)
    return Settings(**values_read)


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
    if fields["snap_start_versions"] > fields["keep_images"]:
        # A kept version whose image the lifecycle policy deleted can never run again.
        yield _problem(
            "snapStartVersions",
            fields["snap_start_versions"],
            f"must be at most keepImages ({fields['keep_images']}): a version whose image"
            " was deleted cannot run, but its snapshot would still be billed",
        )
    for index, schedule in enumerate(fields["warm_schedules"]):
        if reserved is not None and schedule.concurrency > reserved:
            yield _problem(
                f"warmSchedules[{index}].concurrency",
                schedule.concurrency,
                f"must be at most reservedConcurrency ({reserved}); more would be throttled",
            )
    if fields["runtime"] == "torch" and _is_hub_import(fields["model_dir"]):
        yield _problem(
            "runtime",
            "torch",
            f"cannot serve function/{fields['model_dir']}, an imported Hub model "
            "(lukewarm import), which runs on onnx only: set lukewarm:runtime to onnx",
        )
    yield from _auth_checks(fields)
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


def _is_hub_import(model_dir: str) -> bool:
    """Whether function/`model_dir` holds an imported Hub model (read without importing
    the captioner: the program never loads the function's code)."""
    try:
        data = json.loads((ROOT / "function" / model_dir / "config.json").read_bytes())
    except (OSError, ValueError, RecursionError):  # not one; the image build says why
        return False
    return isinstance(data, dict) and data.get("format") == HUB_MODEL_FORMAT


MEMORY_HEADROOM = 1.2
"""memorySize over an imported model's measured peak RSS: the peak was measured once, on
one machine; another run, allocator or Lambda's own runtime process takes a little more."""
MEMORY_STEP_MB = 64


def memory_floor(peak_rss_mb: float) -> int:
    """The least memorySize for a model whose measured peak RSS is `peak_rss_mb`: the peak
    plus headroom, rounded up to a multiple of 64 MB."""
    wanted = peak_rss_mb * MEMORY_HEADROOM
    return int(-(-wanted // MEMORY_STEP_MB) * MEMORY_STEP_MB)


def model_measurements(model_dir: str) -> dict[str, Any] | None:
    """What `lukewarm import` measured for function/`model_dir` (its manifest's `measured`:
    peak RSS on the largest accepted image, load and caption seconds), or None for a model
    without them (the demo model, a conversion, an import from before they were kept)."""
    try:
        data = json.loads((ROOT / "function" / model_dir / "onnx" / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    measured = data.get("measured") if isinstance(data, dict) else None
    if not isinstance(measured, dict) or not isinstance(measured.get("peak_rss_mb"), int | float):
        return None
    return measured


def warnings_for(settings: Settings) -> list[str]:
    """What preview warns about without refusing: a memorySize below what the model was
    measured to need. Lambda would kill the instance mid-caption on a large photo."""
    measured = model_measurements(settings.model_dir)
    if measured is None:
        return []
    floor = memory_floor(float(measured["peak_rss_mb"]))
    if settings.memory_size >= floor:
        return []
    return [
        f"lukewarm:memorySize {settings.memory_size} MB is below what function/"
        f"{settings.model_dir} needs: its peak RSS was {measured['peak_rss_mb']:,.0f} MB on the "
        f"largest accepted image (measured by lukewarm import), {floor} MB with headroom. "
        f"Lambda ends an instance that runs out of memory mid-caption: "
        f"pulumi config set lukewarm:memorySize {floor}"
    ]


def _auth_checks(fields: Mapping[str, Any]) -> Iterator[str]:
    """A JWT authorizer needs both its issuer and its audience; no other mode uses them, and
    setting them without `auth: jwt` would leave the API public while looking protected."""
    for key, value in (
        ("jwtIssuer", fields["jwt_issuer"]),
        ("jwtAudience", fields["jwt_audience"]),
    ):
        if fields["auth"] == "jwt" and not value:
            yield _problem(key, value or "", "must be set when lukewarm:auth is jwt")
        elif fields["auth"] != "jwt" and value:
            yield _problem(
                key,
                value,
                f"is used only with lukewarm:auth jwt (auth is {fields['auth']}): "
                "set auth to jwt, or remove this key",
            )


def stack_settings(
    stack: str | None = None,
    project_dir: Path = ROOT,
    overrides: Mapping[str, object] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """The settings of a stack as its files say: `Pulumi.yaml` defaults + `Pulumi.<stack>.yaml`,
    then `overrides` (a tool's flags, by key), all checked as `pulumi up` checks them.

    For the tools that run without Pulumi (`lukewarm serve --stack`, `lukewarm cost --stack`);
    with no stack, the defaults. A key the stack file sets that lukewarm will never read
    (a misspelt namespace, a bare key) goes to `warn` (default: standard error).
    """
    values: dict[str, object] = {}
    if stack is not None:
        stack_file = project_dir / f"Pulumi.{stack}.yaml"
        if not stack_file.is_file():
            known = sorted(
                path.name[len("Pulumi.") : -len(".yaml")] for path in _stack_files(project_dir)
            )
            here = f"stacks here: {known or 'none'}"
            raise SettingsError([f"no stack file {stack_file.name} in {project_dir} ({here})"])
        config = read_stack_config(stack_file)
        for message in misplaced_keys(config):
            (warn or _warn)(f"{stack_file.name}: {message}")
        values = {key: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return load_settings(values, project_dir=project_dir)


def read_stack_config(stack_file: Path) -> dict[str, object]:
    """A stack file's `config:` mapping; a file that is not one is a `SettingsError` naming the
    file and the line, as a person would look for it."""
    try:
        document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SettingsError([f"{stack_file.name}{where}: not valid YAML ({problem})"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError([f"{stack_file.name}: cannot be read ({error})"]) from None
    if not isinstance(document, dict):
        raise SettingsError([f"{stack_file.name}: must be a mapping with a config: section"])
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError(
            [
                f"{stack_file.name}: config: must be a mapping of keys to values, "
                f"not a {type(config).__name__}"
            ]
        )
    return {str(key): value for key, value in config.items()}


def misplaced_keys(keys: Iterable[str]) -> list[str]:
    """What to say of config keys meant for lukewarm that it will never read: another
    namespace close to `lukewarm` (`lukwarm:runtime`) or no namespace (`memorySize`), each
    with the nearest `lukewarm:` key. Other namespaces (`aws:region`) are left alone."""
    messages = []
    for key in keys:
        namespace, colon, name = key.rpartition(":")
        if namespace == PROJECT:
            continue
        if colon and not difflib.get_close_matches(namespace, [PROJECT], n=1, cutoff=0.7):
            continue
        nearest = difflib.get_close_matches(name, list(_KEYS), n=1, cutoff=0.6)
        if not nearest and not colon:
            continue
        suggestion = f"{PROJECT}:{nearest[0]}" if nearest else f"a {PROJECT}: key"
        messages.append(f"{key} is not a {PROJECT}: key and is ignored; did you mean {suggestion}?")
    return messages


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _stack_files(project_dir: Path) -> Iterator[Path]:
    """Every stack's file; the pattern leaves out Pulumi.yaml, the project's."""
    return project_dir.glob("Pulumi.*.yaml")


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
    for message in misplaced_keys(given):
        pulumi.log.warn(message)
    config = pulumi.Config(PROJECT)
    return load_settings({name: config.get(name) for name in sorted(names)})
