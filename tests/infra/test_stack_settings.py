"""Stack settings: defaults from Pulumi.yaml, every validation message, schedule times."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from contract import MAX_HOLD_MS, MAX_WARM_CONCURRENCY, parse_warmer_input
from infra.settings import (
    ROOT,
    Settings,
    SettingsError,
    WarmSchedule,
    load_settings,
    project_defaults,
    stack_settings,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_documented_defaults() -> None:
    # Literal values, not Pulumi.yaml read back: a changed default must change this test too.
    assert load_settings() == Settings(
        memory_size=1769,
        timeout=30,
        architecture="x86_64",
        runtime="onnx",
        model_dir="model",
        reserved_concurrency=0,
        throttle_rate=10.0,
        throttle_burst=20,
        cors_origins=(),
        log_retention_days=14,
        keep_images=5,
        warm_schedules=(WarmSchedule("rate(5 minutes)", 1, "UTC"),),
        warm_hold_ms=500,
        prewarm_on_deploy=True,
        provisioned_concurrency=0,
        log_level="INFO",
        snap_start=False,
        snap_start_versions=1,
        auth="none",
        jwt_issuer=None,
        jwt_audience=None,
        monitoring="dashboard",
        alarm_email=None,
        cold_start_alarm=15.0,
        tags={},
    )


def test_every_key_in_pulumi_yaml_has_type_or_default_and_description() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert {key.removeprefix("lukewarm:") for key in declared} == set(project_defaults())
    for key, declaration in declared.items():
        assert declaration["description"], key
        assert "default" in declaration, key


@pytest.mark.parametrize("key", ["reservedConcurrency", "provisionedConcurrency"])
def test_the_concurrency_keys_name_the_accounts_real_unreserved_floor(key: str) -> None:
    """The floor AWS keeps unreserved is 10 on a new account and 10, 50 or 100 elsewhere;
    a description that promises 100 sends a new account's user the wrong way."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    description = " ".join(declared[f"lukewarm:{key}"]["description"].split())
    assert "10 on a new account" in description
    assert "10, 50 or 100 elsewhere" in description
    assert "100 by AWS's docs" not in description


def test_declared_types_fit_their_defaults_as_pulumi_checks_them() -> None:
    # Pulumi rejects a project whose typed default does not match its type; its types
    # are only these four, so throttleRate (a float), warmSchedules (objects) and tags (a
    # mapping) are untyped.
    python_types = {"integer": int, "boolean": bool, "string": str, "array": list}
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key, declaration in declared.items():
        if "type" not in declaration:
            assert key in {
                "lukewarm:throttleRate",
                "lukewarm:warmSchedules",
                "lukewarm:coldStartAlarm",
                "lukewarm:tags",
            }, key
            continue
        assert isinstance(declaration["default"], python_types[declaration["type"]]), key
        if declaration["type"] == "array":
            item_type = python_types[declaration["items"]["type"]]
            assert all(isinstance(item, item_type) for item in declaration["default"]), key


def test_pulumi_strings_and_yaml_values_mean_the_same() -> None:
    as_pulumi_gives_them = load_settings(
        {
            "memorySize": "3008",
            "timeout": "20",
            "architecture": "arm64",
            "throttleRate": "2.5",
            "corsOrigins": '["https://example.com", "http://localhost:8080"]',
            "warmSchedules": '[{"schedule": "rate(1 hour)", "concurrency": 2}]',
            "prewarmOnDeploy": "false",
        }
    )
    as_yaml_gives_them = load_settings(
        {
            "lukewarm:memorySize": 3008,
            "lukewarm:timeout": 20,
            "lukewarm:architecture": "arm64",
            "lukewarm:throttleRate": 2.5,
            "lukewarm:corsOrigins": ["https://example.com", "http://localhost:8080"],
            "lukewarm:warmSchedules": [{"schedule": "rate(1 hour)", "concurrency": 2}],
            "lukewarm:prewarmOnDeploy": False,
        }
    )
    assert as_pulumi_gives_them == as_yaml_gives_them
    assert as_yaml_gives_them.memory_size == 3008
    assert as_yaml_gives_them.architecture == "arm64"
    assert as_yaml_gives_them.warm_schedules == (WarmSchedule("rate(1 hour)", 2, "UTC"),)
    assert as_yaml_gives_them.prewarm_on_deploy is False


ORIGINS = 'must be a list of origins scheme://host[:port] (http or https, no path), or ["*"]'
RETENTION_DAYS = (
    "must be one of 0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, "
    "1827, 2192, 2557, 2922, 3288, 3653 (0 = never expire)"
)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (
            "memorySize",
            "127",
            'lukewarm:memorySize = "127": must be an integer from 128 to 10240 (MB)',
        ),
        (
            "memorySize",
            10241,
            "lukewarm:memorySize = 10241: must be an integer from 128 to 10240 (MB)",
        ),
        (
            "memorySize",
            "lots",
            'lukewarm:memorySize = "lots": must be an integer from 128 to 10240 (MB)',
        ),
        (
            "memorySize",
            True,
            "lukewarm:memorySize = true: must be an integer from 128 to 10240 (MB)",
        ),
        (
            "modelDir",
            5,
            "lukewarm:modelDir = 5: must be a relative path inside function/, such as model",
        ),
        (
            "monitoring",
            5,
            "lukewarm:monitoring = 5: must be off, dashboard or alarms "
            "(the dashboard, alarms and their SNS topic)",
        ),
        ("auth", 5, "lukewarm:auth = 5: must be none, iam or jwt"),
        (
            "warmSchedules",
            5,
            "lukewarm:warmSchedules = 5: must be a list of {schedule, concurrency, timezone}; "
            "[] turns warming off",
        ),
        (
            "tags",
            5,
            'lukewarm:tags = 5: must be a mapping of tag names to values, e.g. {"team": "vision"}',
        ),
        (
            "warmSchedules",
            "[oops",
            'lukewarm:warmSchedules = "[oops": must be a list of '
            "{schedule, concurrency, timezone} (JSON or YAML)",
        ),
        (
            "tags",
            "{oops",
            'lukewarm:tags = "{oops": must be a mapping of tag names to values (JSON or YAML)',
        ),
        (
            "tags",
            {"aws:team": "vision", "b" * 129: "x"},
            f'lukewarm:tags = {{"aws:team": "vision", "{"b" * 129}": "x"}}: aws:team: names '
            f"starting aws: or lukewarm: are reserved; '{'b' * 129}': a name is 1-128 letters, "
            "digits, spaces or _.:/=+-@",
        ),
        (
            "throttleRate",
            True,
            "lukewarm:throttleRate = true: must be a number above 0 and at most 10000",
        ),
        (
            "coldStartAlarm",
            [5],
            "lukewarm:coldStartAlarm = [5]: must be a number above 0 and at most 100",
        ),
        (
            "timeout",
            31,
            "lukewarm:timeout = 31: must be an integer from 1 to 30 "
            "(seconds; the HTTP API gives up at 30)",
        ),
        (
            "timeout",
            "0",
            'lukewarm:timeout = "0": must be an integer from 1 to 30 '
            "(seconds; the HTTP API gives up at 30)",
        ),
        ("architecture", "aarch64", 'lukewarm:architecture = "aarch64": must be x86_64 or arm64'),
        ("architecture", " ", 'lukewarm:architecture = " ": must be x86_64 or arm64'),
        (
            "modelDir",
            "../weights",
            'lukewarm:modelDir = "../weights": must be a relative path '
            "inside function/, such as model",
        ),
        (
            "modelDir",
            "/opt/model",
            'lukewarm:modelDir = "/opt/model": must be a relative path '
            "inside function/, such as model",
        ),
        (
            "modelDir",
            "models\\demo",
            'lukewarm:modelDir = "models\\\\demo": must be a relative path '
            "inside function/, such as model",
        ),
        (
            "reservedConcurrency",
            -1,
            "lukewarm:reservedConcurrency = -1: must be an integer >= 0 (0 = no reservation)",
        ),
        (
            "throttleRate",
            0,
            "lukewarm:throttleRate = 0: must be a number above 0 and at most 10000",
        ),
        (
            "throttleRate",
            "fast",
            'lukewarm:throttleRate = "fast": must be a number above 0 and at most 10000',
        ),
        (
            "throttleRate",
            [1],
            "lukewarm:throttleRate = [1]: must be a number above 0 and at most 10000",
        ),
        (
            "throttleRate",
            10001,
            "lukewarm:throttleRate = 10001: must be a number above 0 and at most 10000",
        ),
        ("throttleBurst", 0, "lukewarm:throttleBurst = 0: must be an integer from 1 to 5000"),
        (
            "corsOrigins",
            ["example.com"],
            f'lukewarm:corsOrigins = ["example.com"]: {ORIGINS}; not an origin: example.com',
        ),
        (
            "corsOrigins",
            ["https://example.com/app", "x"],
            'lukewarm:corsOrigins = ["https://example.com/app", "x"]: '
            f"{ORIGINS}; not an origin: https://example.com/app, x",
        ),
        (
            "corsOrigins",
            ["ftp://example.com"],
            f'lukewarm:corsOrigins = ["ftp://example.com"]: '
            f"{ORIGINS}; not an origin: ftp://example.com",
        ),
        (
            "corsOrigins",
            ["*", "https://example.com"],
            'lukewarm:corsOrigins = ["*", '
            f'"https://example.com"]: {ORIGINS}: "*" allows every origin and stands alone',
        ),
        (
            "corsOrigins",
            "https://example.com",
            'lukewarm:corsOrigins = "https://example.com": '
            "must be a list of origins (JSON or YAML)",
        ),
        ("corsOrigins", [1], f"lukewarm:corsOrigins = [1]: {ORIGINS}"),
        ("logRetentionDays", 10, f"lukewarm:logRetentionDays = 10: {RETENTION_DAYS}"),
        ("logRetentionDays", -1, f"lukewarm:logRetentionDays = -1: {RETENTION_DAYS}"),
        ("keepImages", 0, "lukewarm:keepImages = 0: must be an integer >= 1"),
        (
            "warmHoldMs",
            10_001,
            "lukewarm:warmHoldMs = 10001: must be an integer from 0 to 10000 (ms)",
        ),
        ("prewarmOnDeploy", "yes", 'lukewarm:prewarmOnDeploy = "yes": must be true or false'),
        (
            "provisionedConcurrency",
            -1,
            "lukewarm:provisionedConcurrency = -1: must be an integer >= 0",
        ),
        (
            "warmSchedules",
            {"schedule": "rate(5 minutes)"},
            'lukewarm:warmSchedules = {"schedule": '
            '"rate(5 minutes)"}: must be a list of {schedule, concurrency, timezone}; [] turns '
            "warming off",
        ),
        (
            "warmSchedules",
            [{"schedule": "rate(5 minutes)", "colour": "red", "size": 1}],
            'lukewarm:warmSchedules[0] = {"schedule": "rate(5 minutes)", "colour": "red", '
            '"size": 1}: unknown field colour, size; allowed: schedule, concurrency, timezone',
        ),
        (
            "warmSchedules",
            [{"schedule": "rate(5 minutes)", "concurrency": 51}],
            "lukewarm:warmSchedules[0].concurrency = 51: must be an integer from 1 to 50",
        ),
    ],
)
def test_each_invalid_value_names_key_value_and_what_is_allowed(
    key: str, value: object, problem: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({key: value})

    assert raised.value.problems == (problem,)
    assert str(raised.value) == f"invalid stack config: {problem}"


@pytest.mark.parametrize(
    ("values", "settings"),
    [
        (
            {"memorySize": 128, "timeout": 1, "warmHoldMs": 0},
            {"memory_size": 128, "timeout": 1, "warm_hold_ms": 0},
        ),
        ({"memorySize": "10240", "timeout": "30"}, {"memory_size": 10240, "timeout": 30}),
        (
            {"throttleRate": "10000", "throttleBurst": 5000},
            {"throttle_rate": 10000.0, "throttle_burst": 5000},
        ),
        ({"throttleRate": 0.5}, {"throttle_rate": 0.5}),
        ({"warmHoldMs": 10_000, "warmSchedules": []}, {"warm_hold_ms": 10_000}),
        (
            {"logRetentionDays": 0, "provisionedConcurrency": 0, "keepImages": 1},
            {"log_retention_days": 0, "provisioned_concurrency": 0, "keep_images": 1},
        ),
        ({"prewarmOnDeploy": " TRUE "}, {"prewarm_on_deploy": True}),
        ({"prewarmOnDeploy": "False"}, {"prewarm_on_deploy": False}),
        ({"prewarmOnDeploy": True}, {"prewarm_on_deploy": True}),
        ({"corsOrigins": ["*"]}, {"cors_origins": ("*",)}),
        (
            {"corsOrigins": ' ["https://example.com", "http://localhost:8080"]'},
            {"cors_origins": ("https://example.com", "http://localhost:8080")},
        ),
        (
            {"architecture": "arm64", "modelDir": "models/demo"},
            {"architecture": "arm64", "model_dir": "models/demo"},
        ),
        (
            {
                "reservedConcurrency": 50,
                "provisionedConcurrency": 50,
                "warmSchedules": [{"schedule": "rate(1 hour)", "concurrency": 50}],
            },
            {
                "reserved_concurrency": 50,
                "provisioned_concurrency": 50,
                "warm_schedules": (WarmSchedule("rate(1 hour)", 50, "UTC"),),
            },
        ),
        (
            {"warmSchedules": '[{"schedule": "rate(1 hour)", "timezone": "Europe/Berlin"}]'},
            {"warm_schedules": (WarmSchedule("rate(1 hour)", 1, "Europe/Berlin"),)},
        ),
    ],
)
def test_the_edges_of_each_range_are_accepted(
    values: dict[str, object], settings: dict[str, object]
) -> None:
    loaded = load_settings(values)
    assert {name: getattr(loaded, name) for name in settings} == settings


@pytest.mark.parametrize(
    ("schedule", "allowed"),
    [
        ("rate(5 minute)", "singular unit (minute), any other a plural"),
        ("rate(1 minutes)", "singular unit (minute), any other a plural"),
        ("rate(0 minutes)", "at least 1"),
        ("rate(5 weeks)", "rate(N minute|minutes|hour|hours|day|days)"),
        ("every 5 minutes", "rate(N minute|minutes"),
        ("cron(0 9 * * *)", "6 required, 5 provided"),
        ("cron(0 25 ? * MON-FRI *)", "Invalid hour value '25'"),
        ("cron(0 9 * * MON *)", "One must be a question mark"),
        ("cron(0 9 ? * MON#6 *)", "Invalid day-of-week value 'MON#6'"),
        ("cron(0 9 ? 13 * *)", "Invalid month value '13'"),
        ("cron(0/0 9 ? * * *)", "step must be positive"),
        ("at(2026-02-30T09:00:00)", "not a real date and time"),
        ("at(2026-12-01 09:00)", "at(yyyy-mm-ddThh:mm:ss)"),
        (5, "must be a string"),
    ],
)
def test_invalid_schedule_expressions_are_rejected_with_the_forms_allowed(
    schedule: object, allowed: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"warmSchedules": [{"schedule": schedule}]})

    (problem,) = raised.value.problems
    assert problem.startswith(f"lukewarm:warmSchedules[0].schedule = {json.dumps(schedule)}: ")
    assert allowed in problem


def test_each_bad_part_of_a_schedule_list_is_reported_where_it_is() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {
                "warmSchedules": [
                    {"schedule": "rate(5 minutes)", "concurrency": 0, "timezone": "Mars/Olympus"},
                    "rate(5 minutes)",
                    {"schedule": "rate(5 minutes)", "every": 2},
                    {"concurrency": 2},
                ]
            }
        )

    problems = raised.value.problems
    assert problems == (
        "lukewarm:warmSchedules[0].concurrency = 0: must be an integer from 1 to 50",
        'lukewarm:warmSchedules[0].timezone = "Mars/Olympus": must be an IANA time zone'
        " name, Area/Location such as Europe/Berlin, or UTC",
        'lukewarm:warmSchedules[1] = "rate(5 minutes)": must be a mapping'
        " {schedule, concurrency, timezone}",
        'lukewarm:warmSchedules[2] = {"schedule": "rate(5 minutes)", "every": 2}: unknown field'
        " every; allowed: schedule, concurrency, timezone",
        problems[4],
    )
    assert problems[4].startswith(
        'lukewarm:warmSchedules[3] = {"concurrency": 2}: needs a schedule'
    )


def test_all_problems_come_in_one_message() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"memorySize": 64, "architecture": "sparc", "memorySzie": 2048})

    header, unknown, memory, architecture = str(raised.value).split("\n")
    assert header == "invalid stack config (3 problems):"
    assert unknown.startswith(
        "  - lukewarm:memorySzie = 2048: unknown key; known keys: memorySize, "
    )
    assert memory == "  - lukewarm:memorySize = 64: must be an integer from 128 to 10240 (MB)"
    assert architecture == '  - lukewarm:architecture = "sparc": must be x86_64 or arm64'


def test_warm_limits_are_the_warmers_own() -> None:
    """What the settings accept at the edge, the warmer accepts; one past it, both refuse."""
    edge = {"concurrency": MAX_WARM_CONCURRENCY, "hold_ms": MAX_HOLD_MS}
    assert parse_warmer_input(edge) == (MAX_WARM_CONCURRENCY, MAX_HOLD_MS)
    assert load_settings({"warmHoldMs": MAX_HOLD_MS}).warm_hold_ms == MAX_HOLD_MS
    with pytest.raises(ValueError, match="hold_ms"):
        parse_warmer_input({**edge, "hold_ms": MAX_HOLD_MS + 1})
    with pytest.raises(SettingsError, match="warmHoldMs"):
        load_settings({"warmHoldMs": MAX_HOLD_MS + 1})
    with pytest.raises(ValueError, match="concurrency"):
        parse_warmer_input({**edge, "concurrency": MAX_WARM_CONCURRENCY + 1})


def test_values_that_contradict_each_other_are_rejected() -> None:
    with pytest.raises(SettingsError, match=r"provisionedConcurrency = 3: must be at most "):
        load_settings({"reservedConcurrency": 2, "provisionedConcurrency": 3})
    with pytest.raises(
        SettingsError, match=r"warmSchedules\[0\]\.concurrency = 4: must be at most"
    ):
        load_settings(
            {
                "reservedConcurrency": 3,
                "warmSchedules": [{"schedule": "rate(1 day)", "concurrency": 4}],
            }
        )
    with pytest.raises(
        SettingsError, match=r"warmHoldMs = 5000: must be shorter than the function"
    ):
        load_settings({"timeout": 5, "warmHoldMs": 5000})
    assert load_settings({"timeout": 5, "warmHoldMs": 5000, "warmSchedules": []}).timeout == 5


def test_empty_schedule_list_means_no_warming() -> None:
    settings = load_settings({"warmSchedules": "[]"})
    assert settings.warm_schedules == ()


def test_rate_fires_one_interval_after_the_previous_run() -> None:
    after = datetime(2026, 11, 28, 16, 3, 20, tzinfo=UTC)
    assert WarmSchedule("rate(5 minutes)").next_run(after) == datetime(
        2026, 11, 28, 16, 8, 20, tzinfo=UTC
    )
    assert WarmSchedule("rate(1 day)").next_run(after) == datetime(
        2026, 11, 29, 16, 3, 20, tzinfo=UTC
    )


def test_cron_runs_on_wall_clock_time_of_its_zone() -> None:
    office_hours = WarmSchedule("cron(0/5 8-18 ? * MON-FRI *)", 2, "Europe/Berlin")
    saturday_afternoon = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    monday_morning = datetime(2026, 11, 30, 8, 0, tzinfo=BERLIN)
    assert office_hours.next_run(saturday_afternoon) == monday_morning
    assert office_hours.next_run(monday_morning) == datetime(2026, 11, 30, 8, 5, tzinfo=BERLIN)
    friday_evening = datetime(2026, 12, 4, 18, 55, tzinfo=BERLIN)
    assert office_hours.next_run(friday_evening) == datetime(2026, 12, 7, 8, 0, tzinfo=BERLIN)


def test_cron_special_fields() -> None:
    after = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert WarmSchedule("cron(0 9 L * ? *)").next_run(after) == datetime(
        2026, 11, 30, 9, tzinfo=UTC
    )
    first_monday = WarmSchedule("cron(0 9 ? * 2#1 *)").next_run(after)
    assert first_monday == datetime(2026, 12, 7, 9, tzinfo=UTC)
    last_friday = WarmSchedule("cron(0 18 ? * 6L *)").next_run(after)
    assert last_friday == datetime(2026, 12, 25, 18, tzinfo=UTC)
    nearest_weekday = WarmSchedule("cron(0 9 15W * ? *)").next_run(datetime(2027, 5, 1, tzinfo=UTC))
    assert nearest_weekday == datetime(2027, 5, 14, 9, tzinfo=UTC)  # the 15th is a Saturday
    assert WarmSchedule("cron(0 9 1 1 ? 2026)").next_run(after) is None


def test_cron_skips_the_hour_daylight_saving_removes_and_runs_once_in_the_repeated_one() -> None:
    half_past_two = WarmSchedule("cron(30 2 * * ? *)", timezone="Europe/Berlin")
    before_spring_forward = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert half_past_two.next_run(before_spring_forward) == datetime(
        2026, 3, 30, 2, 30, tzinfo=BERLIN
    )
    first_pass = half_past_two.next_run(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert first_pass == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert first_pass is not None
    assert half_past_two.next_run(first_pass) == datetime(2026, 10, 26, 2, 30, tzinfo=BERLIN)


def test_at_fires_once_in_its_zone() -> None:
    once = WarmSchedule("at(2026-12-01T09:00:00)", timezone="America/New_York")
    assert once.next_run(datetime(2026, 11, 28, tzinfo=UTC)) == datetime(
        2026, 12, 1, 14, tzinfo=UTC
    )
    assert once.next_run(datetime(2026, 12, 1, 14, tzinfo=UTC)) is None


def test_next_runs_are_given_in_utc() -> None:
    after = datetime(2026, 11, 28, 17, 0, tzinfo=BERLIN)
    for expression in ("rate(5 minutes)", "cron(0 9 * * ? *)", "at(2027-01-01T00:00:00)"):
        next_run = WarmSchedule(expression, timezone="Europe/Berlin").next_run(after)
        assert next_run is not None
        assert next_run.tzinfo is UTC


def test_next_run_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WarmSchedule("rate(5 minutes)").next_run(datetime(2026, 11, 28, 16, 0))


def test_a_warm_schedule_built_in_code_is_validated_too() -> None:
    with pytest.raises(ValueError) as raised:
        WarmSchedule("rate(0 minutes)", 0, "Berlin")

    assert str(raised.value) == (
        "schedule: a rate needs a whole number of at least 1; "
        "concurrency: must be an integer from 1 to 50; "
        "timezone: must be an IANA time zone name, Area/Location such as Europe/Berlin,"
        " or UTC; nearest: Europe/Berlin"
    )


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        # A YAML date where a number belongs is shown as written.
        (
            {"memorySize": date(2024, 1, 1)},
            'lukewarm:memorySize = "2024-01-01": must be an integer from 128 to 10240 (MB)',
        ),
        # JSON given as a string is shown as the value it means, ...
        (
            {"corsOrigins": ' ["example.com"]'},
            f'lukewarm:corsOrigins = ["example.com"]: {ORIGINS}; not an origin: example.com',
        ),
        (
            {"warmSchedules": '{"schedule": "rate(5 minutes)"}'},
            'lukewarm:warmSchedules = {"schedule": "rate(5 minutes)"}: must be a list of '
            "{schedule, concurrency, timezone}; [] turns warming off",
        ),
        # ... and broken JSON as the string it is.
        (
            {"corsOrigins": "[oops"},
            'lukewarm:corsOrigins = "[oops": must be a list of origins (JSON or YAML)',
        ),
        # The monitoring keys, and what alarmEmail needs of monitoring.
        (
            {"monitoring": "everything"},
            'lukewarm:monitoring = "everything": must be off, dashboard or alarms '
            "(the dashboard, alarms and their SNS topic)",
        ),
        (
            {"monitoring": "alarms", "alarmEmail": "ops"},
            'lukewarm:alarmEmail = "ops": must be an e-mail address such as ops@example.com, '
            'or "" for none',
        ),
        (
            {"alarmEmail": "ops@example.com"},
            'lukewarm:alarmEmail = "ops@example.com": needs lukewarm:monitoring = alarms '
            "(it is dashboard): only alarms send mail",
        ),
        (
            {"coldStartAlarm": 0},
            "lukewarm:coldStartAlarm = 0: must be a number above 0 and at most 100",
        ),
        (
            {"coldStartAlarm": 101},
            "lukewarm:coldStartAlarm = 101: must be a number above 0 and at most 100",
        ),
    ],
)
def test_a_refused_value_is_shown_as_the_user_wrote_it(
    values: dict[str, object], problem: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(values)

    assert raised.value.problems == (problem,)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def test_stack_settings_overlay_the_stack_file_on_the_defaults(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n"
        "  aws:region: eu-central-1\n"
        '  lukewarm:memorySize: "3008"\n'
        "  lukewarm:warmSchedules:\n"
        "    - schedule: cron(0/5 8-18 ? * MON-FRI *)\n"
        "      concurrency: 3\n"
        "      timezone: Europe/Berlin\n"
    )
    settings = stack_settings("dev", project)

    assert settings.memory_size == 3008
    assert settings.warm_schedules == (
        WarmSchedule("cron(0/5 8-18 ? * MON-FRI *)", 3, "Europe/Berlin"),
    )
    assert settings.timeout == load_settings().timeout
    assert stack_settings(None, project) == load_settings()


def test_stack_settings_report_a_bad_value_in_the_stack_file(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  lukewarm:architecture: arm\n")
    with pytest.raises(
        SettingsError, match='lukewarm:architecture = "arm": must be x86_64 or arm64'
    ):
        stack_settings("dev", project)


def test_stack_settings_name_the_stacks_there_are(project: Path) -> None:
    with pytest.raises(SettingsError) as none_yet:
        stack_settings("dev", project)
    (project / "Pulumi.prod.yaml").write_text("config: {}\n")
    with pytest.raises(SettingsError) as one:
        stack_settings("dev", project)

    assert none_yet.value.problems == (
        f"no stack file Pulumi.dev.yaml in {project} (stacks here: none)",
    )
    assert one.value.problems == (
        f"no stack file Pulumi.dev.yaml in {project} (stacks here: ['prod'])",
    )


def test_stack_settings_take_their_defaults_from_that_project(project: Path) -> None:
    declared = yaml.safe_load((project / "Pulumi.yaml").read_text())
    declared["config"]["lukewarm:memorySize"]["default"] = 1769
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(declared))
    (project / "Pulumi.dev.yaml").write_text("config:\n  lukewarm:timeout: 12\n")

    settings = stack_settings("dev", project)

    assert (settings.memory_size, settings.timeout) == (1769, 12)


@pytest.mark.parametrize(
    ("timezone", "nearest"),
    [
        # Files of the tz database that Python's zoneinfo lists among its zones.
        ("Factory", "Factory is a file of the tz database, not a zone; nearest: UTC"),
        ("localtime", "localtime is a file of the tz database, not a zone; nearest: UTC"),
        ("posixrules", "posixrules is a file of the tz database, not a zone; nearest: UTC"),
        # Legacy aliases: the region name with the same zone data.
        ("US/Eastern", "nearest: America/New_York"),
        ("Japan", "nearest: Asia/Tokyo"),
        # Misspelt, or a city alone.
        ("Europe/Berln", "nearest: Europe/Berlin"),
        ("new york", "nearest: America/New_York"),
    ],
)
def test_a_name_outside_the_tz_regions_is_refused_with_the_nearest_valid_names(
    timezone: str, nearest: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"warmSchedules": [{"schedule": "rate(5 minutes)", "timezone": timezone}]})

    (problem,) = raised.value.problems
    assert problem.startswith(
        f'lukewarm:warmSchedules[0].timezone = "{timezone}": must be an IANA time zone name'
    )
    assert nearest in problem


@pytest.mark.parametrize(
    "timezone", ["UTC", "Europe/Berlin", "America/Argentina/Salta", "Etc/GMT+5"]
)
def test_region_names_and_utc_are_accepted(timezone: str) -> None:
    (window,) = load_settings(
        {"warmSchedules": [{"schedule": "rate(5 minutes)", "timezone": timezone}]}
    ).warm_schedules
    assert window.timezone == timezone


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "config:\n  lukewarm:runtime: [1,2\n",
            "Pulumi.dev.yaml line 3: not valid YAML (expected ',' or ']', but got '<stream end>')",
        ),
        (
            "config:\n  - 1\n  - 2\n",
            "Pulumi.dev.yaml: config: must be a mapping of keys to values, not a list",
        ),
        ("- config\n", "Pulumi.dev.yaml: must be a mapping with a config: section"),
        (  # a reader error: it has no line, and its message no separate problem
            "config:\n  lukewarm:timeout: 12\x07\n",
            "Pulumi.dev.yaml: not valid YAML (unacceptable character #x0007: special "
            "characters are not allowed)",
        ),
        (
            b"config:\n  lukewarm:timeout: \xff\n",
            "Pulumi.dev.yaml: cannot be read ('utf-8' codec can't decode byte 0xff in "
            "position 28: invalid start byte)",
        ),
    ],
    ids=["a list cut short", "a list for config", "a list for the file", "a bell", "not UTF-8"],
)
def test_a_malformed_stack_file_is_one_problem_naming_the_file_and_line(
    project: Path, text: str | bytes, problem: str
) -> None:
    stack_file = project / "Pulumi.dev.yaml"
    if isinstance(text, bytes):
        stack_file.write_bytes(text)
    else:
        stack_file.write_text(text)

    with pytest.raises(SettingsError) as raised:
        stack_settings("dev", project)

    assert raised.value.problems == (problem,)


def test_keys_lukewarm_would_never_read_are_warned_of_with_the_nearest_key(
    project: Path,
) -> None:
    (project / "Pulumi.dev.yaml").write_text(
        "config:\n"
        "  lukewarm:timeout: 12\n"
        "  lukwarm:runtime: torch\n"
        "  aws:region: eu-central-1\n"
        "  memorySize: 64\n"
        "  warm:runtime: torch\n"  # a namespace of its own, not lukewarm's misspelt
        "  colour: red\n"  # no namespace, and nothing like a lukewarm key
        "  lukwarm:colour: red\n"  # lukewarm's namespace misspelt, no such key
    )
    warnings: list[str] = []

    settings = stack_settings("dev", project, warn=warnings.append)

    assert warnings == [
        "Pulumi.dev.yaml: lukwarm:runtime is not a lukewarm: key and is ignored; "
        "did you mean lukewarm:runtime?",
        "Pulumi.dev.yaml: memorySize is not a lukewarm: key and is ignored; "
        "did you mean lukewarm:memorySize?",
        "Pulumi.dev.yaml: lukwarm:colour is not a lukewarm: key and is ignored; "
        "did you mean a lukewarm: key?",
    ]
    assert (settings.runtime, settings.memory_size, settings.timeout) == (
        load_settings().runtime,
        load_settings().memory_size,
        12,
    )


def test_overrides_are_checked_as_the_keys_they_override(project: Path) -> None:
    with pytest.raises(SettingsError, match=r"lukewarm:timeout = 900: must be an integer"):
        stack_settings(None, project, overrides={"timeout": 900})

    assert stack_settings(None, project, overrides={"timeout": 7, "runtime": None}).timeout == 7


def test_warnings_go_to_standard_error_by_default(project: Path, capsys) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  memorySize: 64\n")
    stack_settings("dev", project)
    assert capsys.readouterr() == (
        "",
        "warning: Pulumi.dev.yaml: memorySize is not a lukewarm: key and is ignored; "
        "did you mean lukewarm:memorySize?\n",
    )


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout whose function/ holds only the model directories a test writes."""
    import infra.settings

    monkeypatch.setattr(infra.settings, "ROOT", tmp_path)
    return tmp_path


def write_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def test_runtime_torch_is_refused_only_for_an_imported_hub_model(root: Path) -> None:
    from contract import HUB_MODEL_FORMAT

    write_json(root / "function" / "models" / "hub" / "config.json", {"format": HUB_MODEL_FORMAT})
    write_json(root / "function" / "models" / "other" / "config.json", {"format": "other"})
    (root / "function" / "models" / "broken").mkdir()
    (root / "function" / "models" / "broken" / "config.json").write_text("{")
    with pytest.raises(SettingsError) as raised:
        load_settings({"modelDir": "models/hub", "runtime": "torch"}, project_dir=ROOT)
    assert raised.value.problems == (
        'lukewarm:runtime = "torch": cannot serve function/models/hub, an imported Hub model '
        "(lukewarm import), which runs on onnx only: set lukewarm:runtime to onnx",
    )
    assert load_settings({"modelDir": "models/hub"}, project_dir=ROOT).runtime == "onnx"
    for model_dir in ("models/other", "models/broken", "models/missing"):
        settings = load_settings({"modelDir": model_dir, "runtime": "torch"}, project_dir=ROOT)
        assert settings.runtime == "torch"


@pytest.mark.parametrize(
    "manifest",
    [["measured"], {"measured": [1]}, {"measured": {"peak_rss_mb": "1 GB"}}, {}],
    ids=["a list", "measured a list", "a peak that is not a number", "nothing measured"],
)
def test_a_manifest_without_usable_measurements_gives_none(root: Path, manifest: object) -> None:
    from infra.settings import model_measurements

    write_json(root / "function" / "models" / "hub" / "onnx" / "manifest.json", manifest)
    assert model_measurements("models/hub") is None
    write_json(
        root / "function" / "models" / "hub" / "onnx" / "manifest.json",
        {"measured": {"peak_rss_mb": 1387}},
    )
    assert model_measurements("models/hub") == {"peak_rss_mb": 1387}


def test_as_many_tags_as_aws_leaves_room_for_are_accepted_and_one_more_refused() -> None:
    from infra.settings import MAX_USER_TAGS

    tags = {f"t{i}": "v" for i in range(MAX_USER_TAGS)}
    assert len(load_settings({"tags": tags}).tags) == MAX_USER_TAGS == 47
    with pytest.raises(SettingsError, match=r"at most 47 tags \(AWS's 50, less lukewarm's own 3\)"):
        load_settings({"tags": {**tags, "one-more": "v"}})


def test_every_bad_schedule_in_a_list_is_reported_and_one_instance_is_allowed() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {
                "warmSchedules": [
                    {"schedule": "rate(5 minutes)", "concurrency": 1},
                    "x",
                    {"concurrency": 2},
                    {"schedule": "rate(6 minutes)", "concurrency": 0},
                ]
            }
        )
    problems = raised.value.problems
    assert len(problems) == 3
    assert problems[0] == (
        'lukewarm:warmSchedules[1] = "x": must be a mapping {schedule, concurrency, timezone}'
    )
    assert problems[1].startswith(
        'lukewarm:warmSchedules[2] = {"concurrency": 2}: needs a schedule: rate('
    )
    assert (
        problems[2] == "lukewarm:warmSchedules[3].concurrency = 0: must be an integer from 1 to 50"
    )


@pytest.mark.parametrize("count", ["1", "3", 3])
def test_a_schedules_count_may_be_a_string_as_pulumi_gives_it(count: object) -> None:
    (schedule,) = load_settings(
        {"warmSchedules": [{"schedule": "rate(5 minutes)", "concurrency": count}]}
    ).warm_schedules
    assert schedule.concurrency == int(str(count))
    assert isinstance(schedule.concurrency, int)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (
            {"snapStart": True, "provisionedConcurrency": 1},
            "lukewarm:snapStart = true: cannot be used with lukewarm:provisionedConcurrency "
            "(1); AWS allows one or the other: set provisionedConcurrency to 0 or snapStart "
            "to false",
        ),
        (
            {"snapStart": True, "snapStartVersions": 9, "keepImages": 2},
            "lukewarm:snapStartVersions = 9: must be at most keepImages (2): a version whose "
            "image was deleted cannot run, but its snapshot would still be billed",
        ),
    ],
    ids=["SnapStart and provisioned concurrency", "more snapshots than images"],
)
def test_snapstart_contradictions_say_what_to_change(
    values: dict[str, object], problem: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(values)
    assert raised.value.problems == (problem,)
