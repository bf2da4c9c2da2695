"""The captioning function: its role, its log group, the function, and the `live` alias.

`lambda_identity` (a Lambda's own log group and a role that may write to it) is shared
with the helper Lambdas' component, `infra.helper`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_aws import cloudwatch, iam, lambda_

from contract import ALIAS, RUNTIME_VARIABLE

METRICS_NAMESPACE = "lukewarm"
UNRESERVED = -1
"""`reserved_concurrent_executions` for a function that shares the account's unreserved pool."""

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def log_writing_policy(log_group_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Permission to write to one log group and its streams, nothing else."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [
                        log_group_arn,
                        pulumi.Output.concat(log_group_arn, ":log-stream:*"),
                    ],
                }
            ],
        }
    )


def system_log_level(log_level: str) -> str:
    """Lambda's own platform log level for an application level.

    DEBUG adds Lambda's debug lines; any other level keeps INFO, so the REPORT line of every
    invoke (duration, billed duration, init) is always there.
    """
    return "DEBUG" if log_level == "DEBUG" else "INFO"


@dataclass(frozen=True)
class LambdaIdentity:
    log_group: cloudwatch.LogGroup
    role: iam.Role
    logs_policy: iam.RolePolicy


def lambda_identity(
    name: str, description: str, log_retention_days: int, opts: pulumi.ResourceOptions
) -> LambdaIdentity:
    """A Lambda's own log group, and a role that may write to it and nothing more yet."""
    # Named by us rather than /aws/lambda/<function>, which Lambda would create on the
    # first invoke if it did not exist yet, racing this resource and keeping logs forever.
    log_group = cloudwatch.LogGroup(
        f"{name}-logs",
        name=f"/lukewarm/{pulumi.get_stack()}/{name}",
        retention_in_days=log_retention_days,
        opts=opts,
    )
    role = iam.Role(
        f"{name}-role",
        description=description,
        assume_role_policy=pulumi.Output.json_dumps(LAMBDA_TRUST),
        opts=opts,
    )
    logs_policy = iam.RolePolicy(
        f"{name}-write-logs", role=role.id, policy=log_writing_policy(log_group.arn), opts=opts
    )
    return LambdaIdentity(log_group, role, logs_policy)


@dataclass
class ServiceArgs:
    image_uri: pulumi.Input[str]
    """The image by digest, `repository@sha256:...`."""
    architecture: str
    runtime: str
    """`onnx` or `torch`: what the function loads the model with, passed to it as
    `LUKEWARM_RUNTIME` (the image was built for the same one)."""
    memory_size: int
    timeout: int
    reserved_concurrency: int
    """Instances reserved for the function, also its cap; 0 for no reservation."""
    provisioned_concurrency: int
    """Instances kept initialised on the alias; 0 for none."""
    log_retention_days: int
    log_level: str = "INFO"
    """The application log level: DEBUG, INFO, WARN or ERROR."""
    snap_start: bool = False
    """SnapStart on published versions: each one's init runs once, at publish, and new
    instances restore its snapshot. Needs the function's /tmp at 512 MB (the default)."""


class Service(pulumi.ComponentResource):
    """The function that captions images, published as a version behind the `live` alias."""

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    alias_name: pulumi.Output[str]
    alias_arn: pulumi.Output[str]
    alias_version: pulumi.Output[str]
    """The version `live` points at: a new one means new, cold instances."""
    log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("lukewarm:index:Service", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        identity = lambda_identity(
            name,
            "lukewarm captioning function: writes its own logs, nothing else",
            args.log_retention_days,
            child,
        )
        log_group, role = identity.log_group, identity.role
        function = lambda_.Function(
            f"{name}-function",
            description="lukewarm: captions images",
            package_type="Image",
            image_uri=args.image_uri,
            architectures=[args.architecture],
            memory_size=args.memory_size,
            timeout=args.timeout,
            # -1, as unset, is Lambda's "unreserved"; 0 would throttle every invoke.
            reserved_concurrent_executions=args.reserved_concurrency or UNRESERVED,
            role=role.arn,
            # Lambda sets AWS_LAMBDA_LOG_LEVEL from the application level (INFO when unset),
            # and Powertools prefers it to LOG_LEVEL: the level is set here or nowhere.
            logging_config=lambda_.FunctionLoggingConfigArgs(
                log_format="JSON",
                log_group=log_group.name,
                application_log_level=args.log_level,
                system_log_level=system_log_level(args.log_level),
            ),
            environment=lambda_.FunctionEnvironmentArgs(
                variables={
                    "LOG_LEVEL": args.log_level,
                    "POWERTOOLS_SERVICE_NAME": "lukewarm",
                    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                    RUNTIME_VARIABLE: args.runtime,
                }
            ),
            # Every change publishes a version, and the alias follows it.
            publish=True,
            snap_start=lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions")
            if args.snap_start
            else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[identity.logs_policy]),
        )
        alias = lambda_.Alias(
            f"{name}-alias",
            name=ALIAS,
            function_name=function.name,
            function_version=function.version,
            opts=child,
        )
        if args.provisioned_concurrency > 0:
            lambda_.ProvisionedConcurrencyConfig(
                f"{name}-provisioned",
                function_name=function.name,
                qualifier=alias.name,
                provisioned_concurrent_executions=args.provisioned_concurrency,
                opts=child,
            )

        self.function_name = function.name
        self.function_arn = function.arn
        self.alias_name = alias.name
        self.alias_arn = alias.arn
        self.alias_version = alias.function_version
        self.log_group_name = log_group.name
        self.register_outputs(
            {
                "function_name": self.function_name,
                "alias_arn": self.alias_arn,
                "log_group_name": self.log_group_name,
            }
        )
