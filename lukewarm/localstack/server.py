"""The local stack's HTTP server hygiene: slow clients timed out, bodies over a limit
refused before they are sent, and requests the HTTP server itself refuses logged as one
access line instead of a traceback.

The timeouts are this stack's own choice (API Gateway does not document its own):
- headers: a connection has `HEADER_TIMEOUT_S` from its start (or from its previous
  answer, kept alive) to send a complete request line and headers, else it is closed.
  A request's headers are a few hundred bytes (aiohttp refuses lines over 8 KiB): any
  client sends them in well under a second, so 10 s only cuts off clients that stall;
- bodies: a body must keep arriving (no gap over `BODY_IDLE_TIMEOUT_S`) and be complete
  within `BODY_TIMEOUT_S`, else 408. 60 s carries the largest accepted image (4.7 MB)
  at 0.63 Mbit/s and HTTP API's 10 MiB at 1.4 Mbit/s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from .access import access_logged, log_request

HEADER_TIMEOUT_S = 10.0
BODY_IDLE_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0

_refusal: ContextVar[str | None] = ContextVar("lukewarm_refusal", default=None)
"""Why the HTTP server refused the request, when it did."""


class BodyTooLarge(Exception):
    """The body is over the caller's limit (said by Content-Length, or by what arrived)."""


class BodyTimedOut(Exception):
    """The body stalled, or took longer than `BODY_TIMEOUT_S` to arrive."""


class BodyCutShort(Exception):
    """The client closed the connection before its body was complete."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, within `limit` bytes and the body timeouts."""
    if (request.content_length or 0) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + BODY_TIMEOUT_S
    while True:
        wait = min(BODY_IDLE_TIMEOUT_S, deadline - time.monotonic())
        try:
            chunk = await asyncio.wait_for(request.content.readany(), max(wait, 0.0))
        except TimeoutError:
            raise BodyTimedOut from None
        except ConnectionError:
            raise BodyCutShort from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)


def expect_handler(
    refusal: Callable[[web.Request], web.Response | None],
) -> Callable[[web.Request], Awaitable[web.StreamResponse | None]]:
    """An `Expect: 100-continue` handler that answers `refusal(request)` instead of
    "100 Continue" when there is one (a Content-Length over the limit), so the client
    never sends a body that would be refused."""

    async def handle(request: web.Request) -> web.StreamResponse | None:
        started = time.perf_counter()
        response = refusal(request)
        if response is not None:
            response.force_close()  # the body it announced is never read
            log_request(request.method, request.path, response.status, None, started)
            return response
        expect = request.headers.get(hdrs.EXPECT, "")
        if request.version != HttpVersion11:
            return None
        if expect.lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer proper has not started
        return None

    return handle


class AccessLog(AbstractAccessLogger):
    """aiohttp's access-log hook: one line for each request no handler logged, those the
    HTTP server answered itself (malformed, over its header limits, or refused by aiohttp
    before a handler ran)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if access_logged():
            return
        malformed = request.method == "UNKNOWN"  # aiohttp's placeholder for no request
        reason = _refusal.get()
        self.logger.info(
            "%s %s %d - - %.0f ms%s",
            "-" if malformed else request.method,
            "-" if malformed else request.path,
            response.status,
            time * 1000,
            f" refused by the HTTP server: {reason}" if reason else "",
        )


class RefusalFilter(logging.Filter):
    """Drops aiohttp's traceback for a request it could not parse, keeping the reason for
    the access line: a malformed request is the client's error, not the server's."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            _refusal.set(" ".join(str(error.message).split())[:200])
            return False
        return True


_FILTER = RefusalFilter()


def install_refusal_filter() -> None:
    """Once per process: aiohttp's server logger keeps its filters across stacks."""
    server_log = logging.getLogger("aiohttp.server")
    if _FILTER not in server_log.filters:
        server_log.addFilter(_FILTER)
