"""The `snapStart` key: SnapStart on the published versions the live alias follows, and the
pruner that keeps at most `snapStartVersions` of them (and their billed snapshots), on
every stack, since a snapshot outlives the setting that made it."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from contract import MAX_KEPT_VERSIONS, parse_pruner_input
from infra.mocks import (
    ALIAS,
    FUNCTION,
    INVOCATION,
    PROVISIONED_CONCURRENCY,
    deploy,
)
from infra.settings import ROOT, SettingsError, load_settings


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


def test_without_snapstart_old_versions_are_pruned_all_the_same() -> None:
    """Every deploy publishes a version, and a version published while SnapStart was on
    keeps its billed snapshot after SnapStart is turned off: the pruner stays."""
    deployment = deploy({"snapStartVersions": 1})
    assert {r.name for r in deployment.of_type(FUNCTION)} == {
        "service-function",
        "warming-warmer",
        "versions-pruner",
    }
    assert json.loads(deployment.one(INVOCATION, "versions-prune")["input"])["keep"] == 1


@pytest.mark.parametrize("snap_start", [True, False])
def test_each_deploy_prunes_all_but_the_newest_versions(snap_start: bool) -> None:
    deployment = deploy({"snapStart": snap_start, "snapStartVersions": 3})
    service = deployment.state(FUNCTION, "service-function")
    pruner = deployment.one(FUNCTION, "versions-pruner")
    prune = deployment.one(INVOCATION, "versions-prune")

    assert pruner["runtime"] == "python3.12" and pruner["handler"] == "handler.handler"
    assert isinstance(pruner["code"], pulumi.AssetArchive)
    assert pruner["code"].assets["handler.py"].path == "pruner/handler.py"
    assert pruner["code"].assets["contract/__init__.py"].path == "function/contract/__init__.py"
    assert pruner["environment"]["variables"] == {"FUNCTION_NAME": service["name"]}
    assert "snapStart" not in pruner
    # Run once per deploy that moves the alias, after it moved, keeping the configured count
    # and the version the alias points at, which the input names: no alias is read.
    live = deployment.one(ALIAS)["functionVersion"]
    assert prune["functionName"] == deployment.state(FUNCTION, "versions-pruner")["name"]
    assert json.loads(prune["input"]) == {"keep": 3, "live": live}
    assert prune["triggers"] == {"alias_version": live}


def test_the_pruner_may_delete_versions_of_the_captioner_and_nothing_else() -> None:
    deployment = deploy({"snapStart": True})
    function_arn = deployment.state(FUNCTION, "service-function")["arn"]

    # No GetAlias: AWS authorizes it against the function, not the alias, and a denied call
    # would have failed the deploy. The live version comes in the pruner's input instead.
    assert deployment.policies()["versions-prune-versions"]["Statement"] == [
        {"Effect": "Allow", "Action": "lambda:ListVersionsByFunction", "Resource": function_arn},
        # Qualified ARNs only: deleting the function itself needs the unqualified one.
        {"Effect": "Allow", "Action": "lambda:DeleteFunction", "Resource": f"{function_arn}:*"},
    ]


def test_one_version_is_kept_by_default_and_never_more_than_images() -> None:
    """A rollback redeploys an earlier commit, whose image ECR still keeps: the live version
    is all a stack needs, and a version whose image is gone can never run again."""
    assert load_settings({"snapStart": True}).snap_start_versions == 1
    assert load_settings({"snapStartVersions": 3, "keepImages": 3}).snap_start_versions == 3
    with pytest.raises(SettingsError) as raised:
        load_settings({"snapStartVersions": 4, "keepImages": 3})
    (problem,) = raised.value.problems
    assert problem.startswith("lukewarm:snapStartVersions = 4: must be at most keepImages (3)")


@pytest.mark.parametrize("value", [0, 101, "two"])
def test_snapstart_versions_outside_1_to_100_are_refused(value: object) -> None:
    with pytest.raises(SettingsError, match=r"lukewarm:snapStartVersions = .*: must be an integer"):
        load_settings({"snapStartVersions": value})
    # The most the settings accept is what the pruner accepts (with as many images kept).
    most = {"snapStartVersions": MAX_KEPT_VERSIONS, "keepImages": MAX_KEPT_VERSIONS}
    assert load_settings(most).snap_start_versions == 100
    assert parse_pruner_input({"keep": MAX_KEPT_VERSIONS, "live": "7"}) == (100, "7")
    with pytest.raises(ValueError, match="from 1 to 100"):
        parse_pruner_input({"keep": MAX_KEPT_VERSIONS + 1, "live": "7"})


def test_the_image_is_built_on_a_base_image_that_runs_snapstart_hooks() -> None:
    """AWS coordinates snapshot and restore, hooks included, for container images built on
    its Python 3.12+ base images; on any other base the runtime would have to."""
    dockerfile = (ROOT / "function" / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=public\.ecr\.aws/lambda/python:3\.(\d+)", dockerfile, re.M)
    assert base is not None and int(base[1]) >= 12
    assert re.search(r"^FROM \$\{BASE_IMAGE\}", dockerfile, re.M)
    # Whoever changes BASE_IMAGE is told, beside it, what SnapStart then needs.
    comment = dockerfile[: dockerfile.index("ARG BASE_IMAGE=")]
    assert "must stay an AWS Python >= 3.12 base image" in comment
    assert 'LABEL com.amazonaws.lambda.feature.snapstart="Allow"' in comment
