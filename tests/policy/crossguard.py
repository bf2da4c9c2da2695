"""Run the policy pack's validations the way CrossGuard does, on resources from the mocks.

The engine hands a resource policy each resource's inputs and a stack policy every
resource's outputs (inputs plus what the cloud added), both with camelCase keys: the mocks
record exactly those, so the policies see here what they see under `pulumi preview`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# What `args.not_applicable(reason)` raises; the engine reports it as "not applicable".
from pulumi_policy.policy import _NotApplicableError

from infra.mocks import Deployment
from policy.rules import POLICIES


@dataclass
class Verdict:
    """What one policy said about one deployment."""

    violations: list[tuple[str, str | None]] = field(default_factory=list)
    """(message, urn) for each violation reported."""
    not_applicable: str | None = None

    @property
    def messages(self) -> list[str]:
        return [message for message, _ in self.violations]


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:test::lukewarm::{typ}::{name}"


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def stack_resources(deployment: Deployment) -> list[PolicyResource]:
    return [
        PolicyResource(
            resource_type=resource.typ,
            props=deployment.state(resource.typ, resource.name),
            urn=urn(resource.typ, resource.name),
            name=resource.name,
            opts=_options(),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for resource in deployment.resources
    ]


def policy(name: str) -> ResourceValidationPolicy | StackValidationPolicy:
    return next(p for p in POLICIES if p.name == name)


def check(name: str, deployment: Deployment, config: Mapping[str, Any] | None = None) -> Verdict:
    """Run the policy called `name` on everything `deployment` created."""
    verdict = Verdict()

    def report(message: str, urn: str | None = None) -> None:
        verdict.violations.append((message, urn))

    chosen = policy(name)
    try:
        if isinstance(chosen, StackValidationPolicy):
            chosen.validate(StackValidationArgs(stack_resources(deployment), config), report)
        else:
            for resource in deployment.resources:
                args = ResourceValidationArgs(
                    resource.typ,
                    resource.inputs,
                    urn(resource.typ, resource.name),
                    resource.name,
                    _options(),
                    None,
                    config,
                )
                chosen.validate(args, report)
    except _NotApplicableError as reason:
        verdict.not_applicable = reason.message
    return verdict
