"""infra/warming.py: the warmer, its schedules, their roles, and the pre-warm on deploy."""

from __future__ import annotations

import json
import logging
from typing import Any

import pulumi
import pytest
from pulumi.runtime import MockResourceArgs

from infra.mocks import (
    ACCOUNT,
    ALIAS,
    FUNCTION,
    INVOCATION,
    LOG_GROUP,
    ROLE,
    ROLE_POLICY,
    SCHEDULE,
    LukewarmMocks,
    deploy,
)

WINDOWS = [
    {"schedule": "cron(0/5 8-18 ? * MON-FRI *)", "concurrency": 3, "timezone": "Europe/Berlin"},
    {"schedule": "rate(30 minutes)"},
]


def test_warmer_is_a_small_python_zip_of_warmer_dir_aimed_at_the_alias() -> None:
    deployment = deploy()
    warmer = deployment.one(FUNCTION, "warming-warmer")
    code = warmer["code"]

    assert warmer["runtime"] == "python3.12"
    assert warmer["architectures"] == ["arm64"]  # Graviton, whatever the function runs on
    assert warmer["handler"] == "handler.handler"
    assert warmer["memorySize"] <= 256
    # Room for a pre-warm to wait for a new version to be Active (up to 210 s), then warm.
    assert warmer["timeout"] == 300
    assert isinstance(code, pulumi.AssetArchive)
    assert "handler.py" in code.assets
    assert all(name.endswith(".py") for name in code.assets)
    assert code.assets["handler.py"].path == "warmer/handler.py"
    assert code.assets["contract/__init__.py"].path == "function/contract/__init__.py"
    assert warmer["environment"]["variables"] == {
        "FUNCTION_NAME": deployment.outputs["function_name"],
        "FUNCTION_QUALIFIER": "live",
        "FUNCTION_TIMEOUT_S": "30",
    }
    assert warmer["loggingConfig"]["logGroup"] == deployment.one(LOG_GROUP, "warming-logs")["name"]
    assert deployment.outputs["warmer_name"] == deployment.state(FUNCTION, "warming-warmer")["name"]


def test_warmer_may_invoke_only_the_live_alias() -> None:
    deployment = deploy()
    invoke = deployment.policies()["warming-invoke-alias"]

    assert invoke["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": deployment.outputs["alias_arn"],
        }
    ]
    assert deployment.outputs["alias_arn"].endswith(":live")
    warmer_policies = [
        policy.name
        for policy in deployment.of_type(ROLE_POLICY)
        if policy.inputs["role"] == "warming-role-id"
    ]
    # And, for the pre-warm only, read its versions' state (the next test).
    assert sorted(warmer_policies) == [
        "warming-invoke-alias",
        "warming-read-version-state",
        "warming-write-logs",
    ]


def test_one_schedule_per_window_with_its_zone_and_input() -> None:
    deployment = deploy({"warmSchedules": WINDOWS, "warmHoldMs": 800})
    schedules = sorted(deployment.of_type(SCHEDULE), key=lambda schedule: schedule.name)
    warmer_arn = deployment.state(FUNCTION, "warming-warmer")["arn"]
    scheduler_role_arn = deployment.state(ROLE, "warming-scheduler-role")["arn"]

    assert [s.inputs["scheduleExpression"] for s in schedules] == [
        "cron(0/5 8-18 ? * MON-FRI *)",
        "rate(30 minutes)",
    ]
    assert [s.inputs["scheduleExpressionTimezone"] for s in schedules] == ["Europe/Berlin", "UTC"]
    for schedule, (concurrency, hold_ms) in zip(schedules, [(3, 800), (1, 0)], strict=True):
        assert schedule.inputs["flexibleTimeWindow"] == {"mode": "OFF"}
        target = schedule.inputs["target"]
        assert target["arn"] == warmer_arn
        assert target["roleArn"] == scheduler_role_arn
        assert json.loads(target["input"]) == {"concurrency": concurrency, "hold_ms": hold_ms}
        assert target["retryPolicy"] == {"maximumRetryAttempts": 0, "maximumEventAgeInSeconds": 60}
    assert [
        (window["schedule"], window["timezone"], window["concurrency"])
        for window in deployment.outputs["warm_schedules"]
    ] == [
        ("cron(0/5 8-18 ? * MON-FRI *)", "Europe/Berlin", 3),
        ("rate(30 minutes)", "UTC", 1),
    ]
    assert [window["name"] for window in deployment.outputs["warm_schedules"]] == [
        deployment.state(SCHEDULE, s.name)["name"] for s in schedules
    ]


def test_scheduler_role_is_for_this_accounts_schedules_and_invokes_only_the_warmer() -> None:
    deployment = deploy()
    trust = json.loads(deployment.one(ROLE, "warming-scheduler-role")["assumeRolePolicy"])
    invoke = deployment.policies()["warming-scheduler-invoke-warmer"]

    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    assert invoke["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": deployment.state(FUNCTION, "warming-warmer")["arn"],
        }
    ]


def test_prewarm_runs_the_warmer_again_whenever_the_image_or_version_changes() -> None:
    deployment = deploy({"warmSchedules": WINDOWS, "warmHoldMs": 800})
    prewarm = deployment.one(INVOCATION, "warming-prewarm")
    live = deployment.one(ALIAS)["functionVersion"]

    assert prewarm["functionName"] == deployment.outputs["warmer_name"]
    # The version it names is the one it waits for until Active, then warms.
    assert json.loads(prewarm["input"]) == {"concurrency": 3, "hold_ms": 800, "version": live}
    assert prewarm["triggers"] == {
        "image_uri": deployment.outputs["image_uri"],
        "alias_version": deployment.one(ALIAS)["functionVersion"],
    }


def test_the_prewarm_may_read_the_state_of_the_functions_versions_and_waits_for_it() -> None:
    deployment = deploy()
    function_arn = deployment.state(FUNCTION, "service-function")["arn"]

    assert deployment.policies()["warming-read-version-state"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "lambda:GetFunctionConfiguration",
            "Resource": f"{function_arn}:*",
        }
    ]
    assert "warming-read-version-state" in deployment.dependencies["warming-prewarm"]


class PrewarmAnswers(LukewarmMocks):
    """The fake cloud, with the pre-warm's result as the warmer would return it."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.result = result

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        if args.name == "warming-prewarm":
            state["result"] = json.dumps(self.result)
        return resource_id, state


def test_a_version_not_active_at_the_bound_is_said_plainly_in_the_deploy_log(caplog) -> None:
    message = "version 1 of f is Pending (Creating) after 210 s, not Active: nothing was warmed"
    result = {
        "version_state": {"version": "1", "state": "Pending", "active": False},
        "error_details": [message],
    }
    with caplog.at_level(logging.WARNING):
        deploy(mocks=PrewarmAnswers(result))

    assert f"pre-warm: {message}" in [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize(
    "result",
    [{"version_state": {"state": "Active", "active": True}, "error_details": []}, {}],
)
def test_an_active_version_or_an_older_warmer_logs_no_warning(caplog, result) -> None:
    with caplog.at_level(logging.WARNING):
        deploy(mocks=PrewarmAnswers(result))
    assert not [r for r in caplog.records if "pre-warm" in r.getMessage()]


def test_no_prewarm_when_turned_off() -> None:
    deployment = deploy({"prewarmOnDeploy": False})
    assert [r.name for r in deployment.of_type(INVOCATION)] == ["versions-prune"]
    assert "warming-read-version-state" not in deployment.policies()
    assert len(deployment.of_type(SCHEDULE)) == 1


def test_no_warming_resources_at_all_without_warm_windows() -> None:
    deployment = deploy({"warmSchedules": []})

    assert [r.name for r in deployment.resources if r.name.startswith("warming")] == []
    assert deployment.of_type(SCHEDULE) == []
    assert [r.name for r in deployment.of_type(INVOCATION)] == ["versions-prune"]
    assert {r.name for r in deployment.of_type(FUNCTION)} == {"service-function", "versions-pruner"}
    assert deployment.outputs["warmer_name"] is None
    assert deployment.outputs["warm_schedules"] == []
