"""The `snapStart` key: SnapStart on the published versions the live alias follows, and the
pruner that keeps at most `snapStartVersions` of them (and their billed snapshots)."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from contract import MAX_KEPT_VERSIONS
from infra.mocks import (
    ALIAS,
    FUNCTION,
    INVOCATION,
    PROVISIONED_CONCURRENCY,
    deploy,
)
from infra.settings import ROOT, SettingsError, load_settings
from pruner.handler import parse_event as parse_prune_event


def test_snapstart_is_off_by_default() -> None:
    assert load_settings().snap_start is False
    assert "snapStart" not in deploy().one(FUNCTION, "service-function")


@pytest.mark.parametrize("value", [True, "true"])
def test_snapstart_applies_to_the_published_version_the_alias_follows(value: object) -> None:
    deployment = deploy({"snapStart": value})
    function = deployment.state(FUNCTION, "service-function")
    alias = deployment.one(ALIAS)

    assert function["snapStart"] == {"applyOn": "PublishedVersions"}
    # SnapStart snapshots published versions only ($LATEST never): every deploy publishes
    # one and the alias the API and the warmer invoke moves to it.
    assert function["publish"] is True
    assert alias["functionVersion"] == function["version"]
    # What SnapStart excludes is never configured: /tmp stays at its 512 MB default, no
    # EFS, no provisioned concurrency.
    assert "ephemeralStorage" not in function
    assert "fileSystemConfig" not in function
    assert deployment.of_type(PROVISIONED_CONCURRENCY) == []
    assert "snapStart" not in deployment.one(FUNCTION, "warming-warmer")


def test_snapstart_and_provisioned_concurrency_are_refused_together_naming_both() -> None:
    with pytest.raises(SettingsError) as raised:
        deploy({"snapStart": True, "provisionedConcurrency": 1})

    (problem,) = raised.value.problems
    assert problem.startswith("lukewarm:snapStart = true: ")
    assert "lukewarm:provisionedConcurrency (1)" in problem
    # Either one alone is fine.
    assert load_settings({"snapStart": False, "provisionedConcurrency": 1}).snap_start is False
    assert load_settings({"snapStart": True, "provisionedConcurrency": 0}).snap_start is True


def test_a_snapstart_value_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"lukewarm:snapStart = \"sometimes\": must be true"):
        load_settings({"snapStart": "sometimes"})


def test_without_snapstart_no_version_is_ever_deleted() -> None:
    deployment = deploy({"snapStartVersions": 1})
    assert [r.name for r in deployment.of_type(FUNCTION)] == ["service-function", "warming-warmer"]
    assert [r.name for r in deployment.of_type(INVOCATION)] == ["warming-prewarm"]


def test_with_snapstart_each_deploy_prunes_all_but_the_newest_versions() -> None:
    deployment = deploy({"snapStart": True, "snapStartVersions": 3})
    service = deployment.state(FUNCTION, "service-function")
    pruner = deployment.one(FUNCTION, "versions-pruner")
    prune = deployment.one(INVOCATION, "versions-prune")

    assert pruner["runtime"] == "python3.12" and pruner["handler"] == "handler.handler"
    assert isinstance(pruner["code"], pulumi.AssetArchive)
    assert pruner["code"].assets["handler.py"].path == "pruner/handler.py"
    assert pruner["code"].assets["contract/__init__.py"].path == "function/contract/__init__.py"
    assert pruner["environment"]["variables"] == {
        "FUNCTION_NAME": service["name"],
        "FUNCTION_QUALIFIER": "live",
    }
    assert "snapStart" not in pruner
    # Run once per deploy that moves the alias, after it moved, keeping the configured count.
    assert prune["functionName"] == deployment.state(FUNCTION, "versions-pruner")["name"]
    assert json.loads(prune["input"]) == {"keep": 3}
    assert prune["triggers"] == {"alias_version": deployment.one(ALIAS)["functionVersion"]}


def test_the_pruner_may_delete_versions_of_the_captioner_and_nothing_else() -> None:
    deployment = deploy({"snapStart": True})
    function_arn = deployment.state(FUNCTION, "service-function")["arn"]
    alias_arn = deployment.outputs["alias_arn"]

    assert deployment.policies()["versions-prune-versions"]["Statement"] == [
        {"Effect": "Allow", "Action": "lambda:GetAlias", "Resource": alias_arn},
        {"Effect": "Allow", "Action": "lambda:ListVersionsByFunction", "Resource": function_arn},
        # Qualified ARNs only: deleting the function itself needs the unqualified one.
        {"Effect": "Allow", "Action": "lambda:DeleteFunction", "Resource": f"{function_arn}:*"},
    ]
    assert load_settings({"snapStart": True}).snap_start_versions == 2


@pytest.mark.parametrize("value", [0, 101, "two"])
def test_snapstart_versions_outside_1_to_100_are_refused(value: object) -> None:
    with pytest.raises(SettingsError, match=r"lukewarm:snapStartVersions = .*: must be an integer"):
        load_settings({"snapStartVersions": value})
    # The most the settings accept is what the pruner accepts.
    assert load_settings({"snapStartVersions": MAX_KEPT_VERSIONS}).snap_start_versions == 100
    assert parse_prune_event({"keep": MAX_KEPT_VERSIONS}) == 100
    with pytest.raises(ValueError, match="from 1 to 100"):
        parse_prune_event({"keep": MAX_KEPT_VERSIONS + 1})


def test_the_image_is_built_on_a_base_image_that_runs_snapstart_hooks() -> None:
    """AWS coordinates snapshot and restore, hooks included, for container images built on
    its Python 3.12+ base images; on any other base the runtime would have to."""
    dockerfile = (ROOT / "function" / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=public\.ecr\.aws/lambda/python:3\.(\d+)", dockerfile, re.M)
    assert base is not None and int(base[1]) >= 12
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", dockerfile, re.M)
