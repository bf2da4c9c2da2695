"""Instances as Lambda runs them: cold then warm, reclaimed when idle, throttled at the cap,
replaced when they die, killed when they overrun, and all gone when the stack stops.

These run a fake function (tests/localstack/fake_function) that misbehaves on request,
so each stack starts in about a second.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import botocore.exceptions
import psutil
import pytest

from tests.localstack.conftest import FAKE_FUNCTION, http, instance_pids, invoke, lambda_client


def fake_stack(local_stack_factory, **options):
    return local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, **options)


def call(stack, query=""):
    answer = http(stack.url + "caption" + query, data=b"x", headers={"Content-Type": "image/png"})
    return answer.status, (answer.json() if answer.status == 200 else answer.body)


def wait_until(condition, timeout=30.0):
    """Poll `condition` until it holds; fail after `timeout` seconds (a busy machine is slow,
    a broken stack never gets there)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout} s"
        time.sleep(0.05)


def started_request(stack, tmp_path, seconds):
    """A request that sleeps `seconds` in the function, in the background; returns once the
    function has begun it, with the thread, its result list and the serving instance's pid."""
    marker = tmp_path / f"started-{time.monotonic_ns()}"
    thread, results = in_background(call, stack, f"?sleep={seconds}&started={marker}")
    wait_until(marker.exists)
    wait_until(lambda: marker.read_text() != "")
    return thread, results, int(marker.read_text())


def in_background(function, *args):
    """Run `function(*args)` in a thread; its result (or the OSError it raised) lands in a list."""
    results = []

    def run():
        try:
            results.append(function(*args))
        except OSError as error:
            results.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@pytest.fixture(scope="module")
def capped_stack(local_stack_factory):
    """One instance at most and a 2.5 s function timeout."""
    return fake_stack(local_stack_factory, max_instances=1, timeout=2.5)


def test_idle_instances_are_reclaimed_and_a_warm_ping_keeps_the_next_request_warm(
    local_stack_factory,
):
    idle_s = 3.0
    stack = fake_stack(local_stack_factory, idle_timeout=idle_s)
    client = lambda_client(stack.invoke_endpoint)

    _, first = call(stack)
    _, second = call(stack)
    # Without a ping the idle instance goes, and the next request is cold.
    wait_until(lambda: instance_pids(stack.pid) == set())
    _, after_idle = call(stack)
    # With a ping in between, a request 1.4 idle timeouts after the last one is still warm.
    time.sleep(0.7 * idle_s)
    warm, _ = invoke(client, {"lukewarm": {"action": "warm"}})
    time.sleep(0.7 * idle_s)
    _, after_ping = call(stack)

    assert (first["cold_start"], second["cold_start"]) == (True, False)
    assert second["instance"] == first["instance"]
    assert after_idle["cold_start"] is True
    assert after_idle["instance"] != first["instance"]
    assert warm["instance"] == after_idle["instance"]
    assert after_ping["cold_start"] is False
    assert after_ping["instance"] == after_idle["instance"]
    temperatures = [line.split()[3] for line in stack.request_lines() if "/caption" in line]
    assert temperatures == ["cold", "warm", "cold", "warm"]


def test_a_request_beyond_the_cap_is_throttled_like_lambda(capped_stack, tmp_path):
    client = lambda_client(capped_stack.invoke_endpoint)
    slow, results, _ = started_request(capped_stack, tmp_path, 1.4)
    status, body = call(capped_stack)
    with pytest.raises(botocore.exceptions.ClientError) as throttled:
        invoke(client, {"hello": 1})
    slow.join()

    assert status == 429
    assert json.loads(body) == {"message": "Too Many Requests"}
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert results[0][0] == 200
    assert call(capped_stack)[0] == 200


def test_requests_up_to_the_cap_all_start_instances_while_others_are_starting(
    local_stack_factory,
):
    stack = fake_stack(local_stack_factory, max_instances=3, env={"FAKE_INIT_S": "1.5"})
    threads = []
    for _ in range(3):  # each arrives while the ones before it are still importing
        threads.append(in_background(call, stack))
        time.sleep(0.3)
    for thread, _ in threads:
        thread.join()

    answers = [results[0] for _, results in threads]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert len({body["instance"] for _, body in answers}) == 3


def test_an_instance_killed_mid_request_fails_only_that_request(capped_stack, tmp_path):
    slow, results, victim = started_request(capped_stack, tmp_path, 2)
    os.kill(victim, signal.SIGKILL)
    slow.join()
    status, body = call(capped_stack)

    assert results[0][0] == 500
    assert json.loads(results[0][1]) == {"message": "Internal Server Error"}
    assert status == 200
    assert body["pid"] != victim
    assert body["cold_start"] is True


def test_a_function_overrunning_its_timeout_is_stopped_and_replaced(capped_stack):
    client = lambda_client(capped_stack.invoke_endpoint)
    started = time.monotonic()
    answer, response = invoke(client, {"sleep": 120})
    elapsed = time.monotonic() - started
    status, _ = call(capped_stack, "?sleep=120")

    assert response["FunctionError"] == "Unhandled"
    assert "timed out after 2.50 seconds" in answer["errorMessage"]
    assert elapsed < 60  # stopped at its 2.5 s timeout, not after its 120 s of work
    assert status == 500
    assert call(capped_stack)[0] == 200


def test_a_raising_function_is_a_function_error_not_a_leak(capped_stack):
    client = lambda_client(capped_stack.invoke_endpoint)

    answer, response = invoke(client, {"raise": "boom"})
    status, body = call(capped_stack, "?fail=1")
    unserialisable, marshal = invoke(client, {"unserialisable": True})

    assert response["FunctionError"] == "Unhandled"
    assert answer == {"errorType": "ValueError", "errorMessage": "boom"}
    assert status == 500
    assert b"failed on purpose" not in body
    assert marshal["FunctionError"] == "Unhandled"
    assert unserialisable["errorType"] == "Runtime.MarshalError"
    assert call(capped_stack)[0] == 200


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_stack_leaves_no_process_behind(local_stack_factory, signum, tmp_path):
    stack = fake_stack(local_stack_factory, max_instances=3)
    slow, results, _ = started_request(stack, tmp_path, 20)
    call(stack)
    instances = [psutil.Process(pid) for pid in instance_pids(stack.pid)]
    assert len(instances) == 2

    stack.process.send_signal(signum)
    returncode = stack.process.wait(10)
    slow.join(10)

    assert returncode == 0
    assert not any(process.is_running() for process in instances)
    # The interrupted client gets an error answer or a closed connection, never a hang.
    assert not slow.is_alive()
    assert isinstance(results[0], OSError) or results[0][0] >= 500
    assert "lukewarm: stopping" in stack.log()


def test_instances_die_with_a_killed_stack(local_stack_factory):
    stack = fake_stack(local_stack_factory)
    call(stack)
    instances = [psutil.Process(pid) for pid in instance_pids(stack.pid)]

    stack.process.kill()
    stack.process.wait(5)
    _, alive = psutil.wait_procs(instances, timeout=5)

    assert instances
    assert alive == []


def test_a_function_that_cannot_import_is_an_init_error_each_time(local_stack_factory, tmp_path):
    (tmp_path / "app.py").write_text("raise ImportError('no such model')\n")
    stack = local_stack_factory(task_root=tmp_path, no_warmer=True)

    answer, response = invoke(lambda_client(stack.invoke_endpoint), {"hello": 1})
    status, body = call(stack)

    assert response["FunctionError"] == "Unhandled"
    assert answer["errorType"] == "Runtime.ImportModuleError"
    assert "no such model" in answer["errorMessage"]
    assert status == 500
    assert b"no such model" not in body
    assert instance_pids(stack.pid) == set()
