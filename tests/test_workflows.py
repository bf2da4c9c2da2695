"""The CI templates: preview on pull requests, up on main, with OIDC and no stored keys.

`make lint` runs zizmor (offline) and GitHub's workflow schema on them; this checks what
those cannot know: what each workflow does for lukewarm.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from infra.settings import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def workflow(name: str) -> dict[str, Any]:
    # PyYAML reads the `on:` key as True (YAML 1.1); GitHub reads it as "on".
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    document["on"] = document.pop(True)
    return document


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    (job,) = document["jobs"].values()
    return job["steps"]


def pulumi_step(document: dict[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in steps(document) if s.get("uses", "").startswith("pulumi/actions@")]
    return step["with"]


@pytest.mark.parametrize("name", ["pulumi-preview.yml", "pulumi-up.yml"])
def test_every_action_is_pinned_by_commit_and_aws_comes_from_oidc(name: str) -> None:
    document = workflow(name)
    (job,) = document["jobs"].values()
    text = (WORKFLOWS / name).read_text(encoding="utf-8")

    assert document["permissions"] == {}
    assert job["permissions"]["id-token"] == "write"
    assert all(PINNED.match(step["uses"]) for step in job["steps"] if "uses" in step)
    (aws,) = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert set(aws["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
    assert "secrets." not in text
    assert "aws-access-key-id" not in text
    assert pulumi_step(document)["policyPacks"] == "policy"


def test_pull_requests_get_a_preview_commented_on_them() -> None:
    document = workflow("pulumi-preview.yml")
    (job,) = document["jobs"].values()
    pulumi = pulumi_step(document)

    assert list(document["on"]) == ["pull_request"]
    assert pulumi["command"] == "preview"
    assert pulumi["comment-on-pr"] is True
    assert job["permissions"]["pull-requests"] == "write"


def test_main_is_deployed_one_update_at_a_time() -> None:
    document = workflow("pulumi-up.yml")
    (job,) = document["jobs"].values()

    assert document["on"] == {"push": {"branches": ["main"]}}
    assert pulumi_step(document)["command"] == "up"
    assert document["concurrency"]["cancel-in-progress"] is False
    assert job["environment"] == "production"
