"""The real function behind the local stack: captions over HTTP and through the invoke endpoint."""

from __future__ import annotations

import base64
import json
import re
import uuid

import botocore.exceptions
import pytest

from tests.localstack.conftest import http, invoke, lambda_client

REQUEST_LINE = re.compile(
    r"^(?P<method>\S+) (?P<path>\S+) (?P<status>\d{3}) (?P<temperature>cold|warm) "
    r"(?P<instance>i-\d+) pid (?P<pid>\d+) (?P<ms>\d+) ms"
)


def test_a_photo_posted_to_caption_gets_a_caption(local_stack, photos):
    answer = http(
        local_stack.url + "caption?beam=2&alternatives=1",
        data=photos["coffee"].read_bytes(),
        headers={"Content-Type": "image/png"},
    )

    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["caption"].strip()
    assert len(body["alternatives"]) == 1
    assert body["model"]["name"] == "tiny-random"
    lines = [REQUEST_LINE.match(line) for line in local_stack.request_lines()]
    assert any(m and m["path"] == "/caption" and m["status"] == "200" for m in lines)


def test_multipart_and_json_uploads_reach_the_function_intact(local_stack, photos):
    image = photos["motorcycle"].read_bytes()
    boundary = uuid.uuid4().hex
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="m.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    as_form = http(
        local_stack.url + "caption",
        data=multipart,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    as_json = http(
        local_stack.url + "caption",
        data=json.dumps({"image": base64.b64encode(image).decode()}).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert as_form.status == 200, as_form.body
    assert as_json.status == 200, as_json.body
    assert as_form.json()["caption"] == as_json.json()["caption"]


def test_the_upload_page_and_health_are_served(local_stack):
    page = http(local_stack.url)
    health = http(local_stack.url + "health")

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b'id="file"' in page.body
    assert health.status == 200
    assert health.json()["status"] == "ok"


def test_unknown_routes_get_the_functions_own_json_errors(local_stack):
    missing = http(local_stack.url + "nothing-here")
    wrong_method = http(local_stack.url + "caption", method="GET")

    assert missing.status == 404
    assert missing.json()["error"]["code"]
    assert wrong_method.status == 405


def test_a_corrupt_image_is_a_400_and_the_instance_keeps_serving(local_stack, photos):
    broken = http(
        local_stack.url + "caption",
        data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        headers={"Content-Type": "image/png"},
    )
    after = http(
        local_stack.url + "caption",
        data=photos["horse"].read_bytes(),
        headers={"Content-Type": "image/png"},
    )

    assert broken.status == 400
    assert "Traceback" not in broken.body.decode()
    assert after.status == 200


def test_the_warm_up_event_through_boto3_reports_the_instance(local_stack):
    client = lambda_client(local_stack.invoke_endpoint)

    answer, response = invoke(client, {"lukewarm": {"action": "warm", "hold_ms": 0}})

    assert "FunctionError" not in response
    assert answer["warm"] is True
    assert answer["instance"]
    assert isinstance(answer["cold_start"], bool)


def test_only_the_live_alias_exists(local_stack):
    client = lambda_client(local_stack.invoke_endpoint)

    with pytest.raises(botocore.exceptions.ClientError) as raised:
        invoke(client, {"lukewarm": {"action": "warm", "hold_ms": 0}}, qualifier="$LATEST")

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_warmer_reaches_two_instances_of_the_real_function(local_stack):
    from lukewarm.localstack.scheduler import run_warmer

    summary = run_warmer(
        local_stack.invoke_endpoint, "lukewarm", concurrency=2, hold_ms=500, function_timeout_s=30
    )

    assert summary["errors"] == 0, summary["error_details"]
    assert summary["instances_reached"] == 2
