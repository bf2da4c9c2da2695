"""policy/rules.py: each policy on resources from a program under mocks, once passing, once broken.

The passing cases run lukewarm's own program (`__main__.py`). lukewarm's settings already
refuse most of the broken configurations before a resource exists, so most broken cases are
small programs that make the same resources by hand, as someone's own program would (or one
that feeds lukewarm's components values the settings never saw).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi_aws import apigatewayv2, cloudwatch, lambda_, scheduler

from infra.mocks import FUNCTION, LOG_GROUP, REGISTRY, ROUTE, deploy, run
from infra.settings import ROOT, memory_floor
from policy.rules import MEASURED_NEED_KEY, POLICIES, measured_need_mb
from tests.policy.crossguard import check, urn

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"{REGISTRY}/app@{DIGEST}"
ROLE_ARN = "arn:aws:iam::123456789012:role/app"


def function(name: str = "app", **overrides: object) -> lambda_.Function:
    """A container-image function that passes every policy unless `overrides` break it."""
    group = cloudwatch.LogGroup(f"{name}-logs", name=f"/app/{name}", retention_in_days=7)
    settings: dict[str, object] = {
        "package_type": "Image",
        "image_uri": IMAGE,
        "role": ROLE_ARN,
        "publish": True,
        "logging_config": lambda_.FunctionLoggingConfigArgs(
            log_format="JSON", log_group=group.name
        ),
    }
    return lambda_.Function(name, **{**settings, **overrides})  # type: ignore[arg-type]


def http_api(uri: pulumi.Input[str], **stage: object) -> None:
    """An HTTP API with one public route to `uri`, on a stage with `stage`'s settings."""
    api = apigatewayv2.Api("http", protocol_type="HTTP")
    integration = apigatewayv2.Integration(
        "lambda",
        api_id=api.id,
        integration_type="AWS_PROXY",
        integration_uri=uri,
        payload_format_version="2.0",
    )
    apigatewayv2.Route(
        "route", api_id=api.id, route_key="POST /caption", target=integration.id.apply(str)
    )
    apigatewayv2.Stage("stage", api_id=api.id, name="$default", auto_deploy=True, **stage)  # type: ignore[arg-type]


THROTTLED = {
    "default_route_settings": apigatewayv2.StageDefaultRouteSettingsArgs(
        throttling_rate_limit=5, throttling_burst_limit=10
    )
}


def test_the_pack_has_six_mandatory_policies_and_two_advisories() -> None:
    levels = {policy.name: policy.enforcement_level.value for policy in POLICIES}  # type: ignore[union-attr]

    assert sorted(name for name, level in levels.items() if level == "mandatory") == [
        "image-by-digest",
        "log-retention-set",
        "no-snapstart-with-provisioned-concurrency",
        "public-routes-are-throttled",
        "reserved-concurrency-not-zero",
        "snapstart-on-an-alias",
    ]
    assert sorted(name for name, level in levels.items() if level == "advisory") == [
        "memory-covers-the-model",
        "warm-concurrency-within-cap",
    ]


# --- snapstart-on-an-alias --------------------------------------------------------------


def test_lukewarm_with_snapstart_invokes_its_alias() -> None:
    assert check("snapstart-on-an-alias", deploy({"snapStart": True})).violations == []


def test_an_api_on_the_unqualified_snapstart_function_is_refused() -> None:
    def program() -> None:
        app = function(snap_start=lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions"))
        http_api(app.invoke_arn, **THROTTLED)

    deployment = run(program)
    name = deployment.state(FUNCTION, "app")["name"]

    assert check("snapstart-on-an-alias", deployment).violations == [
        (
            f"lambda sends requests to {name}'s $LATEST, but SnapStart applies only behind an "
            "alias that follows its published versions: point the integration at the alias's "
            "ARN (lukewarm's is `live`).",
            urn("aws:apigatewayv2/integration:Integration", "lambda"),
        )
    ]


def test_snapstart_on_a_function_that_publishes_nothing_is_refused() -> None:
    def program() -> None:
        app = function(
            publish=False, snap_start=lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions")
        )
        alias = lambda_.Alias("live", name="live", function_name=app.name, function_version="1")
        http_api(alias.invoke_arn, **THROTTLED)

    verdict = check("snapstart-on-an-alias", run(program))

    assert verdict.violations == [
        (
            "app turns SnapStart on but publishes no version (publish is off): SnapStart never "
            "applies to $LATEST. Set publish=True and invoke an alias.",
            urn(FUNCTION, "app"),
        )
    ]


def test_an_api_on_the_unqualified_function_is_fine_without_snapstart() -> None:
    def program() -> None:
        http_api(function().invoke_arn, **THROTTLED)

    assert check("snapstart-on-an-alias", run(program)).violations == []


# --- no-snapstart-with-provisioned-concurrency ------------------------------------------


def test_lukewarm_with_provisioned_concurrency_and_no_snapstart_passes() -> None:
    deployment = deploy({"provisionedConcurrency": 1})

    assert check("no-snapstart-with-provisioned-concurrency", deployment).violations == []


def test_provisioned_instances_of_a_snapstart_function_are_refused() -> None:
    def program() -> None:
        app = function(snap_start=lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions"))
        alias = lambda_.Alias("live", name="live", function_name=app.name, function_version="1")
        lambda_.ProvisionedConcurrencyConfig(
            "warm",
            function_name=app.name,
            qualifier=alias.name,
            provisioned_concurrent_executions=2,
        )

    verdict = check("no-snapstart-with-provisioned-concurrency", run(program))

    assert verdict.messages == [
        "warm keeps provisioned instances of app, which has SnapStart: Lambda allows one or the "
        "other. Drop one of them."
    ]


# --- public-routes-are-throttled --------------------------------------------------------


def test_lukewarms_public_routes_are_all_throttled() -> None:
    deployment = deploy()

    assert len(deployment.of_type(ROUTE)) == 4
    assert check("public-routes-are-throttled", deployment).violations == []


def test_a_public_route_on_an_unthrottled_stage_is_refused() -> None:
    def program() -> None:
        http_api(function().invoke_arn)

    verdict = check("public-routes-are-throttled", run(program))

    assert verdict.violations == [
        (
            "route (POST /caption) is public and stage '$default' does not throttle it: set the "
            "stage's default_route_settings (or its route_settings for this route) "
            "throttling_rate_limit and throttling_burst_limit.",
            urn(ROUTE, "route"),
        )
    ]


def test_a_throttle_on_another_route_does_not_cover_this_one() -> None:
    other_route = apigatewayv2.StageRouteSettingArgs(
        route_key="GET /", throttling_rate_limit=5, throttling_burst_limit=10
    )
    this_route = apigatewayv2.StageRouteSettingArgs(
        route_key="POST /caption", throttling_rate_limit=5, throttling_burst_limit=10
    )

    unthrottled = run(lambda: http_api(function().invoke_arn, route_settings=[other_route]))
    throttled = run(lambda: http_api(function().invoke_arn, route_settings=[this_route]))

    assert len(check("public-routes-are-throttled", unthrottled).violations) == 1
    assert check("public-routes-are-throttled", throttled).violations == []


# --- image-by-digest --------------------------------------------------------------------


def test_lukewarms_function_runs_its_image_by_digest() -> None:
    assert check("image-by-digest", deploy()).violations == []


@pytest.mark.parametrize(
    "image", [f"{REGISTRY}/app:latest", f"{REGISTRY}/app:v1@{DIGEST}", f"{REGISTRY}/app"]
)
def test_an_image_by_tag_is_refused(image: str) -> None:
    verdict = check("image-by-digest", run(lambda: function(image_uri=image)))

    assert verdict.violations == [
        (
            f"app runs image {image!r}: deploy `repository@sha256:<digest>` (a tag alone, or "
            "tag@digest, is not what Lambda will keep running). With pulumi-docker, pass the "
            "image's repo_digest.",
            urn(FUNCTION, "app"),
        )
    ]


def test_a_registry_with_a_port_is_not_mistaken_for_a_tag() -> None:
    image = f"registry.example:5000/team/app@{DIGEST}"

    assert check("image-by-digest", run(lambda: function(image_uri=image))).violations == []


# --- log-retention-set ------------------------------------------------------------------


def test_lukewarm_sets_a_retention_on_every_log_group_its_functions_use() -> None:
    deployment = deploy({"snapStart": True})

    assert len(deployment.of_type(FUNCTION)) == 3  # the captioner, the warmer, the pruner
    assert check("log-retention-set", deployment).violations == []


def test_logs_kept_forever_are_refused() -> None:
    deployment = deploy({"logRetentionDays": 0})
    verdict = check("log-retention-set", deployment)

    assert sorted(verdict.messages) == sorted(
        f"log group {group.inputs['name']} keeps logs forever: set retention_in_days "
        "(lukewarm: logRetentionDays)."
        for group in deployment.of_type(LOG_GROUP)
    )
    assert len(verdict.violations) == 3  # the captioner's, the warmer's, the pruner's


def test_a_function_without_its_own_log_group_is_refused() -> None:
    def program() -> None:
        lambda_.Function("bare", package_type="Image", image_uri=IMAGE, role=ROLE_ARN)

    deployment = run(program)
    name = deployment.state(FUNCTION, "bare")["name"]

    assert check("log-retention-set", deployment).messages == [
        f"bare logs to /aws/lambda/{name}, which this stack does not manage, so it keeps logs "
        "forever: create a log group with a retention and name it in the function's "
        "logging_config.log_group."
    ]


# --- reserved-concurrency-not-zero ------------------------------------------------------


def test_lukewarms_no_reservation_is_unreserved_not_zero() -> None:
    deployment = deploy({"reservedConcurrency": 0})

    assert deployment.one(FUNCTION, "service-function")["reservedConcurrentExecutions"] == -1
    assert check("reserved-concurrency-not-zero", deployment).violations == []


def test_a_reservation_of_zero_is_refused() -> None:
    verdict = check(
        "reserved-concurrency-not-zero", run(lambda: function(reserved_concurrent_executions=0))
    )

    assert verdict.violations == [
        (
            "app reserves 0 concurrent executions, so every invoke is throttled: use -1 (or "
            "leave it unset) for no reservation, or a positive cap.",
            urn(FUNCTION, "app"),
        )
    ]


# --- warm-concurrency-within-cap (advisory) ---------------------------------------------


def test_lukewarm_warming_up_to_its_cap_passes() -> None:
    windows = [{"schedule": "rate(5 minutes)", "concurrency": 3}]
    deployment = deploy({"reservedConcurrency": 3, "warmSchedules": windows})

    assert check("warm-concurrency-within-cap", deployment).violations == []


def test_a_warm_window_above_the_functions_cap_is_reported() -> None:
    def program() -> None:
        app = function(reserved_concurrent_executions=2)
        warmer = function(
            "warmer",
            environment=lambda_.FunctionEnvironmentArgs(variables={"FUNCTION_NAME": app.name}),
        )
        scheduler.Schedule(
            "every-5-minutes",
            schedule_expression="rate(5 minutes)",
            flexible_time_window=scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=scheduler.ScheduleTargetArgs(
                arn=warmer.arn,
                role_arn=ROLE_ARN,
                input=json.dumps({"concurrency": 5, "hold_ms": 500}),
            ),
        )

    verdict = check("warm-concurrency-within-cap", run(program))

    assert verdict.messages == [
        "every-5-minutes keeps 5 instances warm, but app may run only 2 at once: 3 warm-up "
        "invokes are throttled each run. Lower the window's concurrency or raise the reservation."
    ]


# --- memory-covers-the-model (advisory) -------------------------------------------------


def model_peaking_at(tmp_path: Path, peak_rss_mb: float) -> Path:
    """A project directory whose function/model is an import `lukewarm import` measured."""
    export = tmp_path / "function" / "model" / "onnx"
    export.mkdir(parents=True)
    (export / "manifest.json").write_text(
        json.dumps({MEASURED_NEED_KEY: {"peak_rss_mb": peak_rss_mb, "caption_s": 1.5}})
    )
    return tmp_path


def test_the_need_is_the_one_preview_warns_by(tmp_path: Path) -> None:
    for peak in (100.0, 1445.0, 1474.0, 1667.0):
        project = model_peaking_at(tmp_path / str(peak), peak)
        assert measured_need_mb(project / "function" / "model") == memory_floor(peak)


def test_memory_at_the_models_measured_need_passes(tmp_path: Path) -> None:
    project = model_peaking_at(tmp_path, 1474)  # needs 1769.6 rounded up: 1792 MB
    verdict = check(
        "memory-covers-the-model", deploy({"memorySize": 1792}), {"projectDir": str(project)}
    )

    assert verdict.not_applicable is None
    assert verdict.violations == []


def test_memory_below_the_models_measured_need_is_reported(tmp_path: Path) -> None:
    project = model_peaking_at(tmp_path, 1667)  # BLIP base fp32, as bench-hf measured it
    verdict = check("memory-covers-the-model", deploy(), {"projectDir": str(project)})

    assert verdict.violations == [
        (
            "service-function has 1769 MB, but its model (model) was measured to need 2048 MB: "
            "raise memorySize to at least 2048.",
            urn(FUNCTION, "service-function"),
        )
    ]


def test_a_model_that_records_no_need_makes_the_advisory_not_applicable() -> None:
    # The demo model records no measured need (yet): nothing to compare memorySize with.
    verdict = check("memory-covers-the-model", deploy({"memorySize": 128}))

    assert verdict.violations == []
    assert verdict.not_applicable == (
        "no model directory in this stack records what it was measured to need "
        "(onnx/manifest.json's measured.peak_rss_mb, written by lukewarm import)"
    )


def test_the_pack_starts_as_crossguard_runs_it() -> None:
    # The analyzer runs the pack's __main__.py, which serves the policies over gRPC on
    # 127.0.0.1 and prints the port it listens on as its first line.
    pack = subprocess.Popen(
        [os.path.abspath(sys.executable), "-u", "__main__.py"],
        cwd=ROOT / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = pack.stdout.readline() if pack.stdout else ""
    finally:
        pack.terminate()
        _, errors = pack.communicate(timeout=30)

    assert first_line.strip().isdigit(), errors


def test_the_pack_says_its_runtime_and_version_as_crossguard_reads_them() -> None:
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text(encoding="utf-8"))

    assert manifest["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }
    assert manifest["version"] == "0.1.0"
    assert "pulumi-policy==" in (ROOT / "policy" / "requirements.txt").read_text(encoding="utf-8")
