"""What API Gateway checks before a protected route may run the function: SigV4 or a JWT.

`lukewarm:auth` guards `POST /caption` and `$default` (every other request that would run
the function); the upload page and the health check stay public, as on the deployed API
(both read `contract.PUBLIC_ROUTES`). A refusal is API Gateway's own answer, never the
function's: with `iam` 403 `{"message":"Forbidden"}`, with `jwt` 401
`{"message":"Unauthorized"}` and a `www-authenticate` header saying what was wrong with the
token, as API Gateway's JWT authorizer sends it. Each refusal is logged with its reason,
never with the token or the signature.

SigV4 is verified by recomputing the signature with botocore's own signer over the request
as received (method, path, query, the signed headers, the hash of the body as received)
with this stack's secret key, and comparing the two in constant time. JWTs are verified
with PyJWT against the issuer's JSON Web Key Set read from a file: signature (RSA only,
as API Gateway's JWT authorizers), `kid`, `exp`, `nbf`, `iat`, `iss` and `aud` (or
`client_id` when the token has no `aud`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from contract import PUBLIC_ROUTES

log = logging.getLogger("lukewarm.serve")

UNAUTHORIZED = (401, "Unauthorized")
FORBIDDEN = (403, "Forbidden")
SERVICE = "execute-api"
MAX_SKEW = timedelta(minutes=5)
"""How far a SigV4 request's X-Amz-Date may be from the server's clock, either way, as AWS
allows; outside it AWS refuses the signature as expired or not yet current."""
SIGV4_TIME = "%Y%m%dT%H%M%SZ"
JWT_ALGORITHMS = ("RS256", "RS384", "RS512")
"""API Gateway's HTTP API JWT authorizers verify RSA signatures only."""
_SIGV4 = "AWS4-HMAC-SHA256"
_CREDENTIAL = re.compile(
    r"(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/(?P<service>[^/\s]+)/aws4_request"
)


class AuthSetupError(ValueError):
    """The authorizer cannot be built (an unreadable key set); the message says why."""


@dataclass(frozen=True)
class Refused(Exception):
    """A request the authorizer turns away; `reason` is logged, never sent."""

    status: int
    message: str
    reason: str
    www_authenticate: str | None = None


@dataclass(frozen=True)
class LocalCredentials:
    """The one IAM identity the local stack accepts; printed at start for callers to use."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def generate(cls) -> LocalCredentials:
        """A fresh random pair, shaped like AWS's (20 and 40 characters)."""
        alphabet = string.ascii_uppercase + string.digits
        key_id = "LKWM" + "".join(secrets.choice(alphabet) for _ in range(16))
        return cls(key_id, secrets.token_urlsafe(30))


class Authorizer:
    """Checks the protected routes' requests; subclasses say how (`check`)."""

    mode = "none"

    def refuse(self, request: web.Request, body: bytes) -> web.Response | None:
        """API Gateway's refusal for `request`, or None when it may reach the function."""
        if f"{request.method} {request.path}" in PUBLIC_ROUTES:
            return None
        try:
            self.check(request, body, datetime.now(UTC))
        except Refused as refused:
            log.warning(
                "refused %s %s (auth %s): %s",
                request.method,
                request.path,
                self.mode,
                refused.reason,
            )
            # Byte for byte what API Gateway sends: {"message":"Forbidden"}.
            response = web.json_response(
                {"message": refused.message},
                status=refused.status,
                dumps=lambda value: json.dumps(value, separators=(",", ":")),
            )
            if refused.www_authenticate is not None:
                response.headers["www-authenticate"] = refused.www_authenticate
            return response
        return None

    def check(self, request: web.Request, body: bytes, now: datetime) -> None:
        """Raise `Refused` unless the request is authorised."""
        raise NotImplementedError


# --- IAM: SigV4 ----------------------------------------------------------------------------


def _forbidden(reason: str) -> Refused:
    return Refused(*FORBIDDEN, reason=reason)


class _ReceivedSigV4(SigV4Auth):
    """botocore's signer, told which headers the caller signed instead of choosing them."""

    def __init__(self, credentials: Credentials, region: str, signed: HTTPHeaders) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed


class IamAuthorizer(Authorizer):
    """AWS_IAM authorization: a SigV4 signature by this stack's credentials, for its region."""

    mode = "iam"

    def __init__(self, credentials: LocalCredentials, region: str) -> None:
        self.credentials = credentials
        self.region = region

    def check(self, request: web.Request, body: bytes, now: datetime) -> None:
        fields = _authorization_fields(request.headers.get("Authorization"))
        scope = _CREDENTIAL.fullmatch(fields.get("Credential", ""))
        if scope is None:
            raise _forbidden("the Authorization header has no valid Credential scope")
        if scope["key"] != self.credentials.access_key_id:
            raise _forbidden(f"unknown access key id {scope['key'][:32]!r}")
        if (scope["region"], scope["service"]) != (self.region, SERVICE):
            raise _forbidden(
                f"signed for {scope['service'][:32]!r} in {scope['region'][:32]!r}; "
                f"this API is {SERVICE} in {self.region}"
            )
        signed_time = _request_time(request.headers.get("X-Amz-Date"), now)
        if signed_time.strftime("%Y%m%d") != scope["date"]:
            raise _forbidden("the credential scope's date is not the X-Amz-Date's")
        signed_names = [name for name in fields.get("SignedHeaders", "").split(";") if name]
        if "host" not in signed_names or "x-amz-date" not in signed_names:
            raise _forbidden("SignedHeaders must include host and x-amz-date")
        signed = HTTPHeaders()
        for name in signed_names:
            values = request.headers.getall(name, [])
            if not values:
                raise _forbidden(f"the signed header {name} is not in the request")
            for value in values:
                signed[name] = value
        if "X-Amz-Security-Token" in request.headers:
            raise _forbidden("a session token was sent; this stack's credentials have none")
        body_hash = hashlib.sha256(body).hexdigest()
        declared_hash = request.headers.get("X-Amz-Content-SHA256")
        if declared_hash is not None and declared_hash != body_hash:
            raise _forbidden("the body's SHA-256 is not the X-Amz-Content-SHA256 it was sent with")
        expected = self._signature(request, body, signed, signed_time)
        given = fields["Signature"].encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(expected.encode(), given):
            raise _forbidden(
                "the signature does not match the request as received (changed after "
                "signing, or signed with another secret key)"
            )

    def _signature(
        self, request: web.Request, body: bytes, signed: HTTPHeaders, signed_time: datetime
    ) -> str:
        """The signature botocore computes over the request as received, with our secret."""
        url = f"http://{request.host}{request.rel_url.raw_path}"
        if request.rel_url.raw_query_string:
            url += f"?{request.rel_url.raw_query_string}"
        received = AWSRequest(method=request.method, url=url, data=body)
        if "x-amz-content-sha256" in signed:
            received.headers["X-Amz-Content-SHA256"] = signed["x-amz-content-sha256"]
        received.context["timestamp"] = signed_time.strftime(SIGV4_TIME)
        signer = _ReceivedSigV4(
            Credentials(self.credentials.access_key_id, self.credentials.secret_access_key),
            self.region,
            signed,
        )
        canonical = signer.canonical_request(received)
        return str(signer.signature(signer.string_to_sign(received, canonical), received))


def _authorization_fields(header: str | None) -> dict[str, str]:
    """`Credential`, `SignedHeaders` and `Signature` from a SigV4 Authorization header."""
    if not header:
        raise _forbidden("no Authorization header: the route needs a SigV4 signature")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != _SIGV4:
        raise _forbidden(f"the Authorization header is not {_SIGV4}")
    fields = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if equals:
            fields[name] = value
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise _forbidden("the Authorization header lacks Credential, SignedHeaders or Signature")
    return fields


def _request_time(amz_date: str | None, now: datetime) -> datetime:
    """The X-Amz-Date, refused when missing, malformed, or more than 5 minutes from now."""
    if amz_date is None:
        raise _forbidden("no X-Amz-Date header")
    try:
        signed_time = datetime.strptime(amz_date, SIGV4_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise _forbidden("the X-Amz-Date is not yyyymmddThhmmssZ") from None
    if signed_time < now - MAX_SKEW:
        raise _forbidden(
            f"signature expired: signed at {amz_date}, more than 5 minutes before "
            f"{now.strftime(SIGV4_TIME)} (check the caller's clock)"
        )
    if signed_time > now + MAX_SKEW:
        raise _forbidden(
            f"signature not yet current: signed at {amz_date}, more than 5 minutes after "
            f"{now.strftime(SIGV4_TIME)} (check the caller's clock)"
        )
    return signed_time


# --- JWT -------------------------------------------------------------------------------------


def _unauthorized(reason: str, description: str | None = None) -> Refused:
    """401; API Gateway's JWT authorizer says what was wrong in `www-authenticate`."""
    challenge = "Bearer"
    if description is not None:
        challenge = f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return Refused(*UNAUTHORIZED, reason=reason, www_authenticate=challenge)


_JWT_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidIssuerError, "the token does not have a valid issuer"),
    (jwt.InvalidAudienceError, "the token does not have a valid audience"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.InvalidSignatureError, "the token's signature is invalid"),
    (jwt.InvalidAlgorithmError, "the token's signing algorithm is not supported"),
)
"""PyJWT's refusals, most specific first, worded as API Gateway's `error_description`."""


class JwtAuthorizer(Authorizer):
    """A JWT authorizer for one issuer and audience, with the issuer's public keys."""

    mode = "jwt"

    def __init__(self, keys: jwt.PyJWKSet, issuer: str, audience: str) -> None:
        self.keys = {key.key_id: key for key in keys.keys if key.key_id}
        self.issuer = issuer
        self.audience = audience

    @classmethod
    def from_file(cls, jwks_file: Path, issuer: str, audience: str) -> JwtAuthorizer:
        """Read the issuer's JSON Web Key Set (what its `jwks_uri` serves) from a file."""
        try:
            document = json.loads(jwks_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise AuthSetupError(f"cannot read {jwks_file}: {error.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise AuthSetupError(f"{jwks_file} is not JSON: {error}") from None
        try:
            keys = jwt.PyJWKSet.from_dict(document)
        except (jwt.PyJWKSetError, jwt.PyJWKError, AttributeError, TypeError) as error:
            raise AuthSetupError(
                f'{jwks_file} is not a JSON Web Key Set ({{"keys": [...]}}): {error}'
            ) from None
        usable = [key for key in keys.keys if key.key_type == "RSA" and key.key_id]
        if not usable:
            raise AuthSetupError(
                f"{jwks_file} has no RSA key with a kid; API Gateway verifies RSA signatures "
                "only, and finds the key by the token's kid"
            )
        return cls(keys, issuer, audience)

    def check(self, request: web.Request, body: bytes, now: datetime) -> None:
        header = request.headers.get("Authorization", "").strip()
        if not header:
            raise _unauthorized("no Authorization header: the route needs a bearer token")
        token = header[7:].strip() if header[:7].lower() == "bearer " else header
        try:
            token_header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise _unauthorized(
                "the Authorization header is not a JWT", "the token is malformed"
            ) from None
        algorithm = token_header.get("alg")
        if algorithm not in JWT_ALGORITHMS:
            raise _unauthorized(
                f"unsupported signing algorithm {str(algorithm)[:16]!r} "
                f"(allowed: {', '.join(JWT_ALGORITHMS)})",
                "the token's signing algorithm is not supported",
            )
        key = self.keys.get(str(token_header.get("kid")))
        if key is None:
            raise _unauthorized(
                "the token's kid names no key of the issuer's key set",
                "the token's kid does not match a signing key",
            )
        self._verify(token, key, algorithm)

    def _verify(self, token: str, key: jwt.PyJWK, algorithm: str) -> None:
        """Signature, exp, nbf, iat, iss, and aud or client_id, as API Gateway checks them."""
        try:
            # API Gateway checks `aud` when the token has one, else `client_id` (Cognito's
            # access tokens carry only client_id).
            unverified = jwt.decode(token, options={"verify_signature": False})
            has_audience = "aud" in unverified
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience if has_audience else None,
                options={"require": ["exp", "iss"], "verify_aud": has_audience},
            )
        except jwt.InvalidTokenError as error:
            for failure, description in _JWT_FAILURES:
                if isinstance(error, failure):
                    raise _unauthorized(f"{description} ({error})", description) from None
            raise _unauthorized(f"invalid token ({error})", "the token is invalid") from None
        if not has_audience and claims.get("client_id") != self.audience:
            raise _unauthorized(
                "the token has no aud, and its client_id is not the audience",
                "the token does not have a valid audience",
            )
