"""No alarm on a metric nobody emits: every metric the dashboard or an alarm names must be
published under exactly that namespace, name and dimensions.

- lukewarm's own metrics (namespace `lukewarm`) are checked against what a local-stack run
  really emits: the EMF documents in the function's and the warmer's log groups of the
  local stack's log file, from one run with cold starts and one with SnapStart restores.
- AWS's are checked against AWS's documented metric tables, transcribed below.

An alarm on a misspelt metric, or on a real one with the wrong dimension set, stays green
forever: CloudWatch accepts it and it never sees a data point.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import telemetry
from infra.mocks import API_ID, DASHBOARD, METRIC_ALARM, Deployment, deploy
from tests.conftest import ROOT
from tests.localstack.conftest import http, invoke, lambda_client

Reference = tuple[str, str, frozenset[tuple[str, str]]]

AWS_LAMBDA_METRICS = {
    # Lambda developer guide, "Types of metrics for Lambda functions" (invocation,
    # performance, concurrency and asynchronous invocation metrics), and "Viewing metrics
    # for Lambda functions": dimensions FunctionName; FunctionName + Resource (a version or
    # alias, `name:qualifier`); FunctionName + ExecutedVersion.
    "names": {
        "Invocations",
        "Errors",
        "DeadLetterErrors",
        "DestinationDeliveryFailures",
        "Throttles",
        "OversizedRecordCount",
        "ProvisionedConcurrencyInvocations",
        "ProvisionedConcurrencySpilloverInvocations",
        "RecursiveInvocationsDropped",
        "Duration",
        "PostRuntimeExtensionsDuration",
        "IteratorAge",
        "OffsetLag",
        "ConcurrentExecutions",
        "ProvisionedConcurrentExecutions",
        "ProvisionedConcurrencyUtilization",
        "UnreservedConcurrentExecutions",
        "ClaimedAccountConcurrency",
        "AsyncEventsReceived",
        "AsyncEventAge",
        "AsyncEventsDropped",
    },
    "dimensions": {
        frozenset({("FunctionName", "{function}")}),
        frozenset({("FunctionName", "{function}"), ("Resource", "{function}:live")}),
        frozenset({("FunctionName", "{function}"), ("ExecutedVersion", "{version}")}),
    },
}
AWS_API_GATEWAY_HTTP_METRICS = {
    # API Gateway developer guide, "Monitor CloudWatch metrics for HTTP APIs in API Gateway":
    # metrics 4xx, 5xx, Count, IntegrationLatency, Latency, DataProcessed; dimensions ApiId;
    # ApiId + Stage; ApiId + Method + Resource + Stage. (REST APIs' 4XXError/5XXError are not
    # HTTP API metrics.)
    "names": {"4xx", "5xx", "Count", "IntegrationLatency", "Latency", "DataProcessed"},
    "dimensions": {
        frozenset({("ApiId", "{api}")}),
        frozenset({("ApiId", "{api}"), ("Stage", "$default")}),
    },
}
DOCUMENTED = {"AWS/Lambda": AWS_LAMBDA_METRICS, "AWS/ApiGateway": AWS_API_GATEWAY_HTTP_METRICS}
ONLY_ON_A_FAULT = {"ServerErrors": "only a bug in a route makes the function answer 500"}
"""Own metrics a healthy run cannot emit; checked against the function's source instead."""


NAMES_THE_FUNCTION = {"function_name", "FunctionName", "Resource", "function"}


def normalised(dimensions: dict[str, str], function: str, api: str) -> frozenset[tuple[str, str]]:
    """Dimensions with this stack's function name and API id as placeholders, so that the
    deployed stack's names and the local stack's compare."""

    def value(name: str, text: str) -> str:
        if name in NAMES_THE_FUNCTION:
            return text.replace(function, "{function}", 1) if text.startswith(function) else text
        return "{api}" if name == "ApiId" and text == api else text

    return frozenset((name, value(name, text)) for name, text in dimensions.items())


def metric_entries(metrics: list[list[Any]]) -> Iterator[tuple[str, str, dict[str, str]]]:
    for entry in metrics:
        names = [part for part in entry if isinstance(part, str)]
        if len(names) >= 2:
            pairs = names[2:]
            yield names[0], names[1], dict(zip(pairs[::2], pairs[1::2], strict=True))


def references(deployment: Deployment) -> set[Reference]:
    """Every (namespace, metric, dimensions) the dashboard and the alarms name."""
    function = deployment.outputs["function_name"]
    found: set[Reference] = set()
    body = json.loads(deployment.one(DASHBOARD)["dashboardBody"])
    for widget in body["widgets"]:
        for namespace, name, dimensions in metric_entries(widget["properties"].get("metrics", [])):
            found.add((namespace, name, normalised(dimensions, function, API_ID)))
    for alarm in deployment.of_type(METRIC_ALARM):
        inputs = alarm.inputs
        metrics = [inputs] if "metricName" in inputs else []
        metrics += [
            query["metric"] for query in inputs.get("metricQueries", []) if "metric" in query
        ]
        for metric in metrics:
            found.add(
                (
                    metric["namespace"],
                    metric["metricName"],
                    normalised(metric.get("dimensions", {}), function, API_ID),
                )
            )
    return found


def emitted(log_file: Path, function: str = "lukewarm") -> set[Reference]:
    """Every metric series the EMF documents in a local stack's log file publish."""
    found: set[Reference] = set()
    for line in log_file.read_text(encoding="utf-8").splitlines():
        message = json.loads(line)["message"]
        if '"_aws"' not in message:
            continue
        document = json.loads(message)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = {name: str(document[name]) for name in dimension_set}
                for metric in directive["Metrics"]:
                    found.add(
                        (
                            directive["Namespace"],
                            metric["Name"],
                            normalised(dimensions, function, "-"),
                        )
                    )
    return found


@pytest.fixture(scope="module")
def local_emissions(
    local_stack_factory: Callable[..., Any], tiny_model_dir: Path
) -> set[Reference]:
    """One run with cold starts, one with SnapStart restores: captions, a refusal, warm-ups
    and the warmer's run at start, each in its own stack."""
    found: set[Reference] = set()
    for snapstart in (False, True):
        stack = local_stack_factory(model_dir=tiny_model_dir, snapstart=snapstart)
        deadline = time.monotonic() + 60
        while "warm run (start)" not in stack.log():
            assert time.monotonic() < deadline, stack.log()
            time.sleep(0.1)
        photo = (ROOT / "data" / "photos" / "coffee.png").read_bytes()
        assert http(stack.url + "caption", photo, {"Content-Type": "image/png"}).status == 200
        assert http(stack.url + "caption", b"x", {"Content-Type": "text/plain"}).status == 415
        invoke(lambda_client(stack.invoke_endpoint), {"lukewarm": {"action": "warm"}})
        stack.stop()
        found |= emitted(stack.events_path)
    return found


@pytest.fixture(scope="module")
def watched() -> set[Reference]:
    deployment = deploy(
        {"monitoring": "alarms", "provisionedConcurrency": 1, "reservedConcurrency": 2}
    )
    return references(deployment)


def test_every_own_metric_watched_is_one_a_local_run_emits(
    watched: set[Reference], local_emissions: set[Reference]
) -> None:
    own = {ref for ref in watched if ref[0] == telemetry.NAMESPACE}
    assert {name for _, name, _ in own} >= {"ColdStart", "Restores", "WarmTargets", "Captions"}
    missing = {ref for ref in own if ref not in local_emissions and ref[1] not in ONLY_ON_A_FAULT}
    assert missing == set(), f"watched but never emitted: {missing}"


def test_own_metrics_only_a_fault_emits_are_published_like_the_others(
    watched: set[Reference], local_emissions: set[Reference]
) -> None:
    source = (ROOT / "function" / "app.py").read_text(encoding="utf-8")
    function_dimensions = {dims for ns, name, dims in local_emissions if name == "Captions"}
    for name in ONLY_ON_A_FAULT:
        assert re.search(rf'metrics\.add_metric\("{name}", ', source), name
        assert {dims for _, metric, dims in watched if metric == name} <= function_dimensions


def test_every_aws_metric_watched_is_a_documented_one(watched: set[Reference]) -> None:
    aws = {ref for ref in watched if ref[0].startswith("AWS/")}
    assert {namespace for namespace, _, _ in aws} == set(DOCUMENTED)
    for namespace, name, dimensions in aws:
        table = DOCUMENTED[namespace]
        assert name in table["names"], f"{namespace} has no metric {name}"
        assert dimensions in table["dimensions"], f"{namespace} {name}: {sorted(dimensions)}"


def test_the_check_catches_a_misspelt_or_misdimensioned_metric(
    local_emissions: set[Reference],
) -> None:
    function = frozenset({("function_name", "{function}"), ("service", "lukewarm")})
    assert ("lukewarm", "ColdStart", function) in local_emissions
    assert ("lukewarm", "ColdStarts", function) not in local_emissions
    assert ("lukewarm", "ColdStart", frozenset({("service", "lukewarm")})) not in local_emissions
    assert "4XXError" not in AWS_API_GATEWAY_HTTP_METRICS["names"]
