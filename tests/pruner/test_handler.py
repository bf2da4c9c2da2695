"""The version pruner against Lambda's API as botocore stubs it: what it keeps, what it
deletes, and what Lambda refuses to let it delete."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from pruner import handler as pruner

FUNCTION = "service-function-1a2b3c"


@pytest.fixture
def lambda_api():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_versions(stubber: Stubber, live: str, pages: list[list[str]]) -> None:
    stubber.add_response(
        "get_alias",
        {"FunctionVersion": live, "Name": "live"},
        {"FunctionName": FUNCTION, "Name": "live"},
    )
    for index, page in enumerate(pages):
        response = {"Versions": [{"Version": version} for version in page]}
        request = {"FunctionName": FUNCTION}
        if index:
            request["Marker"] = f"page-{index}"
        if index < len(pages) - 1:
            response["NextMarker"] = f"page-{index + 1}"
        stubber.add_response("list_versions_by_function", response, request)


def expect_delete(stubber: Stubber, version: str, error: str | None = None) -> None:
    request = {"FunctionName": FUNCTION, "Qualifier": version}
    if error is None:
        stubber.add_response("delete_function", {}, request)
    else:
        stubber.add_client_error("delete_function", error, expected_params=request)


def test_keeps_the_newest_versions_and_deletes_the_rest_across_pages(lambda_api) -> None:
    client, stubber = lambda_api
    # $LATEST is never a candidate; versions sort as numbers, not text (10 > 9).
    expect_versions(stubber, "10", [["$LATEST", "1", "2", "10"], ["8", "9"]])
    for version in ("1", "2", "8"):
        expect_delete(stubber, version)

    summary = pruner.prune(client, FUNCTION, "live", keep=2)

    assert summary == {"live": "10", "kept": ["9", "10"], "deleted": ["1", "2", "8"], "refused": []}


def test_the_live_version_is_kept_even_when_it_is_not_among_the_newest(lambda_api) -> None:
    client, stubber = lambda_api
    # Rolled back: live points at 3 while 4 and 5 were published later.
    expect_versions(stubber, "3", [["1", "2", "3", "4", "5"]])
    for version in ("1", "2", "4"):
        expect_delete(stubber, version)

    summary = pruner.prune(client, FUNCTION, "live", keep=1)

    assert summary["kept"] == ["3", "5"]
    assert summary["deleted"] == ["1", "2", "4"]


def test_a_version_lambda_refuses_to_delete_is_reported_and_kept(lambda_api) -> None:
    client, stubber = lambda_api
    # Another alias still points at 2: Lambda refuses, the pruner carries on.
    expect_versions(stubber, "4", [["1", "2", "3", "4"]])
    expect_delete(stubber, "1")
    expect_delete(stubber, "2", "ResourceConflictException")

    summary = pruner.prune(client, FUNCTION, "live", keep=2)

    assert summary["deleted"] == ["1"]
    assert summary["refused"] == [{"version": "2", "reason": "ResourceConflictException"}]
    assert summary["kept"] == ["2", "3", "4"]


def test_nothing_to_delete_deletes_nothing(lambda_api) -> None:
    client, stubber = lambda_api
    expect_versions(stubber, "1", [["$LATEST", "1"]])
    assert pruner.prune(client, FUNCTION, "live", keep=2)["deleted"] == []


@pytest.mark.parametrize(
    "event", [{}, {"keep": 0}, {"keep": 101}, {"keep": "2"}, {"keep": True}, []]
)
def test_an_event_without_a_valid_keep_is_refused(event: object) -> None:
    with pytest.raises(ValueError, match=r'"keep": <int from 1 to 100>'):
        pruner.parse_event(event)
