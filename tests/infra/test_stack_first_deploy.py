"""What a first `pulumi up` on a real, new account needs (issue #12).

Concurrency a new account can grant, warm-ups that are neither retried nor lost to IAM
propagation, a log level that can really be switched, and an image manifest Lambda takes.
"""

from __future__ import annotations

import pytest

from infra.mocks import (
    DOCKER_IMAGE,
    EVENT_INVOKE_CONFIG,
    FUNCTION,
    INVOCATION,
    SCHEDULE,
    deploy,
)
from infra.settings import SettingsError, load_settings

WINDOWS = [
    {"schedule": "cron(0/5 8-18 ? * MON-FRI *)", "concurrency": 3, "timezone": "Europe/Berlin"},
    {"schedule": "rate(30 minutes)"},
]


# --- concurrency a new account can grant ---------------------------------------------------


def test_the_default_stack_reserves_no_concurrency() -> None:
    # A new account's quota of 10 leaves nothing to reserve: any reservation fails the
    # deploy after the image push. -1 is unreserved; 0 would throttle every invoke.
    function = deploy().one(FUNCTION, "service-function")
    assert function["reservedConcurrentExecutions"] == -1


def test_a_configured_reservation_is_still_the_cap() -> None:
    function = deploy({"reservedConcurrency": 4}).one(FUNCTION, "service-function")
    assert function["reservedConcurrentExecutions"] == 4


def test_going_back_to_no_reservation_removes_it() -> None:
    # An unset value would leave the earlier reservation in place on update; -1 removes it.
    function = deploy({"reservedConcurrency": "0"}).one(FUNCTION, "service-function")
    assert function["reservedConcurrentExecutions"] == -1


def test_without_a_reservation_provisioned_and_warm_concurrency_are_not_capped() -> None:
    settings = load_settings(
        {
            "reservedConcurrency": 0,
            "provisionedConcurrency": 2,
            "warmSchedules": [{"schedule": "rate(1 hour)", "concurrency": 8}],
        }
    )
    assert settings.reserved_concurrency == 0
    assert settings.provisioned_concurrency == 2


def test_a_reservation_still_caps_provisioned_and_warm_concurrency() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {
                "reservedConcurrency": 2,
                "provisionedConcurrency": 3,
                "warmSchedules": [{"schedule": "rate(1 hour)", "concurrency": 4}],
            }
        )
    assert raised.value.problems == (
        "lukewarm:provisionedConcurrency = 3: must be at most reservedConcurrency (2)",
        "lukewarm:warmSchedules[0].concurrency = 4: must be at most reservedConcurrency (2);"
        " more would be throttled",
    )


def test_a_negative_reservation_is_refused_saying_what_0_means() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"reservedConcurrency": -1})
    assert raised.value.problems == (
        "lukewarm:reservedConcurrency = -1: must be an integer >= 0 (0 = no reservation)",
    )


# --- warm-ups: never retried, never lost to IAM propagation ---------------------------------


def test_lambda_never_retries_or_queues_a_warm_up() -> None:
    deployment = deploy()
    config = deployment.one(EVENT_INVOKE_CONFIG)

    assert config["functionName"] == deployment.outputs["warmer_name"]
    assert "qualifier" not in config  # the schedules invoke the unqualified warmer
    assert config["maximumRetryAttempts"] == 0
    assert config["maximumEventAgeInSeconds"] == 60


def test_no_event_invoke_config_without_a_warmer() -> None:
    assert deploy({"warmSchedules": []}).of_type(EVENT_INVOKE_CONFIG) == []


def test_schedules_wait_for_their_right_to_invoke_and_for_the_no_retry_config() -> None:
    deployment = deploy({"warmSchedules": WINDOWS})
    schedules = deployment.of_type(SCHEDULE)
    config_name = deployment.of_type(EVENT_INVOKE_CONFIG)[0].name

    assert len(schedules) == 2
    for schedule in schedules:
        assert {"warming-scheduler-invoke-warmer", config_name} <= deployment.dependencies[
            schedule.name
        ], schedule.name


def test_prewarm_waits_for_the_warmers_right_to_invoke_the_alias() -> None:
    deployment = deploy()
    (prewarm,) = [r for r in deployment.of_type(INVOCATION) if r.name == "warming-prewarm"]
    assert "warming-invoke-alias" in deployment.dependencies[prewarm.name]


def test_the_warmer_knows_the_functions_timeout() -> None:
    # A first init that passes Lambda's 10 s cap is re-run inside the invoke, up to the
    # function timeout: the warmer waits that long for it (warmer/handler.py).
    warmer = deploy({"timeout": 25}).one(FUNCTION, "warming-warmer")
    assert warmer["environment"]["variables"]["FUNCTION_TIMEOUT_S"] == "25"


# --- a log level that can be switched ----------------------------------------------------


@pytest.mark.parametrize(
    ("log_level", "application", "system"),
    [
        (None, "INFO", "INFO"),
        ("DEBUG", "DEBUG", "DEBUG"),
        ("debug", "DEBUG", "DEBUG"),
        ("WARN", "WARN", "INFO"),
        ("ERROR", "ERROR", "INFO"),
    ],
)
def test_log_level_is_the_lambda_logging_configs(
    log_level: str | None, application: str, system: str
) -> None:
    # With JSON logs Lambda sets AWS_LAMBDA_LOG_LEVEL from the application level (INFO if
    # unset), and Powertools prefers it to LOG_LEVEL.
    config = {"logLevel": log_level} if log_level else {}
    function = deploy(config).one(FUNCTION, "service-function")

    assert function["loggingConfig"]["logFormat"] == "JSON"
    assert function["loggingConfig"]["applicationLogLevel"] == application
    assert function["loggingConfig"]["systemLogLevel"] == system
    assert function["environment"]["variables"]["LOG_LEVEL"] == application


@pytest.mark.parametrize("log_level", ["TRACE", "WARNING", "verbose", ""])
def test_an_unknown_log_level_is_refused_naming_the_levels(log_level: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"logLevel": log_level})
    (problem,) = raised.value.problems
    assert problem == f'lukewarm:logLevel = "{log_level}": must be one of DEBUG, INFO, WARN, ERROR'


# --- an image manifest Lambda takes --------------------------------------------------------


def test_the_image_build_never_opts_into_a_multi_platform_index() -> None:
    build = deploy().one(DOCKER_IMAGE)["build"]

    assert build["args"]["BUILDKIT_MULTI_PLATFORM"] == "false"
    assert isinstance(build["platform"], str)
    assert "," not in build["platform"]
