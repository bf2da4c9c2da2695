"""The local stack's front and Invoke API where a client can tell them from AWS's: CORS,
`Expect: 100-continue`, requests the HTTP server refuses, slow clients and NaN."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.localstack.conftest import FAKE_FUNCTION, http

APP = "https://app.example"
INVOKE_PATH = "/2015-03-31/functions/lukewarm/invocations?Qualifier=live"


@pytest.fixture(scope="module")
def cors_stack(local_stack_factory):
    """The fake function behind an API configured with `corsOrigins: [https://app.example]`."""
    return local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, cors_origins=APP)


@pytest.fixture(scope="module")
def plain_stack(local_stack_factory):
    """The fake function behind an API with no CORS configuration (the default)."""
    return local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True)


def preflight(stack, origin=APP, method="POST", path="caption"):
    headers = {"Origin": origin}
    if method:
        headers["Access-Control-Request-Method"] = method
        headers["Access-Control-Request-Headers"] = "content-type"
    return http(stack.url + path, headers=headers, method="OPTIONS")


def test_a_preflight_from_an_allowed_origin_is_answered_by_the_gateway(cors_stack):
    answer = preflight(cors_stack)

    assert answer.status == 204
    assert answer.body == b""
    assert answer.headers["Access-Control-Allow-Origin"] == APP
    assert answer.headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type"
    assert answer.headers["Access-Control-Max-Age"] == "3600"
    assert "x-fake" not in answer.headers  # the function never saw it
    assert "OPTIONS /caption 204 - -" in cors_stack.log()


def test_a_preflight_from_another_origin_gets_no_cors_headers(cors_stack):
    answer = preflight(cors_stack, origin="https://evil.example")

    assert answer.status == 204
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]


def test_an_options_request_that_is_no_preflight_reaches_the_function(cors_stack):
    answer = preflight(cors_stack, method=None)

    assert answer.headers["x-fake"] == "yes"
    assert answer.json()["event"]["requestContext"]["http"]["method"] == "OPTIONS"


def test_the_gateway_sets_cors_on_the_functions_answer_and_drops_the_functions_own(cors_stack):
    allowed = http(
        cors_stack.url + "caption?cors=https://evil.example",
        data=b"x",
        headers={"Origin": APP, "Content-Type": "image/png"},
    )
    other = http(
        cors_stack.url + "caption?cors=https://evil.example",
        data=b"x",
        headers={"Origin": "https://evil.example", "Content-Type": "image/png"},
    )

    assert allowed.headers["Access-Control-Allow-Origin"] == APP
    assert allowed.headers["x-fake"] == "yes"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_without_cors_origins_a_preflight_goes_to_the_function(plain_stack):
    answer = preflight(plain_stack)

    assert answer.headers["x-fake"] == "yes"
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_every_origin_is_allowed_with_a_star(local_stack_factory):
    stack = local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, cors_origins="*")

    answer = preflight(stack, origin="https://anywhere.example")

    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_a_bad_cors_origin_is_refused_before_the_stack_starts(tmp_path):
    from lukewarm.localstack.process import StackProcess

    stack = StackProcess(task_root=FAKE_FUNCTION, no_warmer=True, cors_origins="ftp://x/y")
    with pytest.raises(RuntimeError, match="corsOrigins"):
        stack.start(timeout=30)
    assert stack.process is not None and stack.process.returncode == 2


def raw_exchange(stack, request: bytes, read_timeout: float = 10.0) -> bytes:
    """Send `request` as is; whatever the server answers before it stops or goes quiet."""
    host, port = stack.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as connection:
        connection.sendall(request)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except TimeoutError:
            pass
        return answer


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/caption", "Content-Type: image/png", 413),
        (INVOKE_PATH, "X-Amz-Invocation-Type: RequestResponse", 413),
        (INVOKE_PATH, "X-Amz-Invocation-Type: Event", 413),
    ],
    ids=["api-over-10-MiB", "invoke-over-6-MiB", "event-over-1-MiB"],
)
def test_expect_100_continue_for_a_body_over_the_limit_gets_the_refusal(
    plain_stack, path, headers, status
):
    size = {"/caption": 11, INVOKE_PATH: 7}[path] * 1024 * 1024
    if "Event" in headers:
        size = 2 * 1024 * 1024
    request = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n"
        f"Content-Length: {size}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()

    answer = raw_exchange(plain_stack, request)

    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert b"100 Continue" not in answer


def test_expect_100_continue_within_the_limit_still_gets_continue(plain_stack):
    request = (
        b"POST /caption HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
        b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n"
    )

    assert raw_exchange(plain_stack, request).startswith(b"HTTP/1.1 100 Continue")


def test_a_client_that_leaves_mid_body_gets_an_access_line_not_a_traceback(plain_stack):
    host, port = plain_stack.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /health?left=1 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 100\r\n\r\n" + b"x" * 10
        )
        time.sleep(0.3)

    deadline = time.monotonic() + 10
    while "POST /health 400 - -" not in plain_stack.log():
        assert time.monotonic() < deadline, plain_stack.log()[-2000:]
        time.sleep(0.05)
    assert "Traceback" not in plain_stack.log(), plain_stack.log()


def test_a_request_the_http_server_refuses_gets_an_access_line_not_a_traceback(plain_stack):
    answer = raw_exchange(plain_stack, b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")

    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    deadline = time.monotonic() + 10
    while "- - 400 - -" not in plain_stack.log():
        assert time.monotonic() < deadline, plain_stack.log()[-2000:]
        time.sleep(0.05)
    assert "refused by the HTTP server: " in plain_stack.log()
    assert "Traceback" not in plain_stack.log(), plain_stack.log()


def test_slow_headers_and_slow_bodies_are_timed_out(plain_stack):
    from lukewarm.localstack import server

    # Both at once: each waits out its own timeout.
    outcomes: dict[str, tuple[bytes, float]] = {}

    def slow(name: str, request: bytes) -> None:
        started = time.monotonic()
        answer = raw_exchange(plain_stack, request, read_timeout=server.HEADER_TIMEOUT_S + 20)
        outcomes[name] = (answer, time.monotonic() - started)

    threads = [
        threading.Thread(target=slow, args=("headers", b"GET / HTTP/1.1\r\nHost: x\r\n")),
        threading.Thread(
            target=slow,
            args=(
                "body",
                b"POST /caption HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 1000\r\n\r\n" + b"x" * 10,
            ),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    headers_answer, headers_took = outcomes["headers"]
    body_answer, body_took = outcomes["body"]
    assert headers_answer == b""  # closed: no request to answer
    assert server.HEADER_TIMEOUT_S - 1 <= headers_took <= server.HEADER_TIMEOUT_S + 5
    assert body_answer.startswith(b"HTTP/1.1 408 ")
    assert server.BODY_IDLE_TIMEOUT_S - 1 <= body_took <= server.BODY_IDLE_TIMEOUT_S + 5
    assert "POST /caption 408 - -" in plain_stack.log()


@pytest.mark.parametrize("payload", [b'{"x": NaN}', b'{"x": Infinity}', b"[-Infinity]"])
def test_the_invoke_endpoint_refuses_nan_as_lambda_does(plain_stack, payload):
    answer = http(plain_stack.invoke_endpoint + INVOKE_PATH, data=payload)

    assert answer.status == 400
    assert answer.headers["X-Amzn-ErrorType"] == "InvalidRequestContentException"
    assert json.loads(answer.body)["message"] == "Could not parse request body into json"
