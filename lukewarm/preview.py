"""`lukewarm preview [--stack NAME]`: what `pulumi up` would create, with no AWS, Docker or
Pulumi CLI.

The Pulumi program runs against the fake cloud the tests use (`infra.mocks`), with the
stack's config over `Pulumi.yaml`'s defaults, and each resource is printed under the
component that owns it, with the settings that decide what it costs and how it behaves,
then the stack's outputs. A config `pulumi up` would refuse is refused here with the same
message, since both read it through `infra.settings`. Ids, ARNs and URLs are the fake
cloud's placeholders: nothing is created, and no image is built.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from infra import settings as stack_settings

KEY_INPUTS = {
    "aws:lambda/function:Function": (
        "packageType",
        "memorySize",
        "timeout",
        "architectures",
        "reservedConcurrentExecutions",
        "snapStart",
        "runtime",
    ),
    "aws:lambda/alias:Alias": ("name",),
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": (
        "provisionedConcurrentExecutions",
    ),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (
        "maximumRetryAttempts",
        "maximumEventAgeInSeconds",
    ),
    "aws:apigatewayv2/api:Api": ("protocolType", "corsConfiguration"),
    "aws:apigatewayv2/route:Route": ("routeKey", "authorizationType"),
    "aws:apigatewayv2/stage:Stage": ("name", "defaultRouteSettings"),
    "aws:scheduler/schedule:Schedule": ("scheduleExpression", "scheduleExpressionTimezone"),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("metricName", "threshold", "treatMissingData"),
    "aws:ecr/repository:Repository": ("imageTagMutability", "forceDelete"),
    "docker:index/image:Image": ("imageName",),
}
"""Per resource type, the inputs worth a line in a preview; other types show their name."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", metavar="NAME", help="read Pulumi.<NAME>.yaml over the defaults")
    parser.add_argument("--json", action="store_true", help="print the resources as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        # The same checks the program makes, with the stack file's own warnings, before
        # anything runs.
        stack_settings.stack_settings(args.stack)
        config = _stack_config(args.stack)
    except stack_settings.SettingsError as error:
        print(f"lukewarm preview: {error}", file=sys.stderr)
        return 2
    # Imported here: Pulumi and its AWS provider take a second to import.
    from infra.mocks import deploy

    deployment = deploy(config)
    resources = list(_tree(deployment))
    if args.json:
        print(json.dumps({"resources": resources, "outputs": deployment.outputs}, indent=2))
        return 0
    source = f"Pulumi.{args.stack}.yaml over " if args.stack else ""
    print(f"lukewarm preview: {source}Pulumi.yaml's defaults; nothing is created")
    print(f"{len(resources)} resources:")
    for resource in resources:
        settings = " ".join(f"{key}={_show(value)}" for key, value in resource["settings"].items())
        indent = "  " * resource["depth"]
        print(f"{indent}+ {resource['type']} {resource['name']}  {settings}".rstrip())
    print("outputs (the fake cloud's ids and URLs):")
    for name, value in deployment.outputs.items():
        print(f"  {name}: {_show(value)}")
    return 0


def _stack_config(stack: str | None) -> dict[str, object]:
    """The stack file's `lukewarm:` keys, by short name (none without a stack)."""
    if stack is None:
        return {}
    config = stack_settings.read_stack_config(stack_settings.ROOT / f"Pulumi.{stack}.yaml")
    prefix = f"{stack_settings.PROJECT}:"
    return {
        key.removeprefix(prefix): value for key, value in config.items() if key.startswith(prefix)
    }


def _tree(deployment: Any) -> Iterator[dict[str, Any]]:
    """Every resource, each component followed by what it owns, in creation order."""
    children: dict[str, list[str]] = {}
    for urn in deployment.urns:
        children.setdefault(deployment.parents.get(urn, ""), []).append(urn)
    roots = [urn for urn in deployment.urns if deployment.parents.get(urn) not in deployment.urns]

    def walk(urn: str, depth: int) -> Iterator[dict[str, Any]]:
        typ = urn.split("::")[-2].rsplit("$", 1)[-1]
        name = urn.rsplit("::", 1)[-1]
        state = deployment.states.get((typ, name), {})
        shown = {
            key: _whole(state[key]) for key in KEY_INPUTS.get(typ, ()) if state.get(key) is not None
        }
        if typ != "pulumi:pulumi:Stack":
            yield {"type": typ, "name": name, "depth": depth, "settings": shown}
        for child in children.get(urn, []):
            yield from walk(child, depth + (typ != "pulumi:pulumi:Stack"))

    for root in roots:
        yield from walk(root, 0)


def _show(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(_whole(value), separators=(",", ":"))


def _whole(value: object) -> object:
    """Numbers as written: the fake cloud hands every number back as a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return value
