"""A helper Lambda: one of the stack's small zipped functions (the warmer, the version pruner).

Standard library, boto3 and `contract` only, zipped with the contract beside its handler,
on arm64 (cheaper per GB-second), logging JSON to its own group, with a role that may write
those logs and do its one job. The component that owns it (`Warming`, `Versions`) gives it
a name it prefixes its children with, as before this component existed, and the aliases
keep the resources an earlier deploy made where they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
from pulumi_aws import iam, lambda_

from contract import HELPER_ARCHITECTURE
from infra.service import lambda_identity
from infra.settings import ROOT

CONTRACT_SOURCE = "function/contract"
"""The contract package, relative to the project: shipped in every helper Lambda's zip."""


def helper_code(source: str) -> pulumi.AssetArchive:
    """A helper Lambda's zip: the Python modules of `source` (a folder of the project) and
    the `contract` package beside them, so no __pycache__ or editor files reach it."""
    modules = sorted(path for path in (ROOT / source).glob("*.py") if path.name != "__init__.py")
    # Relative to the working directory: the project's own under `pulumi up` (so a stack's
    # state does not depend on where the checkout lives), another program's when it imports
    # the components (examples/).
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        path.name: pulumi.FileAsset(os.path.relpath(path)) for path in modules
    }
    assets["contract/__init__.py"] = pulumi.FileAsset(
        os.path.relpath(ROOT / CONTRACT_SOURCE / "__init__.py")
    )
    return pulumi.AssetArchive(assets)


@dataclass
class HelperLambdaArgs:
    function_suffix: str
    """The function's name after the owner's prefix (`warmer` makes `warming-warmer`)."""
    source: str
    """The project folder its `handler.py` lives in."""
    description: str
    role_description: str
    memory_size: int
    timeout: int
    log_retention_days: int
    variables: dict[str, pulumi.Input[str]]
    policies: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Its job's permissions: policy name suffix → policy document. The function is
    created once its role holds them all."""


class HelperLambda(pulumi.ComponentResource):
    """A small zipped Lambda with its own log group and a least-privilege role."""

    function: lambda_.Function
    role: iam.Role
    policies: dict[str, iam.RolePolicy]

    def __init__(self, name: str, args: HelperLambdaArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__("lukewarm:index:HelperLambda", name, None, opts)
        # Earlier deploys made these resources as the owner's own children.
        child = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=opts.parent)])
        identity = lambda_identity(name, args.role_description, args.log_retention_days, child)
        self.role = identity.role
        self.policies = {
            suffix: iam.RolePolicy(
                f"{name}-{suffix}", role=identity.role.id, policy=document, opts=child
            )
            for suffix, document in args.policies.items()
        }
        self.function = lambda_.Function(
            f"{name}-{args.function_suffix}",
            description=args.description,
            runtime="python3.12",
            handler="handler.handler",
            code=helper_code(args.source),
            architectures=[HELPER_ARCHITECTURE],
            memory_size=args.memory_size,
            timeout=args.timeout,
            role=identity.role.arn,
            logging_config=lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=identity.log_group.name
            ),
            environment=lambda_.FunctionEnvironmentArgs(variables=args.variables),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(depends_on=[identity.logs_policy, *self.policies.values()]),
            ),
        )
        self.register_outputs({"function_name": self.function.name})
