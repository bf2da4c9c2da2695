"""`serve --auth iam` over real HTTP: SigV4 by the printed credentials, refused as AWS does."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lukewarm.localstack.process import StackProcess
from tests.auth.conftest import REGION, printed_credentials, sign
from tests.conftest import ROOT
from tests.localstack.conftest import FAKE_FUNCTION, http, invoke, lambda_client

FORBIDDEN = b'{"message":"Forbidden"}'


@pytest.fixture(scope="module")
def image(photos: dict[str, Path]) -> bytes:
    return photos["coffee"].read_bytes()


def post_signed(stack: StackProcess, body: bytes, path: str = "caption", **signing: object):
    url = stack.url + path
    headers = {"Content-Type": "image/png"}
    signed = sign("POST", url, body, headers, printed_credentials(stack), **signing)  # type: ignore[arg-type]
    return url, signed


def test_the_stack_prints_credentials_and_region_to_sign_with(iam_stack: StackProcess) -> None:
    credentials = printed_credentials(iam_stack)

    assert set(credentials) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    assert len(credentials["AWS_ACCESS_KEY_ID"]) == 20
    assert len(credentials["AWS_SECRET_ACCESS_KEY"]) == 40
    assert credentials["AWS_DEFAULT_REGION"] == REGION


def test_a_signed_caption_request_is_answered(iam_stack: StackProcess, image: bytes) -> None:
    url, headers = post_signed(iam_stack, image, "caption?beam=2&alternatives=1")
    answer = http(url, data=image, headers=headers)

    assert answer.status == 200, answer.body
    assert isinstance(answer.json()["caption"], str)


def test_page_and_health_need_no_signature(iam_stack: StackProcess) -> None:
    assert http(iam_stack.url).status == 200
    assert http(iam_stack.url + "health").json()["status"] == "ok"


def test_an_unsigned_caption_request_is_forbidden(iam_stack: StackProcess, image: bytes) -> None:
    answer = http(iam_stack.url + "caption", data=image, headers={"Content-Type": "image/png"})

    assert (answer.status, answer.body) == (403, FORBIDDEN)
    assert answer.headers["Content-Type"].startswith("application/json")


def test_any_other_request_that_would_run_the_function_needs_a_signature_too(
    iam_stack: StackProcess,
) -> None:
    assert (http(iam_stack.url + "nowhere").status, http(iam_stack.url + "nowhere").body) == (
        403,
        FORBIDDEN,
    )
    headers = sign("GET", iam_stack.url + "nowhere", b"", {}, printed_credentials(iam_stack))
    assert http(iam_stack.url + "nowhere", headers=headers).json()["error"]["code"] == "not_found"


def tampered(headers: dict[str, str]) -> dict[str, str]:
    authorization = headers["Authorization"]
    last = authorization[-1]
    return {**headers, "Authorization": authorization[:-1] + ("0" if last != "0" else "1")}


@pytest.mark.parametrize(
    "change",
    [
        "tampered signature",
        "body changed after signing",
        "query changed after signing",
        "signed for another region",
        "another secret key",
        "unknown access key",
        "body hash header that lies",
        "a signed header dropped",
    ],
)
def test_a_request_that_does_not_match_its_signature_is_forbidden(
    iam_stack: StackProcess, image: bytes, change: str
) -> None:
    credentials = printed_credentials(iam_stack)
    url = iam_stack.url + "caption?beam=2"
    body = image
    base = {"Content-Type": "image/png"}
    headers = sign("POST", url, body, base, credentials)
    if change == "tampered signature":
        headers = tampered(headers)
    elif change == "body changed after signing":
        body = image[:-1] + bytes([image[-1] ^ 1])
    elif change == "query changed after signing":
        url = iam_stack.url + "caption?beam=3"
    elif change == "signed for another region":
        headers = sign("POST", url, body, base, credentials, region="eu-west-1")
    elif change == "another secret key":
        headers = sign("POST", url, body, base, {**credentials, "AWS_SECRET_ACCESS_KEY": "x" * 40})
    elif change == "unknown access key":
        headers = sign(
            "POST", url, body, base, {**credentials, "AWS_ACCESS_KEY_ID": "AKIA" + "X" * 16}
        )
    elif change == "body hash header that lies":
        lying = {**base, "X-Amz-Content-SHA256": "0" * 64}
        headers = sign("POST", url, body, lying, credentials)
    elif change == "a signed header dropped":
        headers = {name: value for name, value in headers.items() if name != "Content-Type"}
    answer = http(url, data=body, headers=headers)

    assert (answer.status, answer.body) == (403, FORBIDDEN)


@pytest.mark.parametrize("offset_minutes", [-6, 6, -60 * 24])
def test_a_clock_outside_five_minutes_is_forbidden(
    iam_stack: StackProcess, image: bytes, monkeypatch: pytest.MonkeyPatch, offset_minutes: int
) -> None:
    at = datetime.now(UTC) + timedelta(minutes=offset_minutes)
    url, headers = post_signed(iam_stack, image, at=at, monkeypatch=monkeypatch)
    answer = http(url, data=image, headers=headers)

    assert (answer.status, answer.body) == (403, FORBIDDEN)
    expected = "signature expired" if offset_minutes < 0 else "signature not yet current"
    assert expected in iam_stack.log()


@pytest.mark.parametrize("offset_minutes", [-4, 4])
def test_a_clock_within_five_minutes_is_accepted(
    iam_stack: StackProcess, image: bytes, monkeypatch: pytest.MonkeyPatch, offset_minutes: int
) -> None:
    at = datetime.now(UTC) + timedelta(minutes=offset_minutes)
    url, headers = post_signed(iam_stack, image, at=at, monkeypatch=monkeypatch)

    assert http(url, data=image, headers=headers).status == 200


def test_refusals_are_logged_without_the_signature_or_the_secret(
    iam_stack: StackProcess, image: bytes
) -> None:
    url, headers = post_signed(iam_stack, image)
    headers = tampered(headers)
    assert http(url, data=image, headers=headers).status == 403

    log = iam_stack.log()
    refusals = [line for line in log.splitlines() if "refused POST /caption (auth iam)" in line]
    assert any("the signature does not match" in line for line in refusals)
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    assert signature not in log
    assert signature[:-1] not in log
    secret = printed_credentials(iam_stack)["AWS_SECRET_ACCESS_KEY"]
    assert log.count(secret) == 1  # printed once at start, for the caller, never again


def test_warm_pings_invoke_the_function_directly_and_are_unaffected(
    iam_stack: StackProcess,
) -> None:
    client = lambda_client(iam_stack.invoke_endpoint)
    answer, _ = invoke(client, {"lukewarm": {"action": "warm", "hold_ms": 0}})

    assert answer["warm"] is True, json.dumps(answer)


def test_serve_takes_auth_from_the_stack_file(local_stack_factory) -> None:
    name = f"auth-test-{os.getpid()}"
    stack_file = ROOT / f"Pulumi.{name}.yaml"
    stack_file.write_text("config:\n  lukewarm:auth: iam\n")
    try:
        stack = local_stack_factory(task_root=FAKE_FUNCTION, stack=name)
    finally:
        stack_file.unlink()

    assert "AWS_SECRET_ACCESS_KEY" in printed_credentials(stack)
    answer = http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})
    assert (answer.status, answer.body) == (403, FORBIDDEN)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "AWS4-HMAC-SHA256"},
        {"Authorization": "Bearer abc.def.ghi"},
        {
            "Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, "
            "SignedHeaders=host, Signature=0"
        },
        {
            "Authorization": "AWS4-HMAC-SHA256 Credential=\u00fc/20261201/us-east-1/execute-api/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=\u00fc\u00fc",
            "X-Amz-Date": "not a date",
        },
        {
            "Authorization": "AWS4-HMAC-SHA256 Credential={key}/20261201/us-east-1/execute-api/"
            "aws4_request, SignedHeaders=host;x-amz-date;X-Nope, Signature=\u00fc",
            "X-Amz-Date": "20261201T000000Z",
        },
    ],
    ids=["algorithm alone", "bearer", "short scope", "non-ascii", "missing signed header"],
)
def test_junk_authorization_is_forbidden_never_a_server_error(
    iam_stack: StackProcess, headers: dict[str, str]
) -> None:
    key = printed_credentials(iam_stack)["AWS_ACCESS_KEY_ID"]
    sent = {name: value.replace("{key}", key) for name, value in headers.items()}
    answer = http(
        iam_stack.url + "caption", data=b"x", headers={"Content-Type": "image/png", **sent}
    )

    assert (answer.status, answer.body) == (403, FORBIDDEN)
    assert "Traceback" not in iam_stack.log()
