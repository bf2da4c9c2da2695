"""The real function behind the local stack: captions over HTTP and through the invoke endpoint."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid

import botocore.exceptions
import pytest

from tests.localstack.conftest import http, invoke, lambda_client
from toolkit.scenes import make_scene

REQUEST_LINE = re.compile(
    r"^(?P<method>\S+) (?P<path>\S+) (?P<status>\d{3}) (?P<temperature>cold|warm) "
    r"(?P<instance>i-\d+) pid (?P<pid>\d+) (?P<ms>\d+) ms(?: init (?P<init>\d+) ms)?$"
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


def test_a_cold_request_line_says_how_long_the_init_took(local_stack_factory, tiny_model_dir):
    stack = local_stack_factory(model_dir=tiny_model_dir, no_warmer=True)
    for _ in range(2):
        http(stack.url + "health")

    cold, warm = (REQUEST_LINE.match(line) for line in stack.request_lines())
    assert cold and cold["temperature"] == "cold" and cold["init"] is not None
    assert 0 < int(cold["init"]) <= int(cold["ms"])
    assert warm and warm["temperature"] == "warm" and warm["init"] is None


def test_multipart_and_json_uploads_reach_the_function_intact(demo_stack):
    # The demo model says "... to the left of ..." of this held-out scene; a mirrored,
    # flipped or turned image gets another caption.
    scene = make_scene("evaluate", 2026, 6)
    buffer = io.BytesIO()
    scene.image.save(buffer, "PNG")
    image = buffer.getvalue()
    boundary = uuid.uuid4().hex
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="s.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    bodies = {
        "raw": (image, "image/png"),
        "multipart": (multipart, f"multipart/form-data; boundary={boundary}"),
        "json": (
            json.dumps({"image": base64.b64encode(image).decode()}).encode(),
            "application/json",
        ),
    }

    for name, (body, content_type) in bodies.items():
        answer = http(demo_stack.url + "caption", data=body, headers={"Content-Type": content_type})
        assert answer.status == 200, (name, answer.body)
        assert answer.json()["caption"] == scene.caption, name


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


def test_an_unknown_function_is_not_found(local_stack):
    client = lambda_client(local_stack.invoke_endpoint)

    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.invoke(FunctionName="no-such-function", Qualifier="live", Payload=b"{}")

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_the_warmer_reaches_two_instances_of_the_real_function(local_stack):
    from lukewarm.localstack.scheduler import run_warmer

    summary = run_warmer(
        local_stack.invoke_endpoint, "lukewarm", concurrency=2, hold_ms=500, function_timeout_s=30
    )

    assert summary["errors"] == 0, summary["error_details"]
    assert summary["instances_reached"] == 2
