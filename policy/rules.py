"""lukewarm's CrossGuard policies: mistakes that deploy fine and then cost money or latency.

Each policy reads resources by their Pulumi type token and camelCase properties, as the
engine hands them over, so the pack guards any program: lukewarm's own, or one that
imports its components, or one that builds the same resources by hand. Cross-resource
checks are stack validations: they see outputs (names, ARNs), which the engine knows
after `up` and, for resources that already exist, at preview. A value still unknown at
preview makes pulumi-policy skip the check for that run (`UnknownValueError`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

FUNCTION = "aws:lambda/function:Function"
PROVISIONED_CONCURRENCY = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE = "aws:apigatewayv2/route:Route"
STAGE = "aws:apigatewayv2/stage:Stage"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SCHEDULE = "aws:scheduler/schedule:Schedule"
DOCKER_IMAGE = "docker:index/image:Image"

LAMBDA_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[A-Za-z0-9_-]+)"
    r"(?::(?P<qualifier>[A-Za-z0-9_$-]+))?(?=/|$)"
)
"""A function ARN, bare or inside an `invokeArn` (`.../functions/<arn>/invocations`)."""
IMAGE_BY_DIGEST = re.compile(r"^(?P<repository>[^@\s]+)@sha256:[0-9a-f]{64}$")
MEASURED_NEED_KEY = "measured"
"""Where `lukewarm import` records what it measured of a model, in its `onnx/manifest.json`:
`peak_rss_mb`, the peak on the largest accepted image."""
MEMORY_HEADROOM = 1.2
MEMORY_STEP_MB = 64
"""The need is that peak plus a fifth, rounded up to 64 MB: `infra.settings.memory_floor`'s
rule, which preview warns by (this pack runs in a virtualenv of its own, without lukewarm;
a test ties the two)."""


def _functions(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == FUNCTION]


def _of_type(resources: Iterable[PolicyResource], token: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == token]


def _names(function: PolicyResource) -> set[str]:
    """What another resource may name a function by: its name or its ARN."""
    return {
        str(value) for value in (function.props.get("name"), function.props.get("arn")) if value
    }


def _target(uri: Any) -> tuple[str, str | None] | None:
    """`(function name, qualifier or None)` of a Lambda ARN or invoke ARN; None otherwise."""
    match = LAMBDA_ARN.search(uri) if isinstance(uri, str) else None
    return (match["name"], match["qualifier"]) if match else None


def _function_named(functions: Iterable[PolicyResource], reference: Any) -> PolicyResource | None:
    """The function a `functionName` (name, ARN, or qualified ARN) refers to."""
    if not isinstance(reference, str):
        return None
    target = _target(reference)
    name = target[0] if target else reference
    return next(
        (f for f in functions if reference in _names(f) or f.props.get("name") == name), None
    )


def _whole(value: Any) -> int | None:
    """A whole number from resource properties, where the engine sends every number as a
    float (2 arrives as 2.0); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _snap_start(function: PolicyResource) -> bool:
    snap_start = function.props.get("snapStart") or {}
    return snap_start.get("applyOn") == "PublishedVersions"


# --- Mandatory --------------------------------------------------------------------------


def snap_start_on_an_alias(args: StackValidationArgs, report: ReportViolation) -> None:
    """SnapStart applies only to published versions: a function that publishes none, or an
    API that invokes the unqualified function ($LATEST), pays for the setting and still
    cold-starts every instance (Zappa #1463, cfn-lint W2530)."""
    functions = [f for f in _functions(args.resources) if _snap_start(f)]
    for function in functions:
        if not function.props.get("publish"):
            report(
                f"{function.name} turns SnapStart on but publishes no version (publish is "
                "off): SnapStart never applies to $LATEST. Set publish=True and invoke an alias.",
                function.urn,
            )
    for integration in _of_type(args.resources, INTEGRATION):
        target = _target(integration.props.get("integrationUri"))
        if target is None:
            continue
        name, qualifier = target
        if not any(f.props.get("name") == name for f in functions):
            continue
        if qualifier is None or qualifier == "$LATEST" or qualifier.isdigit():
            invoked = f"version {qualifier}" if qualifier and qualifier.isdigit() else "$LATEST"
            report(
                f"{integration.name} sends requests to {name}'s {invoked}, but SnapStart "
                f"applies only behind an alias that follows its published versions: point the "
                "integration at the alias's ARN (lukewarm's is `live`).",
                integration.urn,
            )


def no_snap_start_with_provisioned_concurrency(
    args: StackValidationArgs, report: ReportViolation
) -> None:
    """Lambda refuses provisioned concurrency on a SnapStart version: the deploy fails half
    way, after the function and its version are already updated."""
    functions = [f for f in _functions(args.resources) if _snap_start(f)]
    for config in _of_type(args.resources, PROVISIONED_CONCURRENCY):
        function = _function_named(functions, config.props.get("functionName"))
        if function is not None:
            report(
                f"{config.name} keeps provisioned instances of {function.name}, which has "
                "SnapStart: Lambda allows one or the other. Drop one of them.",
                config.urn,
            )


def public_routes_are_throttled(args: StackValidationArgs, report: ReportViolation) -> None:
    """A route anyone may call, on a stage without a throttle, is limited only by the
    account's 10,000 requests a second: the bill has no ceiling."""
    stages: dict[Any, list[PolicyResource]] = {}
    for stage in _of_type(args.resources, STAGE):
        stages.setdefault(stage.props.get("apiId"), []).append(stage)
    for route in _of_type(args.resources, ROUTE):
        if (route.props.get("authorizationType") or "NONE") != "NONE":
            continue
        key = route.props.get("routeKey")
        for stage in stages.get(route.props.get("apiId"), []):
            if not _throttled(stage.props, key):
                report(
                    f"{route.name} ({key}) is public and stage {stage.props.get('name')!r} "
                    "does not throttle it: set the stage's default_route_settings (or its "
                    "route_settings for this route) throttling_rate_limit and "
                    "throttling_burst_limit.",
                    route.urn,
                )


def _throttled(stage: Mapping[str, Any], route_key: Any) -> bool:
    def limited(settings: Any) -> bool:
        return (
            isinstance(settings, Mapping)
            and settings.get("throttlingRateLimit") is not None
            and settings.get("throttlingBurstLimit") is not None
        )

    own = [s for s in stage.get("routeSettings") or [] if s.get("routeKey") == route_key]
    return any(limited(s) for s in own) or limited(stage.get("defaultRouteSettings"))


def image_by_digest(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Lambda resolves a tag once, at deploy: a function deployed from `repo:latest` keeps
    running the old image after a push, and a redeploy with the same tag changes nothing."""
    if args.resource_type != FUNCTION or args.props.get("packageType") != "Image":
        return
    uri = args.props.get("imageUri")
    match = IMAGE_BY_DIGEST.match(uri) if isinstance(uri, str) else None
    repository = match["repository"] if match else ""
    if match is None or ":" in repository.rsplit("/", 1)[-1]:
        report(
            f"{args.name} runs image {uri!r}: deploy `repository@sha256:<digest>` (a tag "
            "alone, or tag@digest, is not what Lambda will keep running). With pulumi-docker, "
            "pass the image's repo_digest.",
            args.urn,
        )


def log_retention_set(args: StackValidationArgs, report: ReportViolation) -> None:
    """CloudWatch keeps logs forever unless told otherwise, and bills every GB-month; a
    function with no log group of its own gets `/aws/lambda/<name>`, created by Lambda on
    the first invoke with no retention."""
    groups = _of_type(args.resources, LOG_GROUP)
    for group in groups:
        if not group.props.get("retentionInDays"):
            report(
                f"log group {group.props.get('name') or group.name} keeps logs forever: set "
                "retention_in_days (lukewarm: logRetentionDays).",
                group.urn,
            )
    group_names = {group.props.get("name") for group in groups}
    for function in _functions(args.resources):
        logging = function.props.get("loggingConfig") or {}
        group_name = logging.get("logGroup") or f"/aws/lambda/{function.props.get('name')}"
        if group_name not in group_names:
            report(
                f"{function.name} logs to {group_name}, which this stack does not manage, so it "
                "keeps logs forever: create a log group with a retention and name it in the "
                "function's logging_config.log_group.",
                function.urn,
            )


def reserved_concurrency_not_zero(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Zero reserved instances throttles every invoke: the function deploys and never runs
    (-1, or leaving it unset, is Lambda's "unreserved")."""
    if args.resource_type == FUNCTION and args.props.get("reservedConcurrentExecutions") == 0:
        report(
            f"{args.name} reserves 0 concurrent executions, so every invoke is throttled: "
            "use -1 (or leave it unset) for no reservation, or a positive cap.",
            args.urn,
        )


# --- Advisory ---------------------------------------------------------------------------


def warm_concurrency_within_cap(args: StackValidationArgs, report: ReportViolation) -> None:
    """A warm window asking for more instances than the function may run is throttled on
    every run, and its throttles look like an outage on the dashboard."""
    functions = _functions(args.resources)
    for schedule in _of_type(args.resources, SCHEDULE):
        target = schedule.props.get("target") or {}
        concurrency = _warm_concurrency(target.get("input"))
        warmer = next((f for f in functions if target.get("arn") in _names(f)), None)
        if concurrency is None or warmer is None:
            continue
        variables = (warmer.props.get("environment") or {}).get("variables") or {}
        warmed = _function_named(functions, variables.get("FUNCTION_NAME"))
        cap = _whole(warmed.props.get("reservedConcurrentExecutions")) if warmed else None
        if warmed is not None and cap is not None and 0 < cap < concurrency:
            report(
                f"{schedule.name} keeps {concurrency} instances warm, but {warmed.name} may run "
                f"only {cap} at once: {concurrency - cap} warm-up invokes are throttled each "
                "run. Lower the window's concurrency or raise the reservation.",
                schedule.urn,
            )


def _warm_concurrency(text: Any) -> int | None:
    try:
        value = json.loads(text).get("concurrency", 1) if isinstance(text, str) else None
    except (ValueError, AttributeError):
        return None
    return _whole(value)


def memory_covers_the_model(args: StackValidationArgs, report: ReportViolation) -> None:
    """A function with less memory than its model was measured to need is killed mid-init or
    mid-caption (`Runtime.OutOfMemory`), after the deploy succeeded."""
    project = Path(args.get_config().get("projectDir") or Path(__file__).resolve().parent.parent)
    functions = [f for f in _functions(args.resources) if f.props.get("packageType") == "Image"]
    checked = False
    for image in _of_type(args.resources, DOCKER_IMAGE):
        build = image.props.get("build") or {}
        model_dir = (build.get("args") or {}).get("MODEL_DIR")
        if not model_dir:
            continue
        need = measured_need_mb(project / str(build.get("context") or ".") / str(model_dir))
        if need is None:
            continue
        checked = True
        for function in functions:
            memory = _whole(function.props.get("memorySize"))
            if function.props.get("imageUri") != image.props.get("repoDigest"):
                continue
            if memory is not None and memory < need:
                report(
                    f"{function.name} has {memory} MB, but its model ({model_dir}) was measured "
                    f"to need {need} MB: raise memorySize to at least {need}.",
                    function.urn,
                )
    if not checked:
        args.not_applicable(
            "no model directory in this stack records what it was measured to need "
            "(onnx/manifest.json's measured.peak_rss_mb, written by lukewarm import)"
        )


def measured_need_mb(model_dir: Path) -> int | None:
    """The memory a model directory's measurements call for, in MB, or None if it has none."""
    try:
        manifest = json.loads((model_dir / "onnx" / "manifest.json").read_text(encoding="utf-8"))
        peak = float(manifest[MEASURED_NEED_KEY]["peak_rss_mb"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not math.isfinite(peak) or peak <= 0:
        return None
    return int(math.ceil(peak * MEMORY_HEADROOM / MEMORY_STEP_MB) * MEMORY_STEP_MB)


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    StackValidationPolicy(
        name="snapstart-on-an-alias",
        description="SnapStart only on published versions, with the API integration on an alias.",
        validate=snap_start_on_an_alias,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="no-snapstart-with-provisioned-concurrency",
        description="Never SnapStart and provisioned concurrency on the same function.",
        validate=no_snap_start_with_provisioned_concurrency,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="public-routes-are-throttled",
        description="Every HTTP API route without authorization is throttled by its stage.",
        validate=public_routes_are_throttled,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="image-by-digest",
        description="Container-image functions run `repository@sha256:...`, never a tag.",
        validate=image_by_digest,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="log-retention-set",
        description="Every log group expires its logs, and every function logs to one of them.",
        validate=log_retention_set,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="reserved-concurrency-not-zero",
        description="No function reserves 0 concurrent executions (that throttles every invoke).",
        validate=reserved_concurrency_not_zero,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="warm-concurrency-within-cap",
        description="No warm schedule asks for more instances than the function may run.",
        validate=warm_concurrency_within_cap,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    StackValidationPolicy(
        name="memory-covers-the-model",
        description="memorySize is at least what the function's model was measured to need.",
        validate=memory_covers_the_model,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={
                "projectDir": {
                    "type": "string",
                    "description": "The Pulumi project's directory, which image build contexts "
                    "are relative to (default: the policy pack's parent directory).",
                }
            }
        ),
    ),
]
