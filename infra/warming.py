"""Keeping the function luke-warm: the warmer Lambda and one schedule per warm window."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_aws import get_caller_identity_output, iam, lambda_, scheduler

from contract import MAX_HOLD_MS, WARMER_MEMORY_MB, prewarm_input, warmer_input
from infra.helper import HelperLambda, HelperLambdaArgs
from infra.schedules import WarmSchedule

WARMER_SOURCE = "warmer"
"""The warmer's source directory (standard library, boto3 and `contract` only), relative to
the project."""
WARMER_TIMEOUT_S = 300
"""Room for a deploy's pre-warm to wait for its version to become Active (up to 210 s: a
first SnapStart version is Pending while Lambda snapshots it), then a cold target's init
(up to 10 s), its hold, and a second, longer wave. A scheduled run sends two waves at most."""
MAX_EVENT_AGE_S = 60
"""A warm-up that could not be delivered within a minute is stale: drop it, never pile up."""


def warm_event(concurrency: int, hold_ms: int) -> str:
    """The warmer's input, as JSON text for a schedule (the pre-warm also names its version)."""
    return json.dumps(warmer_input(concurrency, hold_ms))


@dataclass
class WarmingArgs:
    """What to keep warm, and when: any Lambda function's alias, not only the captioner's.

    Warm-ups reach the alias's instances whatever the function runs; a Python function
    that answers them with the `keepwarm` helper also gets its instances counted (the
    warmer reports the others' pings as unverified).
    """

    function_name: pulumi.Input[str]
    """The function to keep warm: its name or ARN."""
    function_arn: pulumi.Input[str]
    """Its unqualified ARN: the pre-warm may read the state of this function's versions."""
    alias_name: pulumi.Input[str]
    """The alias to warm: the one your callers invoke, or the warm instances serve nobody."""
    alias_arn: pulumi.Input[str]
    """The alias's ARN: the only thing the warmer may invoke."""
    alias_version: pulumi.Input[str] | None
    """The version the alias points at; a new one means new, cold instances, and re-runs
    the pre-warm. None if this program does not know it."""
    function_timeout: int
    """The function's timeout, s: how long one warm-up invoke may take, with its init."""
    image_uri: pulumi.Input[str] | None
    """The function's image, if it has one: a new image also re-runs the pre-warm."""
    schedules: Sequence[WarmSchedule]
    """The warm windows; at least one."""
    hold_ms: int
    """How long each warm-up holds its instance, ms (0 to MAX_HOLD_MS), so concurrent
    warm-ups land on distinct instances."""
    prewarm_on_deploy: bool
    """Run the warmer once during the deploy whenever the alias's version or image changes."""
    log_retention_days: int
    """How long the warmer's own logs are kept, days."""

    @classmethod
    def for_alias(
        cls,
        alias: lambda_.Alias,
        *,
        function_timeout: int,
        schedules: Sequence[WarmSchedule],
        hold_ms: int = 500,
        prewarm_on_deploy: bool = True,
        log_retention_days: int = 14,
    ) -> WarmingArgs:
        """Keep-warm for an alias this program has (or looked up with `lambda_.Alias.get`).

        The defaults are lukewarm's own (Pulumi.yaml's warmHoldMs, prewarmOnDeploy and
        logRetentionDays).
        """
        return cls(
            function_name=alias.function_name,
            # An alias's ARN is its function's, qualified by the alias's name.
            function_arn=alias.arn.apply(lambda arn: arn.rsplit(":", 1)[0]),
            alias_name=alias.name,
            alias_arn=alias.arn,
            alias_version=alias.function_version,
            function_timeout=function_timeout,
            image_uri=None,
            schedules=schedules,
            hold_ms=hold_ms,
            prewarm_on_deploy=prewarm_on_deploy,
            log_retention_days=log_retention_days,
        )

    def __post_init__(self) -> None:
        if not self.schedules:
            raise ValueError("schedules: keep-warm needs at least one warm window")
        if not 0 <= self.hold_ms <= MAX_HOLD_MS:
            raise ValueError(f"hold_ms must be from 0 to {MAX_HOLD_MS}, got {self.hold_ms}")


class Warming(pulumi.ComponentResource):
    """A warmer Lambda invoking an alias N times at once, on EventBridge Scheduler schedules:
    its role may invoke that alias and nothing else, the schedules' role may invoke the warmer
    and nothing else, and neither Lambda nor the Scheduler retries a missed warm-up."""

    warmer_name: pulumi.Output[str]
    schedule_names: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: WarmingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("lukewarm:index:Warming", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        policies = {"invoke-alias": _invoke_policy(args.alias_arn)}
        if args.prewarm_on_deploy and args.alias_version is not None:
            # Only a deploy's pre-warm, told its version, asks whether it is Active yet.
            policies["read-version-state"] = _version_state_policy(args.function_arn)
        helper = HelperLambda(
            name,
            HelperLambdaArgs(
                function_suffix="warmer",
                source=WARMER_SOURCE,
                description="lukewarm: keeps a function's alias warm",
                role_description="lukewarm warmer: invokes one alias, writes its own logs",
                memory_size=WARMER_MEMORY_MB,
                timeout=WARMER_TIMEOUT_S,
                log_retention_days=args.log_retention_days,
                variables={
                    "FUNCTION_NAME": args.function_name,
                    "FUNCTION_QUALIFIER": args.alias_name,
                    "FUNCTION_TIMEOUT_S": str(args.function_timeout),
                },
                policies=policies,
            ),
            child,
        )
        warmer = helper.function

        # The Scheduler invokes the warmer asynchronously, so Lambda's own retries (two, with
        # events kept six hours) would apply on top of the schedule's retry policy.
        event_invoke_config = lambda_.FunctionEventInvokeConfig(
            f"{name}-no-retries",
            function_name=warmer.name,
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_S,
            opts=child,
        )

        scheduler_role = iam.Role(
            f"{name}-scheduler-role",
            description="lukewarm warm schedules: invoke the warmer, nothing else",
            assume_role_policy=_scheduler_trust(),
            opts=child,
        )
        scheduler_invoke_policy = iam.RolePolicy(
            f"{name}-scheduler-invoke-warmer",
            role=scheduler_role.id,
            policy=_invoke_policy(warmer.arn),
            opts=child,
        )
        # A schedule that fires before its role may invoke the warmer, or before the warmer
        # stops retrying, loses or stacks its first warm-ups.
        after_invoke_rights = pulumi.ResourceOptions(
            parent=self, depends_on=[scheduler_invoke_policy, event_invoke_config]
        )
        schedules = [
            scheduler.Schedule(
                f"{name}-schedule-{index}",
                description=f"lukewarm: warm {window.concurrency} at {window.schedule}",
                schedule_expression=window.schedule,
                schedule_expression_timezone=window.timezone,
                flexible_time_window=scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                target=scheduler.ScheduleTargetArgs(
                    arn=warmer.arn,
                    role_arn=scheduler_role.arn,
                    input=warm_event(window.concurrency, args.hold_ms),
                    # A missed warm-up is replaced by the next one; retries would only
                    # stack warm-ups on top of each other.
                    retry_policy=scheduler.ScheduleTargetRetryPolicyArgs(
                        maximum_retry_attempts=0,
                        maximum_event_age_in_seconds=MAX_EVENT_AGE_S,
                    ),
                ),
                opts=after_invoke_rights,
            )
            for index, window in enumerate(args.schedules)
        ]
        if args.prewarm_on_deploy:
            # Runs again whenever the image or the alias's version changes: both mean
            # new, cold instances behind the alias. The provider does not wait for a new
            # version to be Active (terraform-provider-aws #42693): the input names the
            # version, and the warmer waits for it before warming.
            prewarm = lambda_.Invocation(
                f"{name}-prewarm",
                function_name=warmer.name,
                input=_prewarm_event(
                    max(window.concurrency for window in args.schedules),
                    args.hold_ms,
                    args.alias_version,
                ),
                triggers={
                    key: value
                    for key, value in (
                        ("image_uri", args.image_uri),
                        ("alias_version", args.alias_version),
                    )
                    if value is not None
                },
                # The warmer must be allowed to ask and to invoke before its first run.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(helper.policies.values())),
            )
            prewarm.result.apply(lambda result: report_prewarm(result, prewarm))

        self.warmer_name = warmer.name
        self.schedule_names = [schedule.name for schedule in schedules]
        self.register_outputs(
            {"warmer_name": self.warmer_name, "schedule_names": self.schedule_names}
        )


def _prewarm_event(
    concurrency: int, hold_ms: int, version: pulumi.Input[str] | None
) -> pulumi.Input[str]:
    """The pre-warm's input: it names the alias's version, when known, for the warmer to
    wait for; without one it is a scheduled run's."""
    if version is None:
        return warm_event(concurrency, hold_ms)
    return pulumi.Output.from_input(version).apply(
        lambda live: json.dumps(prewarm_input(concurrency, hold_ms, live))
    )


def report_prewarm(result: str, prewarm: pulumi.Resource) -> None:
    """Say in the deploy's own log when the pre-warm found the new version not servable."""
    try:
        summary = json.loads(result)
    except (TypeError, ValueError):
        return
    readiness = summary.get("version_state") if isinstance(summary, dict) else None
    if isinstance(readiness, dict) and readiness.get("active") is False:
        details = summary.get("error_details") or ["the new version is not Active"]
        pulumi.log.warn(f"pre-warm: {details[0]}", resource=prewarm)


def _version_state_policy(function_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Read a version's configuration (its State), qualified ARNs of this function only."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "lambda:GetFunctionConfiguration",
                    "Resource": pulumi.Output.concat(function_arn, ":*"),
                }
            ],
        }
    )


def _invoke_policy(function_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn}
            ],
        }
    )


def _scheduler_trust() -> pulumi.Output[str]:
    # Only schedules of this account may use the role (the confused-deputy guard).
    account = get_caller_identity_output().account_id
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "scheduler.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        }
    )
