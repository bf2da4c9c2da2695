"""Bounding the bill of old versions: a small Lambda that deletes them after each deploy.

Every deploy publishes a version, and nothing else ever deletes the versions earlier
deploys published. A version published under SnapStart keeps a snapshot billed until the
version is deleted, even after SnapStart is turned off (AWS deletes idle snapshots only for
Java), so the pruner runs on every stack. It runs once whenever the `live` alias moves to
a new version and keeps the newest few.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi_aws import lambda_

from contract import pruner_input
from infra.helper import HelperLambda, HelperLambdaArgs

PRUNER_SOURCE = "pruner"
"""The pruner's source directory (standard library, boto3 and `contract` only), relative to
the project."""
PRUNER_MEMORY_MB = 128
PRUNER_TIMEOUT_S = 60


@dataclass
class VersionsArgs:
    function_name: pulumi.Input[str]
    function_arn: pulumi.Input[str]
    """The unqualified ARN: the pruner may list and delete this function's versions only."""
    alias_version: pulumi.Input[str]
    """The version `live` points at, passed to the pruner: it needs no right to read aliases."""
    keep: int
    """Versions kept published, the one the alias points at among them."""
    log_retention_days: int


class Versions(pulumi.ComponentResource):
    """The pruner Lambda and its run after every deploy that moves the alias."""

    pruner_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: VersionsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("lukewarm:index:Versions", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        pruner = HelperLambda(
            name,
            HelperLambdaArgs(
                function_suffix="pruner",
                source=PRUNER_SOURCE,
                description="lukewarm: deletes the captioning function's old versions",
                role_description=(
                    "lukewarm version pruner: deletes the captioner's old versions, "
                    "writes its own logs"
                ),
                memory_size=PRUNER_MEMORY_MB,
                timeout=PRUNER_TIMEOUT_S,
                log_retention_days=args.log_retention_days,
                variables={"FUNCTION_NAME": args.function_name},
                policies={"prune-versions": pruning_policy(args.function_arn)},
            ),
            child,
        ).function
        # Runs again whenever the alias moves: after the new version is live, never before.
        # The input names that version, so the pruner keeps it without asking Lambda.
        lambda_.Invocation(
            f"{name}-prune",
            function_name=pruner.name,
            input=pulumi.Output.from_input(args.alias_version).apply(
                lambda live: json.dumps(pruner_input(args.keep, live))
            ),
            triggers={"alias_version": args.alias_version},
            opts=child,
        )

        self.pruner_name = pruner.name
        self.register_outputs({"pruner_name": self.pruner_name})


def pruning_policy(function_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """List the versions, delete versions (`function:name:N`): that is all.

    Deleting the whole function needs its unqualified ARN, which no statement allows, and
    Lambda refuses to delete a version that an alias points at.
    """
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "lambda:ListVersionsByFunction",
                    "Resource": function_arn,
                },
                {
                    "Effect": "Allow",
                    "Action": "lambda:DeleteFunction",
                    "Resource": pulumi.Output.concat(function_arn, ":*"),
                },
            ],
        }
    )
