"""Faults from the red-team run against the local stack: killed idle instances, payloads
too deep or too large for Lambda, asynchronous invokes above the cap, HEAD probes and
undecodable header bytes. Each answer is the one the deployed stack gives.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import threading
import time

import psutil
import pytest

from tests.localstack.conftest import FAKE_FUNCTION, http, instance_pids, lambda_client


def fake_stack(local_stack_factory, **options):
    return local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, **options)


def caption(stack, query="", data=b"x", content_type="image/png"):
    return http(stack.url + "caption" + query, data=data, headers={"Content-Type": content_type})


@pytest.fixture(scope="module")
def echo_stack(local_stack_factory):
    """The fake function, which answers with the event it was given."""
    return fake_stack(local_stack_factory)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_idle_instances_are_never_handed_a_request(local_stack_factory):
    stack = fake_stack(local_stack_factory, max_instances=3)
    threads = [threading.Thread(target=caption, args=(stack, "?sleep=1")) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    corpses = instance_pids(stack.pid)
    assert len(corpses) == 3
    for pid in corpses:
        os.kill(pid, signal.SIGKILL)
    for pid in corpses:  # gone, and reaped by the stack
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait(timeout=10)

    answers = [caption(stack) for _ in range(3)]

    assert [answer.status for answer in answers] == [200, 200, 200]
    assert all(answer.json()["pid"] not in corpses for answer in answers)
    assert answers[0].json()["cold_start"] is True  # a fresh instance took the first
    assert stack.log().count("exited while idle") == 3


@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
    ids=["unclosed", "deep list", "deep object"],
)
def test_an_invoke_payload_too_deep_to_parse_is_invalid_request_content(echo_stack, payload):
    stack = echo_stack
    answer = http(
        stack.invoke_endpoint + "/2015-03-31/functions/lukewarm/invocations?Qualifier=live",
        data=payload,
    )
    assert answer.status == 400
    assert answer.headers["X-Amzn-ErrorType"] == "InvalidRequestContentException"
    assert answer.json()["message"] == "Could not parse request body into json"
    assert "INVOKE lukewarm:live 400" in stack.log()


def test_an_event_invoke_over_lambdas_async_payload_limit_is_refused(echo_stack):
    from lukewarm.localstack.invoke import MAX_EVENT_PAYLOAD_BYTES

    payload = json.dumps({"data": "x" * MAX_EVENT_PAYLOAD_BYTES}).encode()
    answer = http(
        echo_stack.invoke_endpoint + "/2015-03-31/functions/lukewarm/invocations?Qualifier=live",
        data=payload,
        headers={"X-Amz-Invocation-Type": "Event"},
    )
    assert answer.status == 413
    assert answer.headers["X-Amzn-ErrorType"] == "RequestTooLargeException"
    assert "too large for the Event invocation type" in answer.json()["message"]


def test_event_invokes_above_the_cap_are_queued_and_run(local_stack_factory):
    # The stack's clock x200: retries after 5 ms, 10 ms, ... instead of 1 s, 2 s, ...
    stack = fake_stack(local_stack_factory, max_instances=1, time_scale=200)
    client = lambda_client(stack.invoke_endpoint)
    busy = threading.Thread(target=caption, args=(stack, "?sleep=2"))
    busy.start()
    wait_for(lambda: len(instance_pids(stack.pid)) == 1)
    time.sleep(0.3)  # the instance has taken the sleeping request

    statuses = [
        client.invoke(
            FunctionName="lukewarm",
            Qualifier="live",
            InvocationType="Event",
            Payload=json.dumps({"n": n}).encode(),
        )["StatusCode"]
        for n in range(3)
    ]
    busy.join()

    assert statuses == [202, 202, 202]
    wait_for(lambda: stack.log().count("EVENT lukewarm:live 200") == 3)
    assert "dropped" not in stack.log()


def test_a_body_over_lambdas_payload_gets_api_gateways_500(echo_stack):
    stack = echo_stack
    seven_mb = b"\0" * (7 * 1024 * 1024)

    answer = caption(stack, data=seven_mb, content_type="application/octet-stream")

    assert answer.status == 500
    assert answer.json() == {"message": "Internal Server Error"}
    line = next(line for line in stack.request_lines() if line.startswith("POST /caption 500"))
    assert line.startswith("POST /caption 500 - - ")  # the function never ran
    # The client sees API Gateway's bare 500, as on AWS; the log says why.
    assert re.search(
        r" ms: Lambda refused the invocation: its event is 9,78\d,\d{3} bytes, over the "
        r"6,291,456-byte invoke payload limit$",
        line,
    )


def test_the_largest_accepted_image_fits_in_the_event(echo_stack):
    from uploads import MAX_IMAGE_BYTES  # the function's own limit

    stack = echo_stack
    image = bytes(range(256)) * (MAX_IMAGE_BYTES // 256) + b"\0" * (MAX_IMAGE_BYTES % 256)

    answer = caption(stack, data=image, content_type="image/jpeg")

    assert answer.status == 200
    assert base64.b64decode(answer.json()["body"]) == image


@pytest.mark.parametrize("path", ["", "health"])
def test_head_is_answered_like_get_without_a_body(local_stack, path):
    get = http(local_stack.url + path)
    head = http(local_stack.url + path, method="HEAD")

    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Type"] == get.headers["Content-Type"]


def test_an_undecodable_header_byte_is_refused_and_logged(local_stack_factory, tiny_model_dir):
    stack = local_stack_factory(model_dir=tiny_model_dir, no_warmer=True, function_logs=True)

    answer = caption(stack, content_type="text/\xff")  # sent as the raw byte 0xff

    assert answer.status == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"
    wait_for(lambda: '"message":"refused"' in stack.log())
    assert "Logging error" not in stack.log()


def test_an_event_that_waits_past_the_maximum_event_age_is_dropped_and_logged(
    local_stack_factory,
):
    # The stack's clock x20000: Lambda's six-hour event age passes in about a second.
    stack = fake_stack(local_stack_factory, max_instances=1, time_scale=20_000)
    client = lambda_client(stack.invoke_endpoint)
    busy = threading.Thread(target=caption, args=(stack, "?sleep=2.5"))
    busy.start()
    wait_for(lambda: len(instance_pids(stack.pid)) == 1)
    time.sleep(0.3)

    response = client.invoke(
        FunctionName="lukewarm", Qualifier="live", InvocationType="Event", Payload=b"{}"
    )
    busy.join()

    assert response["StatusCode"] == 202
    wait_for(lambda: "dropped: older than the maximum event age" in stack.log())
    assert "EVENT lukewarm:live 429" in stack.log()
