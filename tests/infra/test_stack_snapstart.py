"""The `snapStart` key: SnapStart on the published versions the live alias follows."""

from __future__ import annotations

import pytest

from infra.settings import SettingsError, load_settings
from tests.infra.pulumi_mocks import ALIAS, FUNCTION, PROVISIONED_CONCURRENCY, deploy


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
    # The program publishes versions only through the function: the old ones it leaves
    # behind are the ones the README says how to delete.
    assert len(deployment.of_type(FUNCTION)) == 2  # the captioner and the warmer
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
