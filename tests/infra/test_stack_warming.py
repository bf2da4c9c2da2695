"""infra/warming.py: the warmer, its schedules, their roles, and the pre-warm on deploy."""

from __future__ import annotations

import json

import pulumi

from infra.mocks import (
    ACCOUNT,
    ALIAS,
    FUNCTION,
    INVOCATION,
    LOG_GROUP,
    ROLE,
    ROLE_POLICY,
    SCHEDULE,
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
    assert warmer["timeout"] <= 60
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
    assert sorted(warmer_policies) == ["warming-invoke-alias", "warming-write-logs"]


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
    prewarm = deployment.one(INVOCATION)

    assert prewarm["functionName"] == deployment.outputs["warmer_name"]
    assert json.loads(prewarm["input"]) == {"concurrency": 3, "hold_ms": 800}
    assert prewarm["triggers"] == {
        "image_uri": deployment.outputs["image_uri"],
        "alias_version": deployment.one(ALIAS)["functionVersion"],
    }


def test_no_prewarm_when_turned_off() -> None:
    deployment = deploy({"prewarmOnDeploy": False})
    assert deployment.of_type(INVOCATION) == []
    assert len(deployment.of_type(SCHEDULE)) == 1


def test_no_warming_resources_at_all_without_warm_windows() -> None:
    deployment = deploy({"warmSchedules": []})

    assert [r.name for r in deployment.resources if r.name.startswith("warming")] == []
    assert deployment.of_type(SCHEDULE) == []
    assert deployment.of_type(INVOCATION) == []
    assert [r.name for r in deployment.of_type(FUNCTION)] == ["service-function"]
    assert deployment.outputs["warmer_name"] is None
    assert deployment.outputs["warm_schedules"] == []
