"""examples/: other programs that import lukewarm's components, run under the mocks.

Each runs from its own directory, as `pulumi up` runs it there, and passes every policy
of lukewarm's pack.
"""

from __future__ import annotations

import inspect
import json

import pytest

from infra import CaptionerArgs, SettingsError, WarmingArgs, WarmSchedule, captioner_settings
from infra.mocks import (
    ALIAS,
    DOCKER_IMAGE,
    EVENT_INVOKE_CONFIG,
    FUNCTION,
    INVOCATION,
    SCHEDULE,
    Deployment,
    run,
)
from infra.settings import ROOT, project_defaults
from policy.rules import POLICIES
from tests.policy.crossguard import check
from tests.test_readme import read_blocks

EXAMPLES = ROOT / "examples"


def example(name: str, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    monkeypatch.chdir(EXAMPLES / name)
    return run(EXAMPLES / name / "__main__.py", project=f"{name}-example")


def mandatory_violations(deployment: Deployment) -> dict[str, list[str]]:
    found = {
        policy.name: check(policy.name, deployment).messages
        for policy in POLICIES
        if policy.enforcement_level is not None and policy.enforcement_level.value == "mandatory"
    }
    return {name: messages for name, messages in found.items() if messages}


def test_the_captioner_example_deploys_its_settings_from_code(monkeypatch) -> None:
    deployment = example("captioner", monkeypatch)
    function = deployment.one(FUNCTION, "captions-service-function")
    image = deployment.one(DOCKER_IMAGE, "captions-image-build")
    (schedule,) = deployment.of_type(SCHEDULE)

    assert function["memorySize"] == 3008
    assert function["architectures"] == ["arm64"]
    assert function["snapStart"] == {"applyOn": "PublishedVersions"}
    assert function["reservedConcurrentExecutions"] == 4
    assert function["packageType"] == "Image"
    assert image["build"]["platform"] == "linux/arm64"
    # The build context is lukewarm's function/, found from the example's own directory.
    assert (EXAMPLES / "captioner" / image["build"]["context"]).resolve() == ROOT / "function"
    assert schedule.inputs["scheduleExpression"] == "cron(0/5 8-18 ? * MON-FRI *)"
    assert schedule.inputs["scheduleExpressionTimezone"] == "Europe/Berlin"
    assert json.loads(schedule.inputs["target"]["input"])["concurrency"] == 2
    assert len(deployment.of_type(FUNCTION)) == 3  # captioner, warmer, version pruner
    assert deployment.outputs["url"].endswith(".amazonaws.com/")
    assert mandatory_violations(deployment) == {}


def test_the_captioner_example_keeps_other_settings_at_lukewarms_defaults(monkeypatch) -> None:
    deployment = example("captioner", monkeypatch)
    function = deployment.one(FUNCTION, "captions-service-function")
    defaults = project_defaults()

    assert function["timeout"] == defaults["timeout"]
    assert function["loggingConfig"]["applicationLogLevel"] == defaults["logLevel"]


def test_settings_from_code_are_refused_as_stack_config_is() -> None:
    with pytest.raises(SettingsError, match="memorySize"):
        captioner_settings(memory_size=64)
    with pytest.raises(TypeError, match="unknown setting memory"):
        captioner_settings(memory=1024)


def test_the_keepwarm_example_warms_the_users_alias(monkeypatch) -> None:
    deployment = example("keepwarm", monkeypatch)
    hello = deployment.state(FUNCTION, "hello")
    warmer = deployment.one(FUNCTION, "hello-warming-warmer")
    alias_arn = deployment.state(ALIAS, "hello-live")["arn"]
    (schedule,) = deployment.of_type(SCHEDULE)
    prewarm = deployment.one(INVOCATION, "hello-warming-prewarm")
    no_retries = deployment.one(EVENT_INVOKE_CONFIG, "hello-warming-no-retries")

    assert sorted(hello["code"].assets) == ["app.py", "contract/__init__.py", "keepwarm.py"]
    assert hello["handler"] == "app.handler"
    assert warmer["environment"]["variables"] == {
        "FUNCTION_NAME": hello["name"],
        "FUNCTION_QUALIFIER": "live",
        "FUNCTION_TIMEOUT_S": "10",
    }
    assert deployment.policies()["hello-warming-invoke-alias"]["Statement"][0]["Resource"] == (
        alias_arn
    )
    assert json.loads(schedule.inputs["target"]["input"]) == {"concurrency": 3, "hold_ms": 500}
    assert (
        schedule.inputs["target"]["arn"]
        == (deployment.state(FUNCTION, "hello-warming-warmer")["arn"])
    )
    # No image here: a new version of the alias is what re-runs the pre-warm.
    assert prewarm["triggers"] == {"alias_version": "1"}
    assert no_retries["maximumRetryAttempts"] == 0
    assert mandatory_violations(deployment) == {}


def test_the_warmer_zips_from_lukewarms_checkout_whatever_the_working_directory(
    monkeypatch,
) -> None:
    deployment = example("keepwarm", monkeypatch)
    code = deployment.one(FUNCTION, "hello-warming-warmer")["code"]

    assert (EXAMPLES / "keepwarm" / code.assets["handler.py"].path).resolve() == (
        ROOT / "warmer" / "handler.py"
    )


def test_keepwarm_refuses_no_windows_and_holds_out_of_range() -> None:
    alias_args = {
        "function_name": "f",
        "function_arn": "arn",
        "alias_name": "live",
        "alias_arn": "arn",
        "alias_version": None,
        "function_timeout": 10,
        "image_uri": None,
        "prewarm_on_deploy": False,
        "log_retention_days": 14,
    }

    with pytest.raises(ValueError, match="at least one warm window"):
        WarmingArgs(**alias_args, schedules=[], hold_ms=500)
    with pytest.raises(ValueError, match="hold_ms must be from 0 to 10000, got 10001"):
        WarmingArgs(**alias_args, schedules=[WarmSchedule("rate(5 minutes)")], hold_ms=10_001)


def test_for_alias_defaults_are_lukewarms_own() -> None:
    defaults = project_defaults()
    signature = inspect.signature(WarmingArgs.for_alias)
    assert signature.parameters["hold_ms"].default == defaults["warmHoldMs"]
    assert signature.parameters["prewarm_on_deploy"].default == defaults["prewarmOnDeploy"]
    assert signature.parameters["log_retention_days"].default == defaults["logRetentionDays"]


def test_the_captioner_args_default_to_the_checkouts_function_dir() -> None:
    assert CaptionerArgs(captioner_settings()).function_dir == ROOT / "function"


def documented_python_blocks(document: str, section: str) -> list[str]:
    """The python blocks of one `##` section of the README or a page of docs/."""
    text = (ROOT / document).read_text(encoding="utf-8")
    assert f"\n## {section}\n" in text, f"{document} has no section {section!r}"
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [b.text for b in read_blocks(body, document) if b.lang == "python"]


def code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("document", "section", "files"),
    [
        ("docs/components.md", "Use it from your own program", ["captioner/__main__.py"]),
        (
            "docs/components.md",
            "Keep your own function warm",
            ["keepwarm/__main__.py", "keepwarm/app/app.py"],
        ),
    ],
)
def test_the_documented_code_is_the_examples_code(
    document: str, section: str, files: list[str]
) -> None:
    blocks = documented_python_blocks(document, section)

    assert len(blocks) == len(files)
    for block, name in zip(blocks, files, strict=True):
        example = code_lines((EXAMPLES / name).read_text(encoding="utf-8"))
        missing = [line for line in code_lines(block) if line not in example]
        assert missing == [], f"{document} lines not in examples/{name}"
