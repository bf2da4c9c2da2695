"""infra/service.py: role, log group, function, alias, concurrency."""

from __future__ import annotations

import json

from infra.mocks import (
    ACCOUNT,
    ALIAS,
    FUNCTION,
    LOG_GROUP,
    PROVISIONED_CONCURRENCY,
    REGION,
    ROLE,
    ROLE_POLICY,
    deploy,
)


def test_function_is_the_image_with_the_configured_size() -> None:
    deployment = deploy(
        {"memorySize": 3008, "timeout": 20, "architecture": "arm64", "reservedConcurrency": 7}
    )
    function = deployment.one(FUNCTION, "service-function")

    assert function["packageType"] == "Image"
    assert function["memorySize"] == 3008
    assert function["timeout"] == 20
    assert function["architectures"] == ["arm64"]
    assert function["reservedConcurrentExecutions"] == 7
    assert function["publish"] is True
    assert function["environment"]["variables"] == {
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "lukewarm",
        "POWERTOOLS_METRICS_NAMESPACE": "lukewarm",
        "LUKEWARM_RUNTIME": "onnx",
    }
    assert "handler" not in function
    assert "runtime" not in function


def test_function_logs_json_to_its_own_log_group_with_the_retention() -> None:
    deployment = deploy({"logRetentionDays": 30})
    log_group = deployment.one(LOG_GROUP, "service-logs")
    function = deployment.one(FUNCTION, "service-function")

    assert log_group["retentionInDays"] == 30
    assert log_group["name"] == "/lukewarm/test/service"
    assert function["loggingConfig"] == {
        "logFormat": "JSON",
        "logGroup": "/lukewarm/test/service",
        "applicationLogLevel": "INFO",
        "systemLogLevel": "INFO",
    }


def test_function_role_may_only_write_its_own_logs() -> None:
    deployment = deploy()
    role = deployment.one(ROLE, "service-role")
    policy = deployment.one(ROLE_POLICY, "service-write-logs")
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/lukewarm/test/service"

    assert json.loads(role["assumeRolePolicy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert "managedPolicyArns" not in role
    assert policy["role"] == "service-role-id"
    assert json.loads(policy["policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group_arn, f"{group_arn}:log-stream:*"],
        }
    ]
    assert deployment.one(FUNCTION, "service-function")["role"] == (
        f"arn:aws:iam::{ACCOUNT}:role/{deployment.state(ROLE, 'service-role')['name']}"
    )


def test_no_policy_allows_every_action_or_every_resource() -> None:
    for name, document in deploy().policies().items():
        for statement in document["Statement"]:
            actions = statement["Action"]
            resources = statement["Resource"]
            for action in actions if isinstance(actions, list) else [actions]:
                assert "*" not in action, (name, action)
            for resource in resources if isinstance(resources, list) else [resources]:
                assert resource != "*", name
                assert resource.startswith("arn:aws:"), (name, resource)


def test_live_alias_follows_the_published_version() -> None:
    deployment = deploy()
    alias = deployment.one(ALIAS)
    function = deployment.state(FUNCTION, "service-function")

    assert alias["name"] == "live"
    assert alias["functionName"] == function["name"]
    assert alias["functionVersion"] == function["version"]
    assert deployment.outputs["alias_arn"] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function['name']}:live"
    )
    assert deployment.outputs["function_name"] == function["name"]


def test_no_provisioned_concurrency_by_default() -> None:
    assert deploy().of_type(PROVISIONED_CONCURRENCY) == []


def test_provisioned_concurrency_is_on_the_live_alias() -> None:
    deployment = deploy({"provisionedConcurrency": 2})
    provisioned = deployment.one(PROVISIONED_CONCURRENCY)

    assert provisioned["qualifier"] == "live"
    assert provisioned["functionName"] == deployment.outputs["function_name"]
    assert provisioned["provisionedConcurrentExecutions"] == 2
