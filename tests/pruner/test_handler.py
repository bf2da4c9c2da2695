"""The version pruner against Lambda's API as botocore stubs it: what it keeps, what it
deletes, what Lambda refuses to let it delete, and that no AWS answer ever fails the deploy
that invoked it."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from contract import parse_pruner_input
from pruner import handler as pruner

FUNCTION = "service-function-1a2b3c"


class FakeTime:
    """A clock that moves only when the pruner sleeps: retries run instantly, bounded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    clock = FakeTime()
    monkeypatch.setattr(pruner.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(pruner.time, "sleep", clock.sleep)
    return clock


@pytest.fixture
def lambda_api(fake_time):
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def deployed(lambda_api, monkeypatch):
    """The handler as the deploy invokes it, its boto3 client the stubbed one."""
    client, stubber = lambda_api
    monkeypatch.setenv("FUNCTION_NAME", FUNCTION)
    monkeypatch.setattr(pruner.boto3, "client", lambda *args, **kwargs: client)
    return stubber


def expect_versions(stubber: Stubber, pages: list[list[str]]) -> None:
    for index, page in enumerate(pages):
        response: dict[str, Any] = {"Versions": [{"Version": version} for version in page]}
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


def run(client: Any, live: str, keep: int) -> dict[str, Any]:
    return pruner.prune(client, FUNCTION, live, keep, pruner.Retrying(pruner.RETRY_BUDGET_S))


def test_keeps_the_newest_versions_and_deletes_the_rest_across_pages(lambda_api) -> None:
    client, stubber = lambda_api
    # $LATEST is never a candidate; versions sort as numbers, not text (10 > 9).
    expect_versions(stubber, [["$LATEST", "1", "2", "10"], ["8", "9"]])
    for version in ("1", "2", "8"):
        expect_delete(stubber, version)

    summary = run(client, "10", keep=2)

    assert summary == {"live": "10", "kept": ["9", "10"], "deleted": ["1", "2", "8"], "refused": []}


def test_the_live_version_is_kept_even_when_it_is_not_among_the_newest(lambda_api) -> None:
    client, stubber = lambda_api
    # Rolled back: live points at 3 while 4 and 5 were published later.
    expect_versions(stubber, [["1", "2", "3", "4", "5"]])
    for version in ("1", "2", "4"):
        expect_delete(stubber, version)

    summary = run(client, "3", keep=1)

    assert summary["kept"] == ["3", "5"]
    assert summary["deleted"] == ["1", "2", "4"]


def test_a_version_lambda_refuses_to_delete_is_reported_once_and_not_retried(lambda_api) -> None:
    client, stubber = lambda_api
    # Another alias still points at 2: Lambda refuses, and asking again would not help.
    expect_versions(stubber, [["1", "2", "3", "4"]])
    expect_delete(stubber, "1")
    expect_delete(stubber, "2", "ResourceConflictException")

    summary = run(client, "4", keep=2)

    assert summary["deleted"] == ["1"]
    assert summary["refused"] == [{"version": "2", "reason": "ResourceConflictException"}]
    assert summary["kept"] == ["3", "4"]


def test_a_throttled_delete_is_retried_and_then_deleted(lambda_api, fake_time) -> None:
    client, stubber = lambda_api
    expect_versions(stubber, [["1", "2"]])
    expect_delete(stubber, "1", "TooManyRequestsException")
    expect_delete(stubber, "1", "TooManyRequestsException")
    expect_delete(stubber, "1")

    summary = run(client, "2", keep=1)

    assert summary == {"live": "2", "kept": ["2"], "deleted": ["1"], "refused": []}
    assert fake_time.sleeps == [1.0, 2.0]


def test_a_delete_throttled_to_the_end_is_refused_and_not_also_kept(lambda_api, fake_time) -> None:
    client, stubber = lambda_api
    expect_versions(stubber, [["1", "2", "3"]])
    # 1, 2, 4, 8, 8, 8, 8 s of backoff fit in the 40 s budget; the next one would not.
    for _ in range(8):
        expect_delete(stubber, "1", "TooManyRequestsException")

    summary = run(client, "3", keep=2)

    assert summary["refused"] == [{"version": "1", "reason": "TooManyRequestsException"}]
    assert summary["kept"] == ["2", "3"]
    assert summary["deleted"] == []
    assert fake_time.now <= pruner.RETRY_BUDGET_S
    # Each published version is in exactly one list.
    listed = summary["kept"] + summary["deleted"] + [r["version"] for r in summary["refused"]]
    assert sorted(listed) == ["1", "2", "3"]


def test_an_alias_on_latest_keeps_the_newest_and_loses_nothing(deployed) -> None:
    # A stack once deployed without publishing: live points at $LATEST, not a number.
    expect_versions(deployed, [["$LATEST", "1", "2", "3"]])
    expect_delete(deployed, "1")

    summary = pruner.handler({"keep": 2, "live": "$LATEST"}, None)

    assert summary == {
        "keep": 2,
        "live": "$LATEST",
        "kept": ["2", "3"],
        "deleted": ["1"],
        "refused": [],
    }


def test_a_policy_not_yet_in_effect_is_waited_for(deployed, fake_time) -> None:
    """On a first deploy the pruner's IAM policy is seconds old: denied, then allowed."""
    deployed.add_client_error("list_versions_by_function", "AccessDeniedException")
    deployed.add_client_error("list_versions_by_function", "AccessDeniedException")
    expect_versions(deployed, [["1", "2"]])
    expect_delete(deployed, "1")

    summary = pruner.handler({"keep": 1, "live": "2"}, None)

    assert summary["deleted"] == ["1"]
    assert "error" not in summary
    assert fake_time.sleeps == [1.0, 2.0]


def test_access_denied_to_the_end_is_reported_and_the_deploy_goes_on(
    deployed, fake_time, capsys
) -> None:
    for _ in range(8):
        deployed.add_client_error(
            "list_versions_by_function", "AccessDeniedException", "not authorized"
        )

    summary = pruner.handler({"keep": 2, "live": "5"}, None)  # returns: no exception

    assert summary["deleted"] == []
    assert summary["error"].startswith("could not list the versions: AccessDeniedException")
    assert fake_time.now <= pruner.RETRY_BUDGET_S
    logged = json.loads(capsys.readouterr().out)
    assert logged["error"] == summary["error"]


def test_the_retry_bound_shrinks_to_what_the_invocation_has_left(deployed, fake_time) -> None:
    for _ in range(3):
        deployed.add_client_error("list_versions_by_function", "ServiceException")

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 14_000  # 4 s after the 10 s kept back for reporting

    summary = pruner.handler({"keep": 2, "live": "5"}, Context())

    assert "ServiceException" in summary["error"]
    assert fake_time.sleeps == [1.0, 2.0]


def test_a_crash_midway_keeps_what_was_already_deleted(lambda_api) -> None:
    client, stubber = lambda_api
    expect_versions(stubber, [["1", "2", "3", "4"]])
    expect_delete(stubber, "1")

    class Breaks:
        """The real client until the second delete, which fails as no AWS answer would."""

        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        calls = 0

        def delete_function(self, **request: Any) -> Any:
            Breaks.calls += 1
            if Breaks.calls == 2:
                raise RuntimeError("unexpected")
            return client.delete_function(**request)

    summary = run(Breaks(), "4", keep=2)

    assert summary["deleted"] == ["1"]
    assert summary["refused"] == [{"version": "2", "reason": "RuntimeError"}]


def test_nothing_to_delete_deletes_nothing(lambda_api) -> None:
    client, stubber = lambda_api
    expect_versions(stubber, [["$LATEST", "1"]])
    assert run(client, "1", keep=2)["deleted"] == []


@pytest.mark.parametrize(
    "event",
    [
        {"live": "1"},
        {"keep": 0, "live": "1"},
        {"keep": 101, "live": "1"},
        {"keep": "2", "live": "1"},
        {"keep": True, "live": "1"},
        [],
    ],
)
def test_an_event_without_a_valid_keep_is_refused(event: object) -> None:
    with pytest.raises(ValueError, match=r'"keep": <int from 1 to 100>'):
        parse_pruner_input(event)


@pytest.mark.parametrize("live", [None, 3, "", "live", "3a", "-1"])
def test_an_event_without_a_valid_live_version_is_refused(live: object) -> None:
    with pytest.raises(ValueError, match=r'"live" must be the version the alias points at'):
        parse_pruner_input({"keep": 2, "live": live})


def test_a_bad_event_is_reported_not_raised(monkeypatch, capsys) -> None:
    monkeypatch.setattr(pruner.boto3, "client", lambda *a, **k: pytest.fail("no AWS call"))
    summary = pruner.handler({"keep": 2}, None)
    assert '"live" must be the version' in summary["error"]
    assert json.loads(capsys.readouterr().out)["error"] == summary["error"]
