"""How the people's tools prove who they are to an API with `lukewarm:auth` iam or jwt.

`iam`: each request is signed with SigV4 for `execute-api` by botocore's signer, with the
credentials of the standard chain (environment, shared files and profiles, SSO, instance
and container roles) and the region of the URL, else `--region`, the stack's `aws:region`,
or the chain's own. `jwt`: each request carries `Authorization: Bearer TOKEN`, the token
from `--token` or `LUKEWARM_TOKEN`. A refusal becomes one line that says what failed and
what to do about it.

botocore is imported only when a request is signed: `lukewarm caption` without IAM stays
standard-library only.
"""

from __future__ import annotations

import argparse
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import settings as stack_settings
from lukewarm.checkout import ROOT

TOKEN_VARIABLE = "LUKEWARM_TOKEN"  # noqa: S105 (the name of the variable, not a token)
MODES = stack_settings.AUTH_MODES
SERVICE = "execute-api"
_EXECUTE_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")


class AuthError(Exception):
    """Auth cannot be set up as asked; `str()` is the one-line reason and its fix."""


@dataclass(frozen=True)
class BearerToken:
    """`jwt`: the token, sent as API Gateway's JWT authorizer reads it."""

    token: str
    mode = "jwt"

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class SigV4:
    """`iam`: SigV4 signatures for `execute-api` with the standard credential chain."""

    mode = "iam"

    def __init__(self, credentials: Any, region: str) -> None:
        self.credentials = credentials
        """botocore credentials; refreshable ones are frozen afresh for each request."""
        self.region = region

    @property
    def identity(self) -> str:
        """Which credentials sign, for messages: the access key id and where it came from."""
        from botocore.exceptions import BotoCoreError

        try:
            key_id = self.credentials.access_key  # a refreshable one may refresh, and fail
        except BotoCoreError:
            key_id = "?"
        source = getattr(self.credentials, "method", None)
        return f"access key {key_id}" + (f" (from {source})" if source else "")

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """`headers` plus X-Amz-Date, Authorization (and X-Amz-Security-Token), signed."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        try:
            # Refreshable credentials (SSO, assumed roles) may need renewing here.
            credentials = self.credentials.get_frozen_credentials()
        except BotoCoreError as error:
            raise AuthError(
                f"cannot sign: the AWS credentials could not be read ({error})"
            ) from None
        SigV4Auth(credentials, SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())


RequestAuth = BearerToken | SigV4


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags every tool that calls the API takes."""
    group = parser.add_argument_group("auth (when the stack sets lukewarm:auth)")
    group.add_argument(
        "--auth",
        choices=MODES,
        type=str.lower,
        help="how to call the API: none, iam (SigV4) or jwt (bearer token); default: the "
        "stack's with --stack, else jwt when a token is given, else none",
    )
    group.add_argument(
        "--token",
        metavar="JWT",
        help=f"bearer token for auth jwt (default: ${TOKEN_VARIABLE}, which keeps it out of "
        "the process list)",
    )
    group.add_argument(
        "--region",
        metavar="REGION",
        help="region to sign for with auth iam (default: the URL's, the stack's aws:region, "
        "or the credential chain's)",
    )
    group.add_argument(
        "--stack",
        metavar="NAME",
        help="read auth and aws:region from Pulumi.NAME.yaml",
    )


def from_args(args: argparse.Namespace, url: str) -> RequestAuth | None:
    """What the flags (and the environment) ask for; raises AuthError saying what is missing."""
    stack_auth, stack_region = _stack(args.stack) if args.stack else (None, None)
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    mode = args.auth or stack_auth or ("jwt" if token else "none")
    if mode == "none":
        return None
    if mode == "jwt":
        if not token:
            raise AuthError(
                f"auth jwt needs a token: pass --token JWT or set {TOKEN_VARIABLE} "
                "(an access or ID token from the stack's jwtIssuer, for its jwtAudience)"
            )
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token or any(character.isspace() for character in token):
            raise AuthError(
                "the token must be one word (a JWT is three base64url parts joined by dots); "
                f"check --token or {TOKEN_VARIABLE}"
            )
        return BearerToken(token)
    if args.token:
        raise AuthError("--token is for auth jwt; auth iam signs with your AWS credentials")
    return _sigv4(args.region or url_region(url) or stack_region)


def url_region(url: str) -> str | None:
    """The region in a default execute-api URL (`https://ID.execute-api.REGION.amazonaws.com`)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    match = _EXECUTE_API_HOST.fullmatch(host)
    return match["region"] if match else None


def _sigv4(region: str | None) -> SigV4:
    try:
        import botocore.session
        from botocore.exceptions import BotoCoreError
    except ImportError:  # pragma: no cover - botocore comes with the project's requirements
        raise AuthError("auth iam needs botocore (pip install botocore)") from None
    session = botocore.session.Session()
    try:
        credentials = session.get_credentials()
        region = region or session.get_config_variable("region")
    except BotoCoreError as error:
        raise AuthError(f"cannot read AWS credentials: {error}") from None
    if credentials is None:
        raise AuthError(
            "auth iam needs AWS credentials, and the standard chain found none: set "
            "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (make serve --auth "
            "iam prints its own)"
        )
    if not region:
        raise AuthError(
            "auth iam needs the region to sign for: pass --region, --stack NAME, or set "
            "AWS_DEFAULT_REGION (the local stack prints its own)"
        )
    return SigV4(credentials, region)


def _stack(name: str) -> tuple[str, str | None]:
    """A stack's `lukewarm:auth` and `aws:region`, from its stack file (in the current
    directory when it is a Pulumi project, as `pulumi` finds it, else the checkout)."""
    import yaml  # type: ignore[import-untyped]

    project_dir = Path.cwd() if (Path.cwd() / "Pulumi.yaml").is_file() else ROOT
    try:
        settings = stack_settings.stack_settings(name, project_dir=project_dir)
    except stack_settings.SettingsError as error:
        raise AuthError(str(error)) from None
    stack_file = project_dir / f"Pulumi.{name}.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    region = (document.get("config") or {}).get("aws:region")
    return settings.auth, region if isinstance(region, str) else None


def refusal_message(
    status: int, message: str, www_authenticate: str | None, auth: RequestAuth | None
) -> str | None:
    """What an API Gateway auth refusal means for this caller and how to fix it, or None
    when the answer is not one."""
    if (status, message) == (401, "Unauthorized"):
        if not isinstance(auth, BearerToken):
            return (
                "401 Unauthorized: the API wants a bearer token (its auth is jwt): pass "
                f"--token JWT or set {TOKEN_VARIABLE}"
            )
        described = re.search(r'error_description="([^"]*)"', www_authenticate or "")
        reason = described[1] if described else "the token was refused"
        return (
            f"401 Unauthorized: {reason}; get a new token from the stack's jwtIssuer for "
            "its jwtAudience"
        )
    if (status, message) == (403, "Forbidden"):
        if isinstance(auth, SigV4):
            return (
                f"403 Forbidden: the API refused the SigV4 signature of {auth.identity} for "
                f"{auth.region}: the caller needs execute-api:Invoke on this route (attach the "
                "stack's invoke_policy_arn output), the API's region, and a clock within 5 "
                "minutes of AWS's"
            )
        if auth is None:
            return (
                "403 Forbidden: the API wants SigV4-signed requests (its auth is iam): pass "
                "--auth iam, or --stack NAME"
            )
        return "403 Forbidden: the token is valid, but not for this route"
    return None
