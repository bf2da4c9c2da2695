"""infra/tags.py and `lukewarm:tags`: every taggable resource says which project, stack and
component made it, with the stack's own tags for cost allocation."""

from __future__ import annotations

import pytest

from infra.mocks import FUNCTION, SCHEDULE, deploy
from infra.settings import SettingsError, load_settings
from infra.tags import is_taggable


def test_every_taggable_resource_carries_lukewarms_tags_and_the_stacks() -> None:
    deployment = deploy({"tags": {"team": "vision", "cost-center": "42"}, "snapStart": True})
    taggable = [r for r in deployment.resources if is_taggable(r.typ)]

    assert len(taggable) >= 10
    for resource in taggable:
        component = resource.name.split("-")[0]
        assert resource.inputs["tags"] == {
            "team": "vision",
            "cost-center": "42",
            "lukewarm:project": "lukewarm",
            "lukewarm:stack": "test",
            "lukewarm:component": component,
        }, resource.name
    untagged = {r.typ for r in deployment.resources if "tags" not in r.inputs}
    assert FUNCTION not in untagged
    assert SCHEDULE in untagged  # EventBridge Scheduler schedules take no tags


def test_which_types_take_tags_is_the_providers_word() -> None:
    assert is_taggable("aws:lambda/function:Function")
    assert is_taggable("aws:iam/role:Role")
    assert not is_taggable("aws:lambda/alias:Alias")
    assert not is_taggable("aws:scheduler/schedule:Schedule")
    assert not is_taggable("docker:index/image:Image")
    assert not is_taggable("lukewarm:index:Service")


def test_without_tags_of_its_own_a_stack_still_gets_lukewarms() -> None:
    function = deploy().one(FUNCTION, "service-function")

    assert function["tags"] == {
        "lukewarm:project": "lukewarm",
        "lukewarm:stack": "test",
        "lukewarm:component": "service",
    }


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ('["team"]', 'must be a mapping of tag names to values, e.g. {"team": "vision"}'),
        ({"aws:team": "x"}, "aws:team: names starting aws: or lukewarm: are reserved"),
        ({"lukewarm:stack": "x"}, "lukewarm:stack: names starting aws: or lukewarm: are reserved"),
        ({"team": 7}, "team: a value is 0-256 letters, digits, spaces or _.:/=+-@"),
        ({"t" * 129: "x"}, f"{'t' * 129!r}: a name is 1-128 letters, digits, spaces or _.:/=+-@"),
        ({f"t{n}": "x" for n in range(48)}, "at most 47 tags (AWS's 50, less lukewarm's own 3)"),
    ],
)
def test_tags_aws_would_refuse_are_refused_before_anything_is_created(
    tags: object, problem: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"tags": tags})

    assert raised.value.problems[0].endswith(problem)
