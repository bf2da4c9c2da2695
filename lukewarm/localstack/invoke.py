"""Lambda's Invoke API for the local function, so boto3 can call it with `endpoint_url`.

`POST /2015-03-31/functions/{name}/invocations?Qualifier=live`, answered the way Lambda
answers: the handler's result as the body, `X-Amz-Function-Error` when it failed,
429 TooManyRequestsException when every instance is busy at the cap, 404
ResourceNotFoundException for any other function or qualifier.

Asynchronous (`Event`) invokes are queued as Lambda queues them: acknowledged with 202,
run when an instance is free, retried with jittered backoff while the pool is at its cap,
and dropped (with a log line) once older than Lambda's maximum event age, six hours of
stack time. Each waits as the bytes it came as, parsed only when an instance is free to
run it. Unlike Lambda's, the queue is bounded: when `MAX_QUEUED_EVENTS` or
`MAX_QUEUED_EVENT_BYTES` wait, a further event is refused with 429 rather than dropped
unseen. A function error is logged, not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from typing import Any

from aiohttp import web

from contract import ALIAS

from .access import log_request
from .environment import RESTORE_ERROR
from .pool import Invocation, Pool, Throttled
from .server import BodyCutShort, BodyTimedOut, BodyTooLarge, read_body

log = logging.getLogger("lukewarm.serve")

PATH = "/2015-03-31/functions/{name}/invocations"
EXECUTED_VERSION = "1"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invoke payload limit (6,291,456 bytes)."""
MAX_EVENT_PAYLOAD_BYTES = 1024 * 1024
"""Lambda's asynchronous (`Event`) invoke payload limit, 1 MB (API reference, Invoke)."""
MAX_EVENT_AGE_S = 6 * 3600.0
"""How long Lambda keeps an asynchronous event it could not yet run (its default)."""
MAX_QUEUED_EVENTS = 1000
"""Asynchronous events the local stack keeps waiting at most."""
MAX_QUEUED_EVENT_BYTES = 100 * 1024 * 1024
"""Payload bytes the local stack keeps waiting at most: 100 of Lambda's largest (1 MiB)
Event payloads, or all 1,000 events at up to 100 KiB each. A development stack should not
grow by more than that for work it cannot yet run; the count cap alone allowed 1,000 MiB."""
RETRY_DELAYS_S = (1.0, 300.0)
"""A throttled event is retried after 1 s, then twice as long each time, up to 5 min
(stack time), as Lambda backs off; each wait is drawn between half that and all of it."""


class ServiceError(Exception):
    """A request the Lambda service itself refuses, before or instead of running the function."""

    def __init__(self, status: int, error_type: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.extra = extra

    def response(self) -> web.Response:
        """The error in the shape botocore parses (`X-Amzn-ErrorType`, `message`)."""
        body = {"Type": "User", "message": str(self), **self.extra}
        return web.json_response(
            body, status=self.status, headers={"X-Amzn-ErrorType": self.error_type}
        )


def resolve(name: str, qualifier: str | None, function_name: str) -> bool:
    """Whether `name` (a name, `name:qualifier` or an ARN) and qualifier mean our alias."""
    if name.startswith("arn:"):
        parts = name.split(":")
        name = ":".join(parts[6:])
    if ":" in name:
        name, embedded = name.split(":", 1)
        if qualifier not in (None, embedded):
            return False
        qualifier = embedded
    return name == function_name and qualifier == ALIAS


class EventQueue:
    """Asynchronous invokes waiting for an instance, each retried until it runs or expires.

    An event waits as its raw payload (parsed, a 1 MiB list of empty objects holds about
    24 MiB of dicts), and is parsed only when an instance is free to take it.
    """

    def __init__(
        self,
        pool: Pool,
        time_scale: float = 1.0,
        *,
        max_events: int = MAX_QUEUED_EVENTS,
        max_bytes: int = MAX_QUEUED_EVENT_BYTES,
    ) -> None:
        self.pool = pool
        self.time_scale = time_scale
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self._waiting: set[asyncio.Task[None]] = set()

    def put(self, payload: bytes, request_id: str, label: str) -> str | None:
        """Queue `payload` (JSON already checked); the reason it is refused when full."""
        if len(self._waiting) >= self.max_events:
            return f"the local stack's event queue is full ({self.max_events} events wait)"
        if self.queued_bytes + len(payload) > self.max_bytes:
            return (
                f"the local stack's event queue is full "
                f"({self.queued_bytes:,} bytes of {self.max_bytes:,} wait)"
            )
        self.queued_bytes += len(payload)
        task = asyncio.create_task(self._deliver(payload, request_id, label))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        return None

    async def _deliver(self, payload: bytes, request_id: str, label: str) -> None:
        try:
            await self._retry_until_run(payload, request_id, label)
        finally:
            self.queued_bytes -= len(payload)

    async def _retry_until_run(self, payload: bytes, request_id: str, label: str) -> None:
        started = time.perf_counter()
        expires = time.monotonic() + MAX_EVENT_AGE_S / self.time_scale
        delay, longest = (value / self.time_scale for value in RETRY_DELAYS_S)
        while True:
            # Parsed only when an instance can take it: no await between the check and
            # the pool's own, so a throttle here is rare, and a parse is never wasted on one.
            if not self.pool.is_saturated():
                try:
                    invocation = await self.pool.invoke(json.loads(payload), request_id)
                except Throttled:
                    pass
                else:
                    status = 500 if invocation.error else 200
                    log_request("EVENT", label, status, invocation, started)
                    return
            # Jittered, so events throttled together do not all come back together.
            wait = random.uniform(delay / 2, delay)  # noqa: S311 (spreading retries, not secrets)
            if time.monotonic() + wait > expires:
                log.warning(
                    "EVENT %s %s dropped: older than the maximum event age", label, request_id
                )
                log_request("EVENT", label, 429, None, started)
                return
            await asyncio.sleep(wait)
            delay = min(delay * 2, longest)

    async def close(self) -> None:
        """Cancel every waiting event (the stack is stopping)."""
        for task in list(self._waiting):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._waiting, return_exceptions=True)


class LambdaApi:
    """Lambda's Invoke API for one function and its `live` alias, run on `pool`."""

    def __init__(self, pool: Pool, function_name: str, events: EventQueue) -> None:
        self.pool = pool
        self.function_name = function_name
        self.events = events

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        name = request.match_info["name"]
        qualifier = request.query.get("Qualifier")
        label = f"{name}:{qualifier}" if qualifier else name
        invocation = None
        try:
            body, event, invocation_type = await read_invoke(
                request, name, qualifier, self.function_name
            )
            request_id = str(uuid.uuid4())
            if invocation_type == "DryRun":
                response = web.Response(status=204)
            elif invocation_type == "Event":
                if refused := self.events.put(body, request_id, label):
                    raise ServiceError(429, "TooManyRequestsException", refused)
                response = web.Response(status=202, headers={"X-Amzn-RequestId": request_id})
            else:
                invocation = await self._invoke(event, request_id)
                if invocation.error and invocation.error.get("errorType") == RESTORE_ERROR:
                    # A failed after-restore hook is the service's error, not the function's.
                    raise ServiceError(400, RESTORE_ERROR, invocation.error["errorMessage"])
                headers = {
                    "X-Amz-Executed-Version": EXECUTED_VERSION,
                    "X-Amzn-RequestId": request_id,
                }
                if invocation.error is not None:
                    headers["X-Amz-Function-Error"] = "Unhandled"
                payload = invocation.result if invocation.error is None else invocation.error
                response = web.json_response(payload, headers=headers)
        except ServiceError as error:
            response = error.response()
        log_request("INVOKE", label, response.status, invocation, started)
        return response

    async def _invoke(self, event: Any, request_id: str) -> Invocation:
        try:
            return await self.pool.invoke(event, request_id)
        except Throttled as throttled:
            raise ServiceError(
                429,
                "TooManyRequestsException",
                "Rate Exceeded.",
                Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
            ) from throttled


async def read_invoke(
    request: web.Request, name: str, qualifier: str | None, function_name: str
) -> tuple[bytes, Any, str]:
    """The payload, its event and the invocation type of an Invoke call, or the
    ServiceError Lambda gives."""
    if not resolve(name, qualifier, function_name):
        shown = f"{name}:{qualifier}" if qualifier else name
        raise ServiceError(
            404,
            "ResourceNotFoundException",
            f"Function not found: {shown} (the local stack serves {function_name}:{ALIAS})",
        )
    invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        raise ServiceError(
            400, "InvalidParameterValueException", f"Invalid InvocationType {invocation_type}"
        )
    limit = MAX_EVENT_PAYLOAD_BYTES if invocation_type == "Event" else MAX_PAYLOAD_BYTES
    try:
        body = await read_body(request, limit)
    except BodyTooLarge:
        raise too_large(invocation_type, request.content_length) from None
    except BodyTimedOut:
        raise ServiceError(
            408, "RequestTimeoutException", "the request body stalled or took too long to arrive"
        ) from None
    except BodyCutShort:
        raise ServiceError(
            400, "InvalidRequestContentException", "the request body ended before it was complete"
        ) from None
    body = body or b"{}"  # boto3 sends no payload as an empty body; Lambda reads it as {}
    try:
        # Lambda's JSON has no NaN or Infinity (Python's json module would take them).
        event = json.loads(body, parse_constant=_refuse_constant)
        json.dumps(event)  # what the instance is sent; as deep as a parser allows, no deeper
    except (ValueError, RecursionError):
        raise ServiceError(
            400, "InvalidRequestContentException", "Could not parse request body into json"
        ) from None
    return body, event, invocation_type


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def too_large(invocation_type: str, size: int | None) -> ServiceError:
    """Lambda's refusal of a payload over the limit of its invocation type."""
    if invocation_type == "Event":
        shown = f"{size} byte payload" if size is not None else "Payload"
        return ServiceError(
            413,
            "RequestTooLargeException",
            f"{shown} is too large for the Event invocation type "
            f"(limit {MAX_EVENT_PAYLOAD_BYTES} bytes)",
        )
    return ServiceError(
        413,
        "RequestTooLargeException",
        f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the Invoke operation",
    )


def refusal(request: web.Request) -> web.Response | None:
    """Lambda's answer to a payload announced over its limit (for `Expect: 100-continue`)."""
    invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    limit = MAX_EVENT_PAYLOAD_BYTES if invocation_type == "Event" else MAX_PAYLOAD_BYTES
    size = request.content_length or 0
    return too_large(invocation_type, size).response() if size > limit else None
