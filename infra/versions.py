"""Bounding the bill of old versions: a small Lambda that deletes them after each deploy.

Every deploy publishes a version, and nothing else ever deletes the versions earlier
deploys published. A version published under SnapStart keeps a snapshot billed until the
version is deleted, even after SnapStart is turned off (AWS deletes idle snapshots only for
Java), so the pruner runs on every stack. It runs once whenever the `live` alias moves to
a new version and keeps the newest few.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import iam, lambda_

from infra.service import helper_function, lambda_identity

PRUNER_SOURCE = "pruner"
"""The pruner's source directory (standard library and boto3 only), relative to the project."""
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

        identity = lambda_identity(
            name,
            "lukewarm version pruner: deletes the captioner's old versions, writes its own logs",
            args.log_retention_days,
            child,
        )
        prune_policy = iam.RolePolicy(
            f"{name}-prune-versions",
            role=identity.role.id,
            policy=pruning_policy(args.function_arn),
            opts=child,
        )
        pruner = helper_function(
            f"{name}-pruner",
            description="lukewarm: deletes the captioning function's old versions",
            code=pulumi.AssetArchive(
                {"handler.py": pulumi.FileAsset(f"{PRUNER_SOURCE}/handler.py")}
            ),
            identity=identity,
            memory_size=PRUNER_MEMORY_MB,
            timeout=PRUNER_TIMEOUT_S,
            variables={"FUNCTION_NAME": args.function_name},
            permissions=[prune_policy],
            parent=self,
        )
        # Runs again whenever the alias moves: after the new version is live, never before.
        # The input names that version, so the pruner keeps it without asking Lambda.
        lambda_.Invocation(
            f"{name}-prune",
            function_name=pruner.name,
            input=pulumi.Output.json_dumps({"keep": args.keep, "live": args.alias_version}),
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
