"""__main__.py as a whole: what one `pulumi up` creates and exports, and what it refuses."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.mocks import (
    ALIAS,
    DASHBOARD,
    DOCKER_IMAGE,
    ECR_LIFECYCLE_POLICY,
    ECR_REPOSITORY,
    EVENT_INVOKE_CONFIG,
    FUNCTION,
    HTTP_API,
    INTEGRATION,
    INVOCATION,
    LOG_GROUP,
    PERMISSION,
    ROLE,
    ROLE_POLICY,
    ROUTE,
    SCHEDULE,
    STAGE,
    LukewarmMocks,
    deploy,
)
from infra.settings import SettingsError, from_pulumi_config

HELPER_LAMBDA = "lukewarm:index:HelperLambda"
COMPONENTS = {
    "lukewarm:index:Image",
    "lukewarm:index:Service",
    "lukewarm:index:Api",
    "lukewarm:index:Warming",
    "lukewarm:index:Versions",
    "lukewarm:index:Monitoring",
}


def test_default_stack_creates_each_piece_once() -> None:
    counts: dict[str, int] = {}
    for resource in deploy().resources:
        counts[resource.typ] = counts.get(resource.typ, 0) + 1

    assert counts == {
        **dict.fromkeys(COMPONENTS, 1),
        HELPER_LAMBDA: 2,
        ECR_REPOSITORY: 1,
        ECR_LIFECYCLE_POLICY: 1,
        DOCKER_IMAGE: 1,
        LOG_GROUP: 3,
        ROLE: 4,
        ROLE_POLICY: 7,
        FUNCTION: 3,
        ALIAS: 1,
        HTTP_API: 1,
        INTEGRATION: 1,
        ROUTE: 4,
        STAGE: 1,
        PERMISSION: 1,
        SCHEDULE: 1,
        INVOCATION: 2,
        EVENT_INVOKE_CONFIG: 1,
        DASHBOARD: 1,
    }


def test_every_cloud_resource_is_a_child_named_after_its_component() -> None:
    """A helper Lambda's component sits inside the component that owns it and is named
    after it, and so are the helper's resources, as the owner's own are."""
    urns = deploy().urns
    helpers: set[str] = set()
    for urn in urns:
        _, _, type_chain, name = urn.split("::")
        parent, typ = type_chain.split("$")
        if typ in COMPONENTS:
            assert parent == "pulumi:pulumi:Stack", urn
        elif typ == HELPER_LAMBDA:
            assert parent in COMPONENTS, urn
            assert name == parent.rsplit(":", 1)[1].lower(), urn
            helpers.add(name)
        elif parent == HELPER_LAMBDA:
            assert any(name.startswith(f"{helper}-") for helper in helpers), urn
        else:
            assert parent in COMPONENTS, urn
            assert name.startswith(f"{parent.rsplit(':', 1)[1].lower()}-"), urn
    assert helpers == {"warming", "versions"}


def test_outputs() -> None:
    outputs = deploy().outputs

    assert set(outputs) == {
        "url",
        "caption_url",
        "function_name",
        "alias_arn",
        "image_uri",
        "warmer_name",
        "warm_schedules",
        "dashboard_url",
        "alarm_topic_arn",
    }
    assert outputs["dashboard_url"] == (
        "https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=eu-central-1"
        "#dashboards/dashboard/lukewarm-test"
    )
    assert outputs["alarm_topic_arn"] is None
    assert outputs["caption_url"] == outputs["url"] + "caption"
    assert "@sha256:" in outputs["image_uri"]
    assert outputs["alias_arn"].endswith(f"function:{outputs['function_name']}:live")
    assert outputs["warmer_name"].startswith("warming-warmer")
    assert outputs["warm_schedules"] == [
        {
            "name": outputs["warm_schedules"][0]["name"],
            "schedule": "rate(5 minutes)",
            "timezone": "UTC",
            "concurrency": 1,
        }
    ]


def test_invalid_config_fails_before_any_resource_exists() -> None:
    mocks = LukewarmMocks()
    with pytest.raises(SettingsError) as raised:
        deploy({"memorySize": 64, "warmSchedules": [{"schedule": "cron(0 9 * * MON *)"}]}, mocks)

    assert raised.value.problems[0] == (
        'lukewarm:memorySize = "64": must be an integer from 128 to 10240 (MB)'
    )
    assert raised.value.problems[1].startswith(
        'lukewarm:warmSchedules[0].schedule = "cron(0 9 * * MON *)": Invalid combination'
    )
    assert mocks.resources == []


def test_a_misspelt_key_fails_instead_of_being_ignored() -> None:
    with pytest.raises(SettingsError, match=r"lukewarm:memorySzie = \"4096\": unknown key"):
        deploy({"memorySzie": 4096})


def test_config_as_pulumi_up_hands_it_over_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI passes the stack's config to the program in this environment variable.
    monkeypatch.setenv(
        "PULUMI_CONFIG",
        json.dumps({"lukewarm:memorySize": "4096", "lukewarm:warmSchedules": "[]"}),
    )
    pulumi.runtime.set_all_config({})
    settings = from_pulumi_config()
    assert settings.memory_size == 4096
    assert settings.warm_schedules == ()

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"lukewarm:warmSchedule": "[]"}))
    with pytest.raises(SettingsError, match=r"lukewarm:warmSchedule = \[\]: unknown key"):
        from_pulumi_config()
