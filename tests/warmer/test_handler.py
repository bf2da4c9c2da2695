"""The warmer against a real local stack: what it reaches, and what it reports when the
function fails, overruns or is throttled (reported, never raised)."""

from __future__ import annotations

import io
import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from contract import parse_warmer_input
from tests.localstack.conftest import FAKE_FUNCTION
from warmer import handler as warmer


@pytest.fixture(scope="module")
def stack(local_stack_factory):
    """The fake function (same warm-up contract as the real one), at most 3 instances."""
    return local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, max_instances=3)


@pytest.fixture
def lambda_env(monkeypatch):
    """The warmer Lambda's environment, pointed at a local stack."""
    monkeypatch.setenv("FUNCTION_NAME", "lukewarm")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    def point_at(stack):
        monkeypatch.setenv("LAMBDA_ENDPOINT_URL", stack.invoke_endpoint)

    return point_at


def context(remaining_ms=60_000):
    deadline = time.monotonic() + remaining_ms / 1000
    return SimpleNamespace(
        get_remaining_time_in_millis=lambda: int((deadline - time.monotonic()) * 1000)
    )


def emf_document(capsys):
    (line,) = capsys.readouterr().out.strip().splitlines()
    return json.loads(line)


def test_a_warm_run_reaches_n_distinct_instances_and_logs_emf(stack, lambda_env, capsys):
    lambda_env(stack)

    started = time.monotonic()
    summary = warmer.handler({"concurrency": 3, "hold_ms": 300}, context())
    elapsed_ms = (time.monotonic() - started) * 1000

    assert summary["instances_reached"] == 3
    assert len(summary["instances"]) == 3
    assert (summary["invokes"], summary["waves"], summary["errors"]) == (3, 1, 0)
    assert 300 <= summary["duration_ms"] <= elapsed_ms  # the 300 ms hold, and the run's own time
    document = emf_document(capsys)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "lukewarm"
    assert {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]} == {
        "WarmTargets": "Count",
        "WarmInstancesReached": "Count",
        "WarmColdStarts": "Count",
        "WarmRestores": "Count",
        "WarmUnverified": "Count",
        "WarmErrors": "Count",
        "WarmThrottles": "Count",
        "WarmDuration": "Milliseconds",
    }
    assert document["WarmTargets"] == 3
    assert document["WarmInstancesReached"] == 3
    assert document["WarmErrors"] == document["WarmThrottles"] == document["WarmUnverified"] == 0
    assert document["WarmColdStarts"] == summary["cold_starts"]
    assert document["WarmDuration"] == summary["duration_ms"]
    assert document["function"] == "lukewarm:live"
    assert directive["Dimensions"] == [["function"]]


def test_a_second_run_finds_the_instances_warm(stack, lambda_env, capsys):
    lambda_env(stack)
    warmer.handler({"concurrency": 3, "hold_ms": 300}, context())

    summary = warmer.handler({"concurrency": 3, "hold_ms": 300}, context())

    assert summary["instances_reached"] == 3
    assert summary["cold_starts"] == 0


def test_beyond_the_cap_the_run_reports_throttling_and_stops(stack, lambda_env, capsys):
    lambda_env(stack)

    summary = warmer.handler({"concurrency": 5, "hold_ms": 500}, context())

    assert summary["throttled"] == 2
    assert summary["instances_reached"] == 3
    assert summary["waves"] == 1
    assert "TooManyRequestsException" in summary["error_details"][0]
    assert emf_document(capsys)["WarmThrottles"] == 2


def test_a_failing_function_is_reported_not_raised(local_stack_factory, lambda_env, capsys):
    failing = local_stack_factory(
        task_root=FAKE_FUNCTION, no_warmer=True, env={"FAKE_WARM": "raise"}
    )
    lambda_env(failing)

    summary = warmer.handler({"concurrency": 2, "hold_ms": 0}, context())

    assert summary["function_errors"] == 2
    assert summary["instances_reached"] == 0
    assert "warm-up failed on purpose" in summary["error_details"][0]
    document = emf_document(capsys)
    assert document["WarmErrors"] == 2
    # The reasons reach the log too, where an alarm on WarmErrors sends people.
    assert document["error_details"] == summary["error_details"]


def test_a_slow_function_times_out_within_the_warmers_own_budget(
    local_stack_factory, lambda_env, capsys
):
    slow = local_stack_factory(
        task_root=FAKE_FUNCTION, no_warmer=True, env={"FAKE_WARM": "sleep:60"}
    )
    lambda_env(slow)

    lambda_context = context(remaining_ms=6_000)
    summary = warmer.handler({"concurrency": 2, "hold_ms": 0}, lambda_context)

    assert summary["timeouts"] == 2
    assert summary["instances_reached"] == 0
    # Lambda would have stopped the warmer at 0 ms left; it keeps 1.5 s in hand for that.
    assert lambda_context.get_remaining_time_in_millis() > 0


def test_an_unreachable_function_is_an_error_in_the_report(lambda_env, monkeypatch, capsys):
    monkeypatch.setenv("LAMBDA_ENDPOINT_URL", "http://127.0.0.1:9")

    summary = warmer.handler({"concurrency": 2, "hold_ms": 0}, context())

    assert summary["errors"] == 2
    assert summary["instances_reached"] == 0
    assert "EndpointConnectionError" in summary["error_details"][0]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"concurrency": 0}, "concurrency must be an integer from 1 to 50"),
        ({"concurrency": True}, "concurrency must be an integer"),
        ({"concurrency": 51}, "concurrency must be an integer from 1 to 50"),
        ({"concurrency": 2, "hold_ms": 10_001}, "hold_ms must be an integer from 0 to 10000"),
        ({"concurrency": 2, "hold_ms": "500"}, "hold_ms must be an integer"),
        ([], "warm event must be an object"),
    ],
)
def test_a_malformed_schedule_input_is_refused_with_the_reason(event, message):
    with pytest.raises(ValueError, match=message):
        parse_warmer_input(event)


def test_the_client_never_retries_and_gives_up_quickly():
    config = warmer.client_config(concurrency=20, read_timeout_s=3.0)

    assert config.retries["total_max_attempts"] == 1
    assert config.connect_timeout <= 2
    assert config.read_timeout == 3.0
    assert config.max_pool_connections >= 20


def test_too_few_instances_answering_brings_one_longer_wave(
    local_stack_factory, lambda_env, capsys
):
    # Every instance calls itself "same": to the warmer, all invokes landed on one instance.
    one = local_stack_factory(
        task_root=FAKE_FUNCTION, no_warmer=True, env={"FAKE_INSTANCE": "same"}
    )
    lambda_env(one)

    summary = warmer.handler({"concurrency": 2, "hold_ms": 200}, context())

    assert summary["waves"] == 2
    assert summary["invokes"] == 4
    assert summary["instances_reached"] == 1
    assert summary["errors"] == 0
    # The second wave holds three times as long (600 ms) to spread the invokes out.
    assert summary["duration_ms"] >= 800


def test_without_time_for_a_wave_nothing_is_sent_and_the_report_says_why(stack, lambda_env, capsys):
    lambda_env(stack)

    summary = warmer.handler({"concurrency": 2, "hold_ms": 500}, context(remaining_ms=2_000))

    assert summary["invokes"] == 0
    assert "too little for a warm-up wave" in summary["error_details"][0]


def stubbed_client(method: str, **response: Any) -> Any:
    """A real boto3 Lambda client whose next `invoke` gets this answer (botocore's Stubber)."""
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    getattr(stubber, method)("invoke", **response)
    stubber.activate()
    return client


NOT_A_WARM_UP = warmer.InvokeResult(
    warmer.ERROR, detail="the function did not answer the warm-up event"
)
WARM_UP_CALL = {
    "FunctionName": "lukewarm",
    "Qualifier": "live",
    "InvocationType": "RequestResponse",
    "Payload": b'{"lukewarm": {"action": "warm", "hold_ms": 250}}',
}


def answered(payload: bytes, function_error: str | None = None) -> Any:
    response: dict[str, Any] = {
        "StatusCode": 200,
        "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
    }
    if function_error:
        response["FunctionError"] = function_error
    return stubbed_client("add_response", service_response=response, expected_params=WARM_UP_CALL)


@pytest.mark.parametrize(
    ("payload", "function_error", "result"),
    [
        (
            b'{"warm": true, "instance": "a1b2", "cold_start": true, "init_ms": 812.5}',
            None,
            warmer.InvokeResult(warmer.OK, instance="a1b2", cold_start=True),
        ),
        (
            b'{"warm": true, "instance": "a1b2", "cold_start": false}',
            None,
            warmer.InvokeResult(warmer.OK, instance="a1b2", cold_start=False),
        ),
        (  # the first invocation of an instance SnapStart restored: not cold, restored
            b'{"warm": true, "instance": "c3d4", "cold_start": false, "restored": true,'
            b' "init_ms": 640.0}',
            None,
            warmer.InvokeResult(warmer.OK, instance="c3d4", cold_start=False, restored=True),
        ),
        (
            b'{"warm": false, "error": {"code": "bad_warm_event"}}',
            None,
            warmer.InvokeResult(
                warmer.ERROR, detail="the function did not answer the warm-up event"
            ),
        ),
        (
            b'{"statusCode": 200, "body": "{}"}',
            None,
            warmer.InvokeResult(
                warmer.UNVERIFIED, detail="answered without lukewarm's warm-up helper"
            ),
        ),
        (
            b"[true]",
            None,
            warmer.InvokeResult(
                warmer.UNVERIFIED, detail="answered without lukewarm's warm-up helper"
            ),
        ),
        (
            b"null",
            None,
            warmer.InvokeResult(
                warmer.UNVERIFIED, detail="answered without lukewarm's warm-up helper"
            ),
        ),
        (
            b'{"errorType": "MemoryError", "errorMessage": "out of memory"}',
            "Unhandled",
            warmer.InvokeResult(warmer.FUNCTION_ERROR, detail="MemoryError: out of memory"),
        ),
        (
            b'{"errorMessage": "no type"}',
            "Unhandled",
            warmer.InvokeResult(warmer.FUNCTION_ERROR, detail="Error: no type"),
        ),
        (
            b'{"errorType": "Runtime.ExitError"}',
            "Unhandled",
            warmer.InvokeResult(warmer.FUNCTION_ERROR, detail="Runtime.ExitError: "),
        ),
        (
            b"\xff" + b"x" * 400,
            "Unhandled",
            warmer.InvokeResult(warmer.FUNCTION_ERROR, detail="\ufffd" + "x" * 299),
        ),
        (
            b'{"errorType": "E", "errorMessage": "' + b"m" * 400 + b'"}',
            "Unhandled",
            warmer.InvokeResult(warmer.FUNCTION_ERROR, detail="E: " + "m" * 297),
        ),
    ],
)
def test_each_answer_to_a_warm_up_is_classified(
    payload: bytes, function_error: str | None, result: Any
) -> None:
    client = answered(payload, function_error)

    assert warmer.invoke_once(client, "lukewarm", "live", 250) == result


@pytest.mark.parametrize(
    ("code", "status", "result"),
    [
        (
            "TooManyRequestsException",
            429,
            warmer.InvokeResult(warmer.THROTTLED, detail="TooManyRequestsException: Rate exceeded"),
        ),
        # A throttle that only its status tells (a proxy, or an error without a code).
        ("", 429, warmer.InvokeResult(warmer.THROTTLED, detail="429: Rate exceeded")),
        (
            "ResourceNotFoundException",
            404,
            warmer.InvokeResult(warmer.ERROR, detail="ResourceNotFoundException: Rate exceeded"),
        ),
        ("", 500, warmer.InvokeResult(warmer.ERROR, detail="500: Rate exceeded")),
    ],
)
def test_each_refused_invoke_is_classified(code: str, status: int, result: Any) -> None:
    client = stubbed_client(
        "add_client_error",
        service_error_code=code,
        service_message="Rate exceeded",
        http_status_code=status,
    )

    assert warmer.invoke_once(client, "lukewarm", "live", 250) == result


def test_an_unknown_function_is_an_error_not_a_throttle(stack, lambda_env, monkeypatch, capsys):
    lambda_env(stack)
    monkeypatch.setenv("FUNCTION_NAME", "no-such-function")

    summary = warmer.handler({"concurrency": 2, "hold_ms": 0}, context())

    assert (summary["errors"], summary["throttled"], summary["waves"]) == (2, 0, 1)
    assert summary["error_details"][0].startswith("ResourceNotFoundException: ")


@pytest.mark.parametrize(
    ("event", "parsed"),
    [
        ({}, (1, 500)),
        ({"concurrency": 1, "hold_ms": 0}, (1, 0)),
        ({"concurrency": 50, "hold_ms": 10_000}, (50, 10_000)),
    ],
)
def test_a_schedule_input_gives_concurrency_and_hold(event, parsed):
    assert parse_warmer_input(event) == parsed


def test_a_schedule_input_that_is_not_an_object_is_named():
    with pytest.raises(ValueError, match=r"^warm event must be an object, got list$"):
        parse_warmer_input([])


def test_the_run_is_logged_as_a_warm_run_stamped_now(stack, lambda_env, capsys):
    lambda_env(stack)

    warmer.handler({"concurrency": 1, "hold_ms": 0}, context())

    document = emf_document(capsys)
    assert document["message"] == "warm run"
    assert abs(document["_aws"]["Timestamp"] - time.time() * 1000) < 600_000  # ms, not s


@pytest.mark.parametrize("lambda_context", [None, object()])
def test_without_a_lambda_context_the_budget_is_a_minute(stack, lambda_env, capsys, lambda_context):
    lambda_env(stack)

    summary = warmer.handler({"concurrency": 1, "hold_ms": 0}, lambda_context)

    assert summary["instances_reached"] == 1


def test_the_qualifier_comes_from_the_environment(stack, lambda_env, monkeypatch, capsys):
    lambda_env(stack)
    monkeypatch.setenv("FUNCTION_QUALIFIER", "$LATEST")  # the local stack has only live

    summary = warmer.handler({"concurrency": 1, "hold_ms": 0}, context())

    assert summary["function"] == "lukewarm:$LATEST"
    assert summary["error_details"][0].startswith("ResourceNotFoundException: ")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b'{"warm": true, "cold_start": false}', "no instance"),
        (b'{"warm": true, "instance": null, "cold_start": false}', "no instance"),
        (b'{"warm": true, "instance": "", "cold_start": false}', "no instance"),
        (b'{"warm": true, "instance": ["a", "b"], "cold_start": false}', "instance is a list"),
        (b'{"warm": true, "instance": 7, "cold_start": false}', "instance is a int"),
        (b'{"warm": true, "instance": "' + b"i" * 129 + b'", "cold_start": false}', "over 128"),
        (b'{"warm": true, "instance": "a1b2", "cold_start": "false"}', "cold_start is a str"),
        (b'{"warm": true, "instance": "a1b2"}', "cold_start is missing"),
        (b'{"warm": true, "instance": "a1b2", "cold_start": 1}', "cold_start is a int"),
        (b'{"warm": true, "instance": "a1b2", "cold_start": false, "restored": "no"}',
         "restored is a str"),
    ],
)  # fmt: skip
def test_a_malformed_warm_up_answer_is_malformed_and_reaches_nothing(
    payload: bytes, problem: str
) -> None:
    result = warmer.invoke_once(answered(payload), "lukewarm", "live", 250)

    assert result.outcome == warmer.MALFORMED
    assert result.instance is None
    assert (result.cold_start, result.restored) == (False, False)
    assert problem in result.detail
    assert result.detail.startswith("malformed warm-up answer: ")


def test_answers_without_an_instance_count_as_malformed_not_as_one_instance(
    local_stack_factory, lambda_env, capsys
):
    # Three instances answer, none with its name: before, they were counted as one
    # instance called "None", and "false" as a cold start.
    nameless = local_stack_factory(
        task_root=FAKE_FUNCTION,
        no_warmer=True,
        max_instances=3,
        env={"FAKE_WARM": 'answer:{"warm": true, "cold_start": "false"}'},
    )
    lambda_env(nameless)

    summary = warmer.handler({"concurrency": 3, "hold_ms": 100}, context())

    assert summary["instances_reached"] == 0
    assert summary["instances"] == []
    assert summary["cold_starts"] == 0
    assert (summary["malformed"], summary["errors"], summary["waves"]) == (3, 3, 1)
    assert summary["error_details"] == ["malformed warm-up answer: no instance"]
    assert emf_document(capsys)["WarmErrors"] == 3


class WaveRecorder:
    """`warm` with no Lambda, on a clock that only a wave moves (by 1.23456 s): what each
    wave's client was made with and its hold; each wave answered with `answers`, by default
    `concurrency` distinct instances."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: list | None = None) -> None:
        self.clients: list[tuple[Any, ...]] = []
        self.holds: list[int] = []
        self.answers = answers
        self.now = 500.0
        monkeypatch.setattr(warmer, "time", SimpleNamespace(monotonic=lambda: self.now))
        monkeypatch.setattr(warmer, "lambda_client", self.client)
        monkeypatch.setattr(warmer, "run_wave", self.wave)

    def client(self, *arguments: Any) -> str:
        self.clients.append(arguments)
        return "client"

    def wave(self, client: str, name: str, qualifier: str, concurrency: int, hold: int) -> list:
        self.holds.append(hold)
        self.now += 1.23456
        if self.answers is not None:
            return self.answers
        return [warmer.InvokeResult(warmer.OK, instance=f"i{n}") for n in range(concurrency)]


@pytest.mark.parametrize(("hold_ms", "holds"), [(0, [0, 1000]), (100, [100, 300])])
def test_a_second_wave_holds_three_times_longer_or_a_second(
    monkeypatch: pytest.MonkeyPatch, hold_ms: int, holds: list[int]
) -> None:
    """One instance answered both invokes of the first wave: the next holds longer, so
    that the second invoke finds the first instance busy."""
    recorder = WaveRecorder(monkeypatch, [warmer.InvokeResult(warmer.OK, instance="i0")] * 2)
    summary = warmer.warm("lukewarm", "live", 2, hold_ms, budget_s=300)
    assert recorder.holds == holds
    assert summary["duration_ms"] == 2469.1  # two waves of 1.23456 s, to a tenth of a ms


def test_the_summary_counts_errors_apart_from_unverified_and_shows_five_details(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [
        warmer.InvokeResult(warmer.OK, instance="i0"),
        warmer.InvokeResult(warmer.UNVERIFIED, detail="answered without lukewarm's helper"),
        *(warmer.InvokeResult(warmer.ERROR, detail=f"error {n}") for n in range(6)),
    ]
    WaveRecorder(monkeypatch, answers)
    summary = warmer.warm("lukewarm", "live", 8, 0, budget_s=300)
    assert (summary["errors"], summary["unverified"]) == (6, 1)
    assert summary["error_details"] == [f"error {n}" for n in range(5)]


def test_each_invoke_is_waited_for_the_init_cap_the_timeout_and_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = WaveRecorder(monkeypatch)
    summary = warmer.warm(
        "lukewarm",
        "live",
        2,
        0,
        budget_s=300,
        function_timeout_s=5.26,
        endpoint_url="http://127.0.0.1:9",
        client_options={"region_name": "us-east-1"},
    )
    assert summary["waves"] == 1
    # Lambda's 10 s init cap + the 5.26 s timeout + 2 s for the network, to a tenth.
    assert recorder.clients == [("http://127.0.0.1:9", 2, 17.3, (("region_name", "us-east-1"),))]


@pytest.mark.parametrize(
    ("left_s", "waves"),
    [(11.0, 1), (10.995, 0), (12.0, 1)],
    ids=["exactly the hold and a second", "just under", "a second more"],
)
def test_a_wave_is_sent_when_the_budget_holds_the_hold_and_a_second(
    monkeypatch: pytest.MonkeyPatch, left_s: float, waves: int
) -> None:
    """A 10 s hold needs 11 s of the budget left (after the 1.5 s safety margin)."""
    recorder = WaveRecorder(monkeypatch)
    summary = warmer.warm("lukewarm", "live", 1, 10_000, budget_s=left_s + 1.5)
    assert summary["waves"] == waves
    assert [arguments[2] for arguments in recorder.clients] == [round(left_s, 1)] * waves


def test_a_wave_has_all_its_invokes_in_flight_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """40 at once (more than a thread pool's default 32 workers): each invoke waits until
    all 40 are in flight, as the warm-ups' holds make them on Lambda."""
    together = threading.Barrier(40, timeout=10)

    def invoke_once(client: Any, name: str, qualifier: str, hold_ms: int) -> Any:
        return warmer.InvokeResult(warmer.OK, instance=str(together.wait()))

    monkeypatch.setattr(warmer, "invoke_once", invoke_once)
    wave = warmer.run_wave("client", "lukewarm", "live", 40, 0)
    assert sorted(int(result.instance) for result in wave) == list(range(40))


LONGEST = warmer.DEFAULT_FUNCTION_TIMEOUT_S


@pytest.mark.parametrize(
    ("raw", "timeout_s"),
    [
        ("30", 30.0),
        ("0.5", 0.5),
        ("1", 1.0),
        (str(LONGEST), LONGEST),
        (None, LONGEST),
        ("", LONGEST),
        ("thirty", LONGEST),
        ("0", LONGEST),
        ("-5", LONGEST),
        (str(LONGEST + 1), LONGEST),
    ],
)
def test_the_targets_timeout_is_read_or_the_longest_a_stack_allows(
    raw: str | None, timeout_s: float
) -> None:
    assert warmer._function_timeout_s(raw) == timeout_s


SUMMARY_NUMBERS = (
    "targets", "instances_reached", "cold_starts", "restores", "unverified", "errors",
    "throttled", "duration_ms",
)  # fmt: skip


@pytest.mark.parametrize(("state", "budget_s"), [("Active", 200.0 - 15.0), ("Pending", 0.0)])
def test_the_handler_warms_with_what_is_left_after_the_wait_for_active(
    monkeypatch: pytest.MonkeyPatch, state: str, budget_s: float
) -> None:
    """The run's budget is the invocation's remaining time, less the wait; a version not
    Active gets none. The target's timeout and the endpoint come from the environment."""
    monkeypatch.setenv("FUNCTION_NAME", "lukewarm")
    monkeypatch.setenv("FUNCTION_TIMEOUT_S", "12")
    monkeypatch.setenv("LAMBDA_ENDPOINT_URL", "http://127.0.0.1:9")
    asked: list[tuple[Any, ...]] = []
    warmed: list[dict[str, Any]] = []

    def wait_until_active(client: Any, name: str, version: str, bound_s: float) -> dict:
        asked.append((client, name, version, bound_s))
        return {"version": version, "state": state, "active": state == "Active",
                "waited_s": 15.0, "reason": ""}  # fmt: skip

    def warm(name: str, qualifier: str, concurrency: int, hold_ms: int, **options: Any) -> dict:
        warmed.append({"target": (name, qualifier, concurrency, hold_ms), **options})
        return {"error_details": [], **{key: 0 for key in SUMMARY_NUMBERS}}

    monkeypatch.setattr(warmer, "version_state_client", lambda endpoint_url: endpoint_url)
    monkeypatch.setattr(warmer, "wait_until_active", wait_until_active)
    monkeypatch.setattr(warmer, "warm", warm)

    remaining = SimpleNamespace(get_remaining_time_in_millis=lambda: 200_000)
    warmer.handler({"concurrency": 2, "hold_ms": 100, "version": "7"}, remaining)

    # Asked with the endpoint's client, for as long as leaves a wave its time.
    assert asked == [("http://127.0.0.1:9", "lukewarm", "7", 200.0 - warmer.WAVE_RESERVE_S)]
    assert warmed == [
        {
            "target": ("lukewarm", "live", 2, 100),
            "budget_s": budget_s,
            "function_timeout_s": 12.0,
            "endpoint_url": "http://127.0.0.1:9",
        }
    ]


class Raising:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def invoke(self, **call: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (  # no status, no message: the code alone says it is a throttle
            ClientError({"Error": {"Code": "TooManyRequestsException"}}, "Invoke"),
            warmer.InvokeResult(warmer.THROTTLED, detail="TooManyRequestsException: "),
        ),
        (  # no error details at all: the status says what it was
            ClientError({"ResponseMetadata": {"HTTPStatusCode": 503}}, "Invoke"),
            warmer.InvokeResult(warmer.ERROR, detail="503: "),
        ),
        (
            ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
            warmer.InvokeResult(
                warmer.TIMEOUT, detail='Read timeout on endpoint URL: "http://127.0.0.1:9"'
            ),
        ),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
            warmer.InvokeResult(
                warmer.ERROR,
                detail="EndpointConnectionError: Could not connect to the endpoint URL: "
                '"http://127.0.0.1:9"',
            ),
        ),
    ],
    ids=["throttled, code only", "status only", "read timeout", "no connection"],
)
def test_an_invoke_that_fails_before_an_answer_is_classified(error: Exception, result: Any) -> None:
    assert warmer.invoke_once(Raising(error), "lukewarm", "live", 250) == result
