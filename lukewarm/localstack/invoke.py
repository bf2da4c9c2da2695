"""Lambda's Invoke API for the local function, so boto3 can call it with `endpoint_url`.

`POST /2015-03-31/functions/{name}/invocations?Qualifier=live`, answered the way Lambda
answers: the handler's result as the body, `X-Amz-Function-Error` when it failed,
429 TooManyRequestsException when every instance is busy at the cap, 404
ResourceNotFoundException for any other function or qualifier.

Asynchronous (`Event`) invokes are queued as Lambda queues them: acknowledged with 202,
run when an instance is free, retried with backoff while the pool is at its cap, and
dropped (with a log line) once older than Lambda's maximum event age, six hours of
stack time. Unlike Lambda's, the queue is bounded: when `MAX_QUEUED_EVENTS` wait, a
further event is refused with 429 rather than dropped unseen. A function error is
logged, not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from aiohttp import web

from contract import ALIAS

from .access import log_request
from .environment import RESTORE_ERROR
from .pool import Invocation, Pool, Throttled

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
RETRY_DELAYS_S = (1.0, 300.0)
"""A throttled event is retried after 1 s, then twice as long each time, up to 5 min
(stack time), as Lambda backs off."""


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
    """Asynchronous invokes waiting for an instance, each retried until it runs or expires."""

    def __init__(self, pool: Pool, time_scale: float = 1.0) -> None:
        self.pool = pool
        self.time_scale = time_scale
        self._waiting: set[asyncio.Task[None]] = set()

    def put(self, event: Any, request_id: str, label: str) -> bool:
        """Queue `event`; False when the queue is full."""
        if len(self._waiting) >= MAX_QUEUED_EVENTS:
            return False
        task = asyncio.create_task(self._deliver(event, request_id, label))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        return True

    async def _deliver(self, event: Any, request_id: str, label: str) -> None:
        started = time.perf_counter()
        expires = time.monotonic() + MAX_EVENT_AGE_S / self.time_scale
        delay, longest = (value / self.time_scale for value in RETRY_DELAYS_S)
        while True:
            try:
                invocation = await self.pool.invoke(event, request_id)
            except Throttled:
                if time.monotonic() + delay > expires:
                    log.warning(
                        "EVENT %s %s dropped: older than the maximum event age", label, request_id
                    )
                    log_request("EVENT", label, 429, None, started)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
                continue
            log_request("EVENT", label, 500 if invocation.error else 200, invocation, started)
            return

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
            event, invocation_type = await read_invoke(request, name, qualifier, self.function_name)
            request_id = str(uuid.uuid4())
            if invocation_type == "DryRun":
                response = web.Response(status=204)
            elif invocation_type == "Event":
                if not self.events.put(event, request_id, label):
                    raise ServiceError(
                        429,
                        "TooManyRequestsException",
                        f"the local stack's event queue is full ({MAX_QUEUED_EVENTS} events wait)",
                    )
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
) -> tuple[Any, str]:
    """The event and invocation type of an Invoke call, or the ServiceError Lambda gives."""
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
    body = await request.read()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ServiceError(
            413,
            "RequestTooLargeException",
            f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the Invoke operation",
        )
    if invocation_type == "Event" and len(body) > MAX_EVENT_PAYLOAD_BYTES:
        raise ServiceError(
            413,
            "RequestTooLargeException",
            f"{len(body)} byte payload is too large for the Event invocation type "
            f"(limit {MAX_EVENT_PAYLOAD_BYTES} bytes)",
        )
    try:
        event = json.loads(body) if body else {}
        json.dumps(event)  # what the instance is sent; as deep as a parser allows, no deeper
    except (ValueError, RecursionError):
        raise ServiceError(
            400, "InvalidRequestContentException", "Could not parse request body into json"
        ) from None
    return event, invocation_type
