"""lukewarm's warmer on a function of someone else's, in the local stack: with the keepwarm
helper its reach is verified instance by instance; without it, the pings are unverified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.localstack.conftest import http
from tests.localstack.test_snapstart import wait_for_snapshot
from warmer import handler as warmer

LOCALSTACK_TESTS = Path(__file__).resolve().parent.parent / "localstack"
LOCAL = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}


def warm(stack: Any, concurrency: int = 3) -> dict[str, Any]:
    return warmer.warm(
        "lukewarm",
        "live",
        concurrency,
        300,
        budget_s=30,
        endpoint_url=stack.invoke_endpoint,
        client_options=LOCAL,
    )


@pytest.fixture(scope="module")
def with_helper(local_stack_factory):
    return local_stack_factory(
        task_root=LOCALSTACK_TESTS / "keepwarm_function", no_warmer=True, max_instances=3
    )


@pytest.fixture(scope="module")
def without_helper(local_stack_factory):
    return local_stack_factory(
        task_root=LOCALSTACK_TESTS / "plain_function", no_warmer=True, max_instances=3
    )


def test_with_the_helper_the_warmer_counts_each_instance_it_reached(with_helper) -> None:
    first = warm(with_helper)
    second = warm(with_helper)

    assert (first["instances_reached"], first["cold_starts"], first["unverified"]) == (3, 3, 0)
    assert (first["errors"], first["waves"]) == (0, 1)
    assert (second["instances_reached"], second["cold_starts"]) == (3, 0)
    assert second["instances"] == first["instances"]
    metrics = json.loads(warmer.emf_line(first))
    assert (metrics["WarmInstancesReached"], metrics["WarmUnverified"]) == (3, 0)


def test_without_the_helper_the_pings_are_reported_unverified(without_helper) -> None:
    summary = warm(without_helper)

    assert summary["instances_reached"] == 0
    assert summary["instances"] == []
    assert (summary["unverified"], summary["invokes"], summary["waves"]) == (3, 3, 1)
    assert (summary["errors"], summary["cold_starts"], summary["error_details"]) == (0, 0, [])
    metrics = json.loads(warmer.emf_line(summary))
    assert (metrics["WarmInstancesReached"], metrics["WarmUnverified"]) == (0, 3)


@pytest.mark.parametrize("stack", ["with_helper", "without_helper"])
def test_requests_reach_the_function_itself_either_way(stack, request) -> None:
    answer = http(request.getfixturevalue(stack).url + "hello")

    assert (answer.status, answer.body) == (200, b"hello from my own function")


def test_under_snapstart_the_helper_reports_restored_instances(local_stack_factory) -> None:
    # Each new instance is forked from one snapshot, as SnapStart restores it; the helper's
    # after-restore hook gives each its own id, so the warmer still counts them apart.
    stack = local_stack_factory(
        task_root=LOCALSTACK_TESTS / "keepwarm_function",
        no_warmer=True,
        max_instances=3,
        snapstart=True,
    )
    wait_for_snapshot(stack)

    summary = warm(stack)

    assert (summary["instances_reached"], summary["unverified"]) == (3, 0)
    assert (summary["restores"], summary["cold_starts"]) == (3, 0)
