"""`serve --auth jwt` over real HTTP: PyJWT checks what API Gateway's JWT authorizer does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lukewarm.localstack.process import StackProcess
from tests.auth.conftest import (
    AUDIENCE,
    ISSUER,
    Issuer,
    hs256_with_public_key,
    unsigned_token,
)
from tests.localstack.conftest import http, serve_once

UNAUTHORIZED = b'{"message":"Unauthorized"}'


@pytest.fixture(scope="module")
def image(photos: dict[str, Path]) -> bytes:
    return photos["coffee"].read_bytes()


def post(stack: StackProcess, image: bytes, authorization: str | None, path: str = "caption"):
    headers = {"Content-Type": "image/png"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return http(stack.url + path, data=image, headers=headers)


def test_a_valid_bearer_token_is_answered(jwt_stack, issuer: Issuer, image: bytes) -> None:
    answer = post(jwt_stack, image, f"Bearer {issuer.token()}", "caption?beam=2")

    assert answer.status == 200, answer.body
    assert isinstance(answer.json()["caption"], str)


def test_the_token_alone_without_bearer_is_accepted_as_api_gateway_does(
    jwt_stack, issuer: Issuer, image: bytes
) -> None:
    assert post(jwt_stack, image, issuer.token()).status == 200


def test_a_token_without_aud_is_checked_by_its_client_id(
    jwt_stack, issuer: Issuer, image: bytes
) -> None:
    # Cognito's access tokens carry client_id and no aud.
    assert (
        post(jwt_stack, image, f"Bearer {issuer.token(aud=None, client_id=AUDIENCE)}").status == 200
    )
    refused = post(jwt_stack, image, f"Bearer {issuer.token(aud=None, client_id='other')}")
    assert (refused.status, refused.body) == (401, UNAUTHORIZED)


def test_page_and_health_need_no_token(jwt_stack) -> None:
    assert http(jwt_stack.url).status == 200
    assert http(jwt_stack.url + "health").json()["status"] == "ok"


def test_a_missing_token_is_unauthorized(jwt_stack, image: bytes) -> None:
    answer = post(jwt_stack, image, None)

    assert (answer.status, answer.body) == (401, UNAUTHORIZED)
    assert answer.headers["www-authenticate"] == "Bearer"


def test_any_other_request_that_would_run_the_function_needs_the_token_too(
    jwt_stack, issuer: Issuer
) -> None:
    assert (http(jwt_stack.url + "nowhere").status, http(jwt_stack.url + "nowhere").body) == (
        401,
        UNAUTHORIZED,
    )
    # Near misses of the caption route reach $default: no way around the authorizer.
    for path in ("caption/", "Caption", "caption%2F"):
        assert post(jwt_stack, b"x", None, path).status == 401, path
    assert http(jwt_stack.url + "health", method="HEAD").status == 401
    allowed = http(jwt_stack.url + "nowhere", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert allowed.json()["error"]["code"] == "not_found"


REFUSED_TOKENS = {
    "expired": (lambda i: i.token(exp=int(time.time()) - 60), "the token has expired"),
    "not valid yet": (
        lambda i: i.token(nbf=int(time.time()) + 600),
        "the token is not valid yet",
    ),
    "issued in the future": (
        lambda i: i.token(iat=int(time.time()) + 600),
        "the token is not valid yet",
    ),
    "wrong audience": (
        lambda i: i.token(aud="someone-else"),
        "the token does not have a valid audience",
    ),
    "wrong issuer": (
        lambda i: i.token(iss="https://other-issuer.example.com/"),
        "the token does not have a valid issuer",
    ),
    "no expiry": (lambda i: i.token(exp=None), "the token lacks a required claim"),
    "signed by another key under the issuer's kid": (
        lambda i: i.token(signer=i.impostor),
        "the token's signature is invalid",
    ),
    "tampered signature": (
        lambda i: i.token()[:-4] + ("AAAA" if not i.token().endswith("AAAA") else "BBBB"),
        "the token's signature is invalid",
    ),
    "tampered claims": (
        lambda i: _swap_claims(i.token(), i.token(sub="admin")),
        "the token's signature is invalid",
    ),
    "unknown kid": (
        lambda i: i.token(kid="rotated-away"),
        "the token's kid does not match a signing key",
    ),
    "alg none": (
        lambda i: unsigned_token(i.claims()),
        "the token's signing algorithm is not supported",
    ),
    "HS256 with the issuer's public key": (
        lambda i: hs256_with_public_key(i.claims(), i.public_pem()),
        "the token's signing algorithm is not supported",
    ),
    "not a JWT": (lambda i: "not-a-token", "the token is malformed"),
}


def _swap_claims(token: str, other: str) -> str:
    """`token`'s header and signature around `other`'s claims."""
    header, _, signature = token.split(".")
    return ".".join((header, other.split(".")[1], signature))


@pytest.mark.parametrize("case", REFUSED_TOKENS)
def test_a_bad_token_is_unauthorized_and_told_why(
    jwt_stack, issuer: Issuer, image: bytes, case: str
) -> None:
    make, description = REFUSED_TOKENS[case]
    answer = post(jwt_stack, image, f"Bearer {make(issuer)}")

    assert (answer.status, answer.body) == (401, UNAUTHORIZED)
    assert answer.headers["www-authenticate"] == (
        f'Bearer scope="" error="invalid_token" error_description="{description}"'
    )


def test_refusals_are_logged_without_the_token(jwt_stack, issuer: Issuer, image: bytes) -> None:
    token = issuer.token(aud="someone-else")
    assert post(jwt_stack, image, f"Bearer {token}").status == 401

    log = jwt_stack.log()
    assert "refused POST /caption (auth jwt): the token does not have a valid audience" in log
    for part in token.split("."):
        assert part not in log


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--auth", "jwt", "--issuer", ISSUER, "--audience", AUDIENCE],
            "lukewarm serve: --auth jwt needs --jwks FILE",
        ),
        (["--auth", "jwt", "--jwks", "{jwks}"], "--auth jwt needs --issuer URL, --audience AUD"),
        (
            ["--jwks", "{jwks}"],
            "lukewarm serve: --jwks is used only with --auth jwt (auth is none)",
        ),
        (
            ["--auth", "iam", "--issuer", ISSUER],
            "lukewarm serve: --issuer is used only with --auth jwt (auth is iam)",
        ),
        (
            ["--auth", "jwt", "--jwks", "{not_json}", "--issuer", ISSUER, "--audience", AUDIENCE],
            "is not JSON",
        ),
        (
            ["--auth", "jwt", "--jwks", "{no_rsa}", "--issuer", ISSUER, "--audience", AUDIENCE],
            "has no RSA key with a kid",
        ),
        (
            ["--auth", "jwt", "--jwks", "{missing}", "--issuer", ISSUER, "--audience", AUDIENCE],
            "cannot read",
        ),
    ],
)
def test_serve_refuses_an_incomplete_jwt_setup_before_starting(
    issuer: Issuer, tmp_path: Path, arguments: list[str], message: str
) -> None:
    files = {
        "jwks": issuer.jwks_file,
        "not_json": tmp_path / "not.json",
        "no_rsa": tmp_path / "oct.json",
        "missing": tmp_path / "missing.json",
    }
    files["not_json"].write_text("keys: []")
    files["no_rsa"].write_text('{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}')
    finished = serve_once(*(argument.format(**files) for argument in arguments))

    assert finished.returncode == 2
    assert message in finished.stderr
    assert "Traceback" not in finished.stderr
