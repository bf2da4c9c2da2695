"""Tags on every taggable resource: which project, stack and component made it, plus the
stack's own `lukewarm:tags` (for cost allocation).

A provider's default tags would be the usual way, but the default AWS provider takes them
only from stack config (`aws:defaultTags`), and moving every resource to an explicit
provider would replace the resources of stacks already deployed. So one resource transform
adds them instead, to exactly the AWS resources whose type takes `tags` (as the provider's
own classes say), under any tags a resource sets itself. `aws:defaultTags`, if a stack
sets it, still applies on top.
"""

from __future__ import annotations

import importlib
import inspect
import keyword
from collections.abc import Mapping
from functools import cache

import pulumi

PROJECT_TAG = "lukewarm:project"
STACK_TAG = "lukewarm:stack"
COMPONENT_TAG = "lukewarm:component"
OWN_TAGS = (PROJECT_TAG, STACK_TAG, COMPONENT_TAG)


@cache
def is_taggable(type_token: str) -> bool:
    """Whether an AWS resource type takes `tags`, read from pulumi_aws's class for it
    (`aws:lambda/function:Function` is `pulumi_aws.lambda_.Function`)."""
    package, _, rest = type_token.partition(":")
    module_path, _, class_name = rest.partition(":")
    if package != "aws" or not class_name:
        return False
    module = module_path.split("/")[0]
    module = f"{module}_" if keyword.iskeyword(module) else module
    try:
        resource_class = getattr(importlib.import_module(f"pulumi_aws.{module}"), class_name)
    except (ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def component_of(opts: pulumi.ResourceOptions | None) -> str | None:
    """The name of the lukewarm component a resource belongs to (its parent)."""
    parent = opts.parent if opts is not None else None
    if parent is not None and parent.pulumi_resource_type.startswith("lukewarm:"):
        return parent.pulumi_resource_name
    return None


def tag_resources(project: str, stack: str, user_tags: Mapping[str, str]) -> None:
    """Register the transform that tags every taggable resource created after it."""

    def transform(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not is_taggable(args.type_):
            return None
        ours = {**user_tags, PROJECT_TAG: project, STACK_TAG: stack}
        component = component_of(args.opts)
        if component is not None:
            ours[COMPONENT_TAG] = component
        tags = pulumi.Output.from_input(args.props.get("tags")).apply(
            lambda own: {**ours, **(own or {})}
        )
        return pulumi.ResourceTransformationResult({**args.props, "tags": tags}, args.opts)

    # A stack transformation, run in the program itself, rather than the engine-side
    # `register_resource_transform`: it also runs where there is no engine (the mocks that
    # the tests and `lukewarm preview` use), so what they show is what is deployed.
    pulumi.runtime.register_stack_transformation(transform)
