"""Keys, tokens, signatures and local stacks for the auth tests: nothing leaves 127.0.0.1.

An RSA key plays the issuer (its public half is the JWKS file the stack reads); another
plays an impostor with the same `kid`. IAM callers use the credentials the stack prints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lukewarm.localstack.process import StackProcess

ISSUER = "https://issuer.example.com/pool-1"
AUDIENCE = "lukewarm-app"
KID = "issuer-key-1"
REGION = "us-east-1"
CREDENTIAL_LINE = re.compile(r"^lukewarm:   (?P<name>AWS_[A-Z_]+)=(?P<value>\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Issuer:
    """Signs tokens as the stack's issuer (or as an impostor using its kid)."""

    key: rsa.RSAPrivateKey
    impostor: rsa.RSAPrivateKey
    jwks_file: Path

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, *, signer: rsa.RSAPrivateKey | None = None, kid: str = KID,
              algorithm: str = "RS256", **claims: Any) -> str:  # fmt: skip
        return jwt.encode(
            self.claims(**claims),
            signer or self.key,
            algorithm=algorithm,
            headers={"kid": kid},
        )

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _segment(value: bytes | dict[str, Any]) -> str:
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, Any]) -> str:
    """`alg: none`: a token anyone can make."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{_segment(claims)}."


def hs256_with_public_key(claims: dict[str, Any], public_pem: bytes) -> str:
    """The classic confusion attack: HMAC-signed with the issuer's public key as the secret."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{_segment(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_segment(mac)}"


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid=KID, use="sig", alg="RS256")
    jwks_file = tmp_path_factory.mktemp("issuer") / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [public]}))
    return Issuer(key, impostor, jwks_file)


@pytest.fixture(scope="session")
def jwt_stack(
    local_stack_factory: Callable[..., StackProcess], tiny_model_dir: Path, issuer: Issuer
) -> StackProcess:
    """A local stack with `--auth jwt` for the test issuer and audience."""
    return local_stack_factory(
        model_dir=tiny_model_dir,
        no_warmer=True,
        auth="jwt",
        jwks=issuer.jwks_file,
        issuer=ISSUER,
        audience=AUDIENCE,
    )


@pytest.fixture(scope="session")
def iam_stack(
    local_stack_factory: Callable[..., StackProcess], tiny_model_dir: Path
) -> StackProcess:
    """A local stack with `--auth iam`; its credentials are in its first lines."""
    return local_stack_factory(model_dir=tiny_model_dir, no_warmer=True, auth="iam")


def printed_credentials(stack: StackProcess) -> dict[str, str]:
    """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION, as the stack printed."""
    return {match["name"]: match["value"] for match in CREDENTIAL_LINE.finditer(stack.log())}


def sign(
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    credentials: dict[str, str],
    *,
    region: str = REGION,
    at: datetime | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> dict[str, str]:
    """The headers botocore's SigV4 signer adds, optionally as if signed at time `at`."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = SigV4Auth(
        Credentials(credentials["AWS_ACCESS_KEY_ID"], credentials["AWS_SECRET_ACCESS_KEY"]),
        "execute-api",
        region,
    )
    if at is None:
        signer.add_auth(request)
    else:
        assert monkeypatch is not None
        with monkeypatch.context() as patched:
            patched.setattr(
                "botocore.auth.get_current_datetime",
                lambda: at.astimezone(UTC).replace(tzinfo=None),
            )
            signer.add_auth(request)
    return dict(request.headers.items())


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """An environment whose credential chain finds nothing but what a test sets, and never
    asks an instance metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "LUKEWARM_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield monkeypatch
