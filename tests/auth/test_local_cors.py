"""CORS under auth on the local stack: API Gateway answers a preflight itself, before any
authorizer runs (a browser never sends credentials with one), and allows the headers the
auth reads, as the deployed API's CORS configuration does (contract.cors_allow_headers)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lukewarm.localstack.process import StackProcess
from tests.auth.conftest import AUDIENCE, ISSUER, Issuer
from tests.localstack.conftest import FAKE_FUNCTION, http

APP = "https://app.example"


@pytest.fixture(scope="module")
def cors_stacks(
    local_stack_factory: Callable[..., StackProcess], issuer: Issuer
) -> dict[str, StackProcess]:
    """The fake function behind an API with `corsOrigins: [APP]`, under iam and under jwt."""
    common = {"task_root": FAKE_FUNCTION, "no_warmer": True, "cors_origins": APP}
    return {
        "iam": local_stack_factory(auth="iam", **common),
        "jwt": local_stack_factory(
            auth="jwt", jwks=issuer.jwks_file, issuer=ISSUER, audience=AUDIENCE, **common
        ),
    }


@pytest.mark.parametrize(
    ("auth", "allowed"),
    [
        ("jwt", "content-type,authorization"),
        (
            "iam",
            "content-type,authorization,x-amz-date,x-amz-security-token,x-amz-content-sha256",
        ),
    ],
)
def test_a_preflight_is_answered_before_the_auth_and_allows_what_it_reads(
    cors_stacks: dict[str, StackProcess], auth: str, allowed: str
) -> None:
    stack = cors_stacks[auth]
    answer = http(
        stack.url + "caption",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        method="OPTIONS",
    )

    assert answer.status == 204, answer.body
    assert answer.body == b""
    assert answer.headers["Access-Control-Allow-Origin"] == APP
    assert answer.headers["Access-Control-Allow-Headers"] == allowed
    assert f"refused OPTIONS /caption (auth {auth})" not in stack.log()
