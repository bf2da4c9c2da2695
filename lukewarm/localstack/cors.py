"""API Gateway's CORS for an HTTP API, as the deployed stack configures it (infra/api.py,
with the methods, headers and max age from `contract`).

What API Gateway documents ("Configuring CORS for an HTTP API"): with a CORS configuration
it answers preflight `OPTIONS` requests itself, even without an OPTIONS route; it adds the
configured CORS headers to the integration's responses and ignores CORS headers the
integration returns; a request gets CORS headers only if it has an `Origin` header, and an
`OPTIONS` request is a preflight only with `Origin` and `Access-Control-Request-Method`.
What it does not document, and this emulation chooses: a preflight is answered 204 with no
body, and one from an origin that is not allowed gets no CORS headers (the browser then
blocks the request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from contract import CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_MAX_AGE_S


@dataclass(frozen=True)
class Cors:
    """The stack's `corsOrigins`: exact origins, or `*` alone for every origin."""

    origins: Sequence[str]
    allow_headers: Sequence[str] = CORS_ALLOW_HEADERS
    """What preflights allow: `contract.cors_allow_headers` of the stack's `lukewarm:auth`."""

    def allowed_origin(self, request: web.Request) -> str | None:
        """The `Access-Control-Allow-Origin` value for this request, None if it gets none."""
        origin = request.headers.get("Origin")
        if not origin or not self.origins:
            return None
        if "*" in self.origins:
            return "*"
        return origin if origin in self.origins else None

    def is_preflight(self, request: web.Request) -> bool:
        """Whether API Gateway answers this request itself instead of routing it."""
        return bool(
            self.origins
            and request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )

    def preflight(self, request: web.Request) -> web.Response:
        """API Gateway's own answer to a preflight."""
        response = web.Response(status=204)
        origin = self.allowed_origin(request)
        if origin is not None:
            response.headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": ",".join(CORS_ALLOW_METHODS),
                    "Access-Control-Allow-Headers": ",".join(self.allow_headers),
                    "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
                }
            )
        return response

    def apply(self, request: web.Request, response: web.Response) -> None:
        """The integration's answer as API Gateway passes it on: its own CORS headers
        dropped, the configured ones added for an allowed origin."""
        if not self.origins:
            return
        for name in [
            name for name in response.headers if name.lower().startswith("access-control-")
        ]:
            del response.headers[name]
        origin = self.allowed_origin(request)
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
