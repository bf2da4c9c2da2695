"""A deploy's pre-warm waits for the version it names to be Active, then warms it.

terraform-provider-aws does not wait for a first SnapStart version to leave Pending
(#42693), and invokes of the alias fail until it does. Lambda's answers about the version
come from botocore's Stubber; the warm-up itself goes to a real local stack.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from contract import parse_prewarm_version
from tests.localstack.conftest import FAKE_FUNCTION
from warmer import handler as warmer


@pytest.fixture(scope="module")
def stack(local_stack_factory):
    return local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, max_instances=2)


class FakeTime:
    """A clock that moves only when the warmer sleeps between questions."""

    def __init__(self) -> None:
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        self.slept += seconds


@pytest.fixture
def lambda_state(monkeypatch):
    """The warmer's environment and a stubbed Lambda for the version-state questions."""
    for name, value in {
        "FUNCTION_NAME": "lukewarm",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    clock = FakeTime()
    real_wait = warmer.wait_until_active

    def wait_on_fake_time(*args, **kwargs):
        return real_wait(*args, sleep=clock.sleep, clock=lambda: clock.slept, **kwargs)

    monkeypatch.setattr(warmer, "version_state_client", lambda endpoint_url: client)
    monkeypatch.setattr(warmer, "wait_until_active", wait_on_fake_time)
    with Stubber(client) as stubber:
        stubber.clock = clock  # type: ignore[attr-defined]
        yield stubber
        stubber.assert_no_pending_responses()


def expect_state(stubber: Stubber, state: str, version: str = "7", **extra: str) -> None:
    stubber.add_response(
        "get_function_configuration",
        {"State": state, "Version": version, **extra},
        {"FunctionName": "lukewarm", "Qualifier": version},
    )


def context(remaining_s: float = 300):
    deadline = time.monotonic() + remaining_s
    return SimpleNamespace(
        get_remaining_time_in_millis=lambda: int((deadline - time.monotonic()) * 1000)
    )


def test_the_prewarm_waits_while_the_version_is_pending_then_warms(
    stack, lambda_state, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LAMBDA_ENDPOINT_URL", stack.invoke_endpoint)
    # On a first deploy the warmer's right to ask is seconds old: denied, then answered.
    lambda_state.add_client_error("get_function_configuration", "AccessDeniedException")
    expect_state(lambda_state, "Pending", StateReasonCode="Creating")
    expect_state(lambda_state, "Pending", StateReasonCode="Creating")
    expect_state(lambda_state, "Active")

    summary = warmer.handler({"concurrency": 1, "hold_ms": 0, "version": "7"}, context())

    assert summary["version_state"] == {
        "version": "7",
        "state": "Active",
        "active": True,
        "waited_s": 15.0,
        "reason": "",
    }
    assert summary["instances_reached"] == 1
    assert summary["errors"] == 0
    assert json.loads(capsys.readouterr().out)["version_state"]["state"] == "Active"


def test_a_version_still_pending_at_the_bound_is_not_warmed_and_said_plainly(
    lambda_state, monkeypatch, capsys
) -> None:
    # No endpoint at all: any invoke would be an error in the summary, and none is sent.
    monkeypatch.setenv("LAMBDA_ENDPOINT_URL", "http://127.0.0.1:9")
    for _ in range(43):
        expect_state(lambda_state, "Pending", StateReasonCode="Creating")

    summary = warmer.handler({"concurrency": 2, "hold_ms": 500, "version": "7"}, context())

    assert lambda_state.clock.slept == 210.0  # the bound: ACTIVE_WAIT_S, polled every 5 s
    assert summary["version_state"]["state"] == "Pending"
    assert summary["version_state"]["active"] is False
    assert summary["invokes"] == 0 and summary["waves"] == 0
    (message,) = summary["error_details"]
    assert message.startswith("version 7 of lukewarm is Pending (Creating) after 210 s, not Active")
    assert "nothing was warmed" in message
    assert "requests to the live alias fail until it is Active" in message
    assert json.loads(capsys.readouterr().out)["error_details"] == [message]


def test_a_failed_version_is_reported_at_once(lambda_state, monkeypatch) -> None:
    monkeypatch.setenv("LAMBDA_ENDPOINT_URL", "http://127.0.0.1:9")
    expect_state(lambda_state, "Failed", StateReasonCode="SnapStartException")

    summary = warmer.handler({"concurrency": 1, "hold_ms": 0, "version": "7"}, context())

    assert lambda_state.clock.slept == 0
    assert summary["invokes"] == 0
    assert "is Failed (SnapStartException)" in summary["error_details"][0]


def test_the_wait_leaves_time_for_a_wave_in_a_short_run(lambda_state, monkeypatch) -> None:
    monkeypatch.setenv("LAMBDA_ENDPOINT_URL", "http://127.0.0.1:9")
    for _ in range(4):
        expect_state(lambda_state, "Pending")

    # 60 s left: a wave needs 43.5 s of it, so the wait stops after about 16 s.
    summary = warmer.handler({"concurrency": 1, "hold_ms": 0, "version": "7"}, context(60))

    assert lambda_state.clock.slept == 15.0
    assert summary["version_state"]["active"] is False


def test_a_scheduled_run_names_no_version_and_asks_nothing(stack, lambda_state, monkeypatch):
    monkeypatch.setenv("LAMBDA_ENDPOINT_URL", stack.invoke_endpoint)
    summary = warmer.handler({"concurrency": 1, "hold_ms": 0}, context())
    assert "version_state" not in summary
    assert summary["instances_reached"] == 1


@pytest.mark.parametrize("version", [7, "", "live", "$LATEST", "7a"])
def test_a_version_that_is_not_a_published_number_is_refused(version: object) -> None:
    with pytest.raises(ValueError, match="version must be a published version number"):
        parse_prewarm_version({"concurrency": 1, "version": version})


class Answers:
    """Lambda's answers to GetFunctionConfiguration, in turn (the last one repeated); an
    exception among them is raised."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.asked = 0

    def get_function_configuration(self, FunctionName: str, Qualifier: str) -> object:
        assert (FunctionName, Qualifier) == ("lukewarm", "7")
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


class SlowTime:
    """A clock at 1000 s that each 5 s pause moves by 5.32 s (a question takes time too)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds + 0.32


def wait(client: Answers, bound_s: float) -> tuple[dict, list[float]]:
    clock = SlowTime()
    readiness = warmer.wait_until_active(
        client, "lukewarm", "7", bound_s, sleep=clock.sleep, clock=lambda: clock.now
    )
    return readiness, clock.pauses


DENIED = ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetFunctionConfiguration")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DENIED, "AccessDeniedException"),
        (ClientError({"Error": {"Message": "no"}}, "GetFunctionConfiguration"), "ClientError"),
        (ClientError({}, "GetFunctionConfiguration"), "ClientError"),
        (EndpointConnectionError(endpoint_url="https://lambda"), "EndpointConnectionError"),
    ],
    ids=["denied", "an error without a code", "an error without details", "no connection"],
)
def test_errors_are_waited_through_and_the_last_one_reported(error, reason) -> None:
    readiness, pauses = wait(Answers(error), bound_s=12)

    assert pauses == [5.0, 5.0]  # asked at 0, 5.32 and 10.64 s; 15.96 s is past the bound
    assert readiness == {
        "version": "7",
        "state": "Unknown",
        "active": False,
        "waited_s": 10.6,
        "reason": reason,
    }


def test_an_active_version_is_asked_about_once() -> None:
    client = Answers({"State": "Active"})
    readiness, pauses = wait(client, bound_s=210)

    assert client.asked == 1 and pauses == []
    assert readiness == {
        "version": "7",
        "state": "Active",
        "active": True,
        "waited_s": 0.0,
        "reason": "",
    }


def test_the_state_and_its_reason_are_read_from_what_lambda_says() -> None:
    # No State yet (Unknown), then Failed with a reason but no reason code.
    client = Answers({}, {"State": "Failed", "StateReason": "the image is gone"})
    readiness, _ = wait(client, bound_s=210)
    assert (readiness["state"], readiness["reason"], readiness["waited_s"]) == (
        "Failed",
        "the image is gone",
        5.3,
    )
    assert wait(Answers({}), bound_s=0)[0]["state"] == "Unknown"


def test_the_wait_takes_the_time_it_is_given_to_the_tenth_of_a_second() -> None:
    readiness, pauses = wait(Answers({"State": "Pending"}, {"State": "Active"}), bound_s=210)
    assert pauses == [5.0] and readiness["waited_s"] == 5.3  # 5.32, to a tenth


@pytest.mark.parametrize(
    ("readiness", "said"),
    [
        (
            {"version": "7", "state": "Pending", "waited_s": 210.0, "reason": "Creating"},
            "version 7 of lukewarm is Pending (Creating) after 210 s",
        ),
        (
            {"version": "7", "state": "Unknown", "waited_s": 10.0, "reason": ""},
            "version 7 of lukewarm is Unknown after 10 s",
        ),
    ],
    ids=["with a reason", "without one"],
)
def test_a_version_not_active_is_said_word_for_word(readiness, said) -> None:
    assert warmer.not_active_message("lukewarm", readiness) == (
        f"{said}, not Active: nothing was warmed, and requests to the live alias fail until it"
        " is Active (a first SnapStart version can take minutes to snapshot)"
    )


def test_the_state_questions_get_a_quick_client_of_their_own(monkeypatch) -> None:
    """GetFunctionConfiguration answers in milliseconds: 4 s to read its answer, one
    attempt (the wait asks again every 5 s anyway), at the endpoint given."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = warmer.version_state_client("http://127.0.0.1:9")
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.config.read_timeout == 4.0
    assert client.meta.config.retries["total_max_attempts"] == 1
