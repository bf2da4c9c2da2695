"""The HTTP front: what API Gateway's HTTP API does for the deployed function.

Every request becomes a payload-format-2.0 event for the function, and the function's
answer becomes the HTTP response. As on the deployed API, the named routes and a
`$default` route all lead to the function, so an unknown path or method gets the
function's own JSON 404/405. What API Gateway answers itself (a throttled or failed
function, an oversized body) gets API Gateway's status and `{"message": ...}` body.

With `corsOrigins` configured, preflight requests are answered here as API Gateway
answers them, and the function's answers get the configured CORS headers (`cors`).

A body over HTTP API's 10 MiB is a 413 from API Gateway, before it is sent when the
client asks with `Expect: 100-continue`; one that stalls is a 408 (`server`). A smaller
one whose event is over Lambda's 6 MiB invoke payload is refused by Lambda, and API
Gateway answers a rejected invocation with its 500 "Internal Server Error" (AWS Lambda
developer guide, "Handling Lambda errors with an API Gateway API"); the function never
sees it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from contract import ROUTES

from .access import log_request
from .cors import Cors
from .invoke import MAX_PAYLOAD_BYTES
from .pool import Invocation, Pool, Throttled
from .server import BodyCutShort, BodyTimedOut, BodyTooLarge, read_body

if TYPE_CHECKING:
    # Only `serve --auth iam|jwt` pays for botocore's signer and PyJWT.
    from .auth import Authorizer

# The deployed API's named routes are contract.ROUTES; any other request has routeKey $default.
# HTTP API's payload limit; the function enforces its own, smaller image limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
TEXT_TYPES = (
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
)


# What API Gateway itself answers, status and message.
TOO_MANY_REQUESTS = (429, "Too Many Requests")
INTERNAL_ERROR = (500, "Internal Server Error")
TOO_LARGE = (413, "Request Entity Too Large")
TIMED_OUT = (408, "Request Timeout")
"""The local stack's answer to a body that stalls (API Gateway documents none)."""
CUT_SHORT = (400, "Bad Request")
"""Logged for a body the client abandoned; nobody is left to receive it."""


def gateway_error(status: int, message: str) -> web.Response:
    """An answer from API Gateway itself, not from the function."""
    return web.json_response({"message": message}, status=status)


def is_text(content_type: str) -> bool:
    """Whether HTTP API passes a body of this type as text rather than base64."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type in TEXT_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


def api_event(request: web.Request, body: bytes, request_id: str) -> dict[str, Any]:
    """The payload-format-2.0 event HTTP API sends the function for `request`."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        if key != "cookie":
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in request.query.items():
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    route_key = f"{request.method} {request.path}"
    if route_key not in ROUTES:
        route_key = "$default"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(":", 1)[0].split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                "sourceIp": request.remote or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    cookies = request.headers.getall("Cookie", [])
    if cookies:
        event["cookies"] = [part.strip() for line in cookies for part in line.split(";")]
    if query:
        event["queryStringParameters"] = query
    if body:
        if is_text(request.headers.get("Content-Type", "")):
            try:
                event["body"] = body.decode()
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def api_response(result: Any) -> web.Response:
    """The HTTP response HTTP API makes of the function's payload-format-2.0 answer."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Without a statusCode, HTTP API takes the whole answer as a JSON 200 body.
        if isinstance(result, str):
            return web.Response(text=result, content_type="application/json")
        return web.json_response(result)
    status = result["statusCode"]
    headers = result.get("headers") or {}
    body = result.get("body") or ""
    if not isinstance(status, int) or not isinstance(headers, dict) or not isinstance(body, str):
        raise ValueError("malformed Lambda proxy response")
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = web.Response(status=status, body=payload)
    for name, value in headers.items():
        response.headers[str(name)] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response


def new_request_id() -> str:
    """An API Gateway-style request id (and the function's, for a 1:1 trace)."""
    return f"{int(time.time() * 1000):x}-{uuid.uuid4().hex[:12]}"


def json_size(event: dict[str, Any]) -> int:
    return len(json.dumps(event))


class HttpApi:
    """API Gateway's HTTP API in front of the function's instance pool."""

    def __init__(
        self, pool: Pool, cors: Cors | None = None, authorizer: Authorizer | None = None
    ) -> None:
        self.pool = pool
        self.cors = cors or Cors(())
        self.authorizer = authorizer
        """With `lukewarm:auth` iam or jwt, what the protected routes check first (after
        preflights, which API Gateway answers itself without any auth)."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Every request that is not for the invoke endpoint: route it as HTTP API would."""
        started = time.perf_counter()
        request_id = new_request_id()
        invocation = None
        if self.cors.is_preflight(request):
            response = self.cors.preflight(request)
        else:
            response, invocation = await self._integrate(request, request_id)
        response.headers["Apigw-Requestid"] = request_id
        log_request(
            request.method,
            request.path,
            response.status,
            invocation,
            started,
            reason=response.get(REASON),
        )
        return response

    async def _integrate(
        self, request: web.Request, request_id: str
    ) -> tuple[web.Response, Invocation | None]:
        """The function's answer to `request`, or API Gateway's own refusal."""
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return refused(TOO_LARGE, f"body over HTTP API's {MAX_BODY_BYTES:,}-byte limit"), None
        except (BodyTimedOut, BodyCutShort) as error:
            response = gateway_error(*(TIMED_OUT if isinstance(error, BodyTimedOut) else CUT_SHORT))
            response.force_close()  # the rest of the body is never read
            return response, None
        if self.authorizer is not None and (refusal := self.authorizer.refuse(request, body)):
            return refusal, None
        event = api_event(request, body, request_id)
        size = json_size(event)
        if size > MAX_PAYLOAD_BYTES:
            # What the client sees is API Gateway's bare 500; the log says why.
            reason = (
                f"Lambda refused the invocation: its event is {size:,} bytes, over the "
                f"{MAX_PAYLOAD_BYTES:,}-byte invoke payload limit"
            )
            return refused(INTERNAL_ERROR, reason), None
        try:
            invocation = await self.pool.invoke(event, request_id)
        except Throttled:
            return gateway_error(*TOO_MANY_REQUESTS), None
        response = function_response(invocation)
        self.cors.apply(request, response)
        return response, invocation

    def refusal(self, request: web.Request) -> web.Response | None:
        """API Gateway's answer to a body announced over its limit (for `Expect`)."""
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return gateway_error(*TOO_LARGE)
        return None


REASON = "lukewarm.reason"
"""Where a refusal keeps, for the access log only, why it was refused."""


def refused(error: tuple[int, str], reason: str) -> web.Response:
    """API Gateway's own answer, with the reason the access log gives for it."""
    response = gateway_error(*error)
    response[REASON] = reason
    return response


def function_response(invocation: Invocation) -> web.Response:
    """The function's answer; a function error is API Gateway's bare 500, never its details."""
    if invocation.error is None:
        with contextlib.suppress(ValueError, TypeError):
            return api_response(invocation.result)
    return gateway_error(*INTERNAL_ERROR)
