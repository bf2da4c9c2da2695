"""The HTTP front builds the events API Gateway builds and answers as API Gateway answers."""

from __future__ import annotations

import base64
import json

import pytest

from lukewarm.localstack import front
from tests.localstack.conftest import FAKE_FUNCTION, http


@pytest.fixture(scope="module")
def echo_stack(local_stack_factory):
    """The fake function, which answers with the event it was given."""
    return local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True)


def test_a_binary_upload_becomes_a_base64_payload_2_0_event(echo_stack):
    image = bytes(range(256))
    answer = http(
        echo_stack.url + "caption?beam=3&tag=a&tag=b",
        data=image,
        headers={"Content-Type": "image/png", "X-Custom": "Yes", "Cookie": "s=1; t=2"},
    )

    assert answer.status == 200
    sent = answer.json()
    event = sent["event"]
    assert base64.b64decode(sent["body"]) == image
    assert event["isBase64Encoded"] is True
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /caption"
    assert event["rawPath"] == "/caption"
    assert event["rawQueryString"] == "beam=3&tag=a&tag=b"
    assert event["queryStringParameters"] == {"beam": "3", "tag": "a,b"}
    assert event["headers"]["x-custom"] == "Yes"
    assert event["headers"]["content-type"] == "image/png"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/caption"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["stage"] == "$default"
    assert context["requestId"] == answer.headers["Apigw-Requestid"]
    assert isinstance(context["timeEpoch"], int)
    assert 0 < sent["remaining_ms"] <= 30_000


def test_a_json_body_stays_text_and_other_routes_are_default(echo_stack):
    answer = http(
        echo_stack.url + "somewhere/else",
        data=json.dumps({"image": "abc"}).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )

    sent = answer.json()
    assert sent["event"]["routeKey"] == "$default"
    assert sent["event"]["isBase64Encoded"] is False
    assert json.loads(sent["body"]) == {"image": "abc"}
    assert "queryStringParameters" not in sent["event"]


def test_the_functions_headers_and_cookies_reach_the_client(echo_stack):
    answer = http(echo_stack.url, method="GET")

    assert answer.headers["X-Fake"] == "yes"
    assert answer.headers.get_all("Set-Cookie") == ["a=1", "b=2"]


def test_a_body_over_the_api_limit_is_refused_before_the_function(echo_stack):
    answer = http(
        echo_stack.url + "caption",
        data=b"\0" * (front.MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/octet-stream"},
    )

    assert answer.status == 413
    assert answer.json() == {"message": "Request Entity Too Large"}


def test_the_front_mirrors_the_deployed_api_routes():
    from infra.api import ROUTES

    assert tuple(front.ROUTES) == tuple(ROUTES)
