"""The program against a fake cloud: Pulumi mocks with its outputs, and a record of every
resource. What the tests and `lukewarm preview` run, with no AWS, Docker or Pulumi CLI.

`deploy(config)` runs the whole program (`__main__.py`) in-process, not as a preview, so
every `apply` runs and every output is known, and returns what was created and exported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi.runtime.settings
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.settings import ROOT

REGION = "eu-central-1"
ACCOUNT = "123456789012"
API_ID = "a1b2c3d4e5"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""The key Pulumi marks a secret value with on the wire."""

# Type tokens.
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_LIFECYCLE_POLICY = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
DOCKER_IMAGE = "docker:index/image:Image"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
PROVISIONED_CONCURRENCY = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
PERMISSION = "aws:lambda/permission:Permission"
INVOCATION = "aws:lambda/invocation:Invocation"
EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
HTTP_API = "aws:apigatewayv2/api:Api"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE = "aws:apigatewayv2/route:Route"
STAGE = "aws:apigatewayv2/stage:Stage"
AUTHORIZER = "aws:apigatewayv2/authorizer:Authorizer"
SCHEDULE = "aws:scheduler/schedule:Schedule"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"

# Function tokens.
GET_AUTHORIZATION_TOKEN = "aws:ecr/getAuthorizationToken:getAuthorizationToken"
GET_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_REGION = "aws:index/getRegion:getRegion"

ECR_PASSWORD = "ecr-password-from-the-token"


def _physical_name(name: str) -> str:
    """Pulumi's auto-naming: the resource name and a random suffix (here a stable one)."""
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}"


def _outputs(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What the cloud would add to a resource's inputs, for the outputs the program reads."""
    physical = inputs.get("name") or _physical_name(name)
    lambda_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
    if typ == ECR_REPOSITORY:
        return {
            "name": physical,
            "arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{physical}",
            "registryId": ACCOUNT,
            "repositoryUrl": f"{REGISTRY}/{physical}",
        }
    if typ == DOCKER_IMAGE:
        repository = inputs["imageName"].rsplit(":", 1)[0]
        build = json.dumps(inputs.get("build"), sort_keys=True, default=str)
        return {"repoDigest": f"{repository}@sha256:{hashlib.sha256(build.encode()).hexdigest()}"}
    if typ == LOG_GROUP:
        return {"name": physical, "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}"}
    if typ == ROLE:
        return {"name": physical, "arn": f"arn:aws:iam::{ACCOUNT}:role/{physical}"}
    if typ == IAM_POLICY:
        return {"name": physical, "arn": f"arn:aws:iam::{ACCOUNT}:policy/{physical}"}
    if typ == FUNCTION:
        return {
            "name": physical,
            "arn": f"{lambda_arn}:{physical}",
            "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"{lambda_arn}:{physical}/invocations",
            "version": "1",
        }
    if typ == ALIAS:
        arn = f"{lambda_arn}:{inputs['functionName']}:{inputs['name']}"
        return {
            "arn": arn,
            "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"{arn}/invocations",
        }
    if typ == HTTP_API:
        return {
            "apiEndpoint": f"https://{API_ID}.execute-api.{REGION}.amazonaws.com",
            "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}",
        }
    if typ == SCHEDULE:
        return {
            "name": physical,
            "arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{physical}",
        }
    if typ == DASHBOARD:
        return {
            "dashboardArn": f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{inputs['dashboardName']}"
        }
    if typ == METRIC_ALARM:
        return {"name": physical, "arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{physical}"}
    if typ == TOPIC:
        return {"name": physical, "arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{physical}"}
    if typ == INVOCATION:
        return {"result": "{}"}
    return {}


class LukewarmMocks(Mocks):
    """Answers for the program's resources and calls; remembers every resource's inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[MockResourceArgs] = []
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[MockCallArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        state = {**args.inputs, **_outputs(args.typ, args.name, args.inputs)}
        self.states[args.typ, args.name] = state
        resource_id = API_ID if args.typ == HTTP_API else f"{args.name}-id"
        return resource_id, state

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args)
        if args.token == GET_AUTHORIZATION_TOKEN:
            return {
                "id": REGION,
                "registryId": args.args.get("registryId", ACCOUNT),
                "userName": "AWS",
                "password": ECR_PASSWORD,
                "authorizationToken": "QVdTOmVjci1wYXNzd29yZA==",
                "proxyEndpoint": f"https://{REGISTRY}",
                "expiresAt": "2026-11-29T04:00:00Z",
            }, []
        if args.token == GET_CALLER_IDENTITY:
            return {
                "id": ACCOUNT,
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/deployer",
                "userId": "AIDAEXAMPLE",
            }, []
        if args.token == GET_REGION:
            return {
                "id": REGION,
                "name": REGION,
                "region": REGION,
                "endpoint": f"ec2.{REGION}.amazonaws.com",
                "description": "Europe (Frankfurt)",
            }, []
        raise NotImplementedError(f"the mocks do not fake the call {args.token}")


class RecordingMonitor(MockMonitor):
    """A mock monitor that also records what each resource was made to wait for."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, set[str]] = {}
        self.parents: dict[str, str] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.dependencies[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        self.parents[response.urn] = request.parent
        return response


def unsecret(value: Any) -> Any:
    """The plain value inside Pulumi's secret envelope (anything else unchanged)."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return unsecret(value["value"])
    if isinstance(value, dict):
        return {key: unsecret(item) for key, item in value.items()}
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


@dataclass
class Deployment:
    """What one run of the program created (inputs by type) and exported."""

    resources: list[MockResourceArgs]
    states: dict[tuple[str, str], dict[str, Any]]
    outputs: dict[str, Any]
    urns: list[str]
    dependencies: dict[str, set[str]]
    """Resource name → the names of the resources it waits for (inputs and `depends_on`)."""
    parents: dict[str, str]
    """Resource URN → its parent's URN (the stack's for a top-level component)."""

    def of_type(self, typ: str) -> list[MockResourceArgs]:
        return [resource for resource in self.resources if resource.typ == typ]

    def one(self, typ: str, name: str | None = None) -> dict[str, Any]:
        """The inputs of the one resource of a type (and name, if given)."""
        matches = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(matches) == 1, f"{len(matches)} resources of {typ} named {name}"
        return cast(dict[str, Any], matches[0].inputs)

    def state(self, typ: str, name: str) -> dict[str, Any]:
        """A resource's inputs and the outputs the fake cloud gave it."""
        return self.states[typ, name]

    def policies(self) -> dict[str, dict[str, Any]]:
        """Every inline IAM policy document by resource name."""
        return {r.name: json.loads(r.inputs["policy"]) for r in self.of_type(ROLE_POLICY)}


def config_value(value: object) -> str:
    """A config value as the Pulumi engine hands it to the program: a string."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def deploy(
    config: Mapping[str, object] | None = None, mocks: LukewarmMocks | None = None
) -> Deployment:
    """Run `__main__.py` against the mocks with the given `lukewarm:` config (short keys)."""
    return run(ROOT / "__main__.py", config, mocks)


def _ensure_event_loop() -> None:
    """Pulumi's synchronous runner uses the thread's event loop, which an earlier test's
    `asyncio.run` leaves closed and unset: give the thread a fresh one if so."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def run(
    program: Path | Callable[[], object],
    config: Mapping[str, object] | None = None,
    mocks: LukewarmMocks | None = None,
    *,
    project: str = "lukewarm",
) -> Deployment:
    """Run a Pulumi program (a `__main__.py`, or a function that creates resources) against
    the mocks, with config keys in `project`'s namespace (or already namespaced, `ns:key`)."""
    mocks = mocks or LukewarmMocks()
    monitor = RecordingMonitor(mocks)
    _ensure_event_loop()
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack="test", preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {
            key if ":" in key else f"{project}:{key}": config_value(value)
            for key, value in (config or {}).items()
        }
    )
    exported: dict[str, Any] = {}

    async def main() -> None:
        if isinstance(program, Path):
            runpy.run_path(str(program), run_name="__main__")
        else:
            program()
        stack = cast(Stack, pulumi.runtime.settings.get_root_resource())
        exported.update(await pulumi.Output.from_input(stack.outputs).future() or {})

    _sync_await(run_pulumi_func(main))
    return Deployment(
        mocks.resources,
        mocks.states,
        exported,
        list(monitor.resources),
        monitor.dependencies,
        monitor.parents,
    )
