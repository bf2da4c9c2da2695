"""Lambda's Invoke API for the local function, so boto3 can call it with `endpoint_url`.

`POST /2015-03-31/functions/{name}/invocations?Qualifier=live`, answered the way Lambda
answers: the handler's result as the body, `X-Amz-Function-Error` when it failed,
429 TooManyRequestsException when every instance is busy at the cap, 404
ResourceNotFoundException for any other function or qualifier.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .front import MAX_EVENT_BYTES
from .pool import Throttled

if TYPE_CHECKING:
    from .stack import LocalStack

PATH = "/2015-03-31/functions/{name}/invocations"
ALIAS = "live"
EXECUTED_VERSION = "1"


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


async def handle(stack: LocalStack, request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    name = request.match_info["name"]
    qualifier = request.query.get("Qualifier")
    label = f"{name}:{qualifier}" if qualifier else name
    invocation = None
    try:
        event, invocation_type = await read_invoke(stack, request, name, qualifier)
        request_id = str(uuid.uuid4())
        if invocation_type == "DryRun":
            response = web.Response(status=204)
        elif invocation_type == "Event":
            stack.run_in_background(background_invoke(stack, event, request_id, label))
            response = web.Response(status=202, headers={"X-Amzn-RequestId": request_id})
        else:
            try:
                invocation = await stack.pool.invoke(event, request_id)
            except Throttled as throttled:
                raise ServiceError(
                    429,
                    "TooManyRequestsException",
                    "Rate Exceeded.",
                    Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
                ) from throttled
            headers = {"X-Amz-Executed-Version": EXECUTED_VERSION, "X-Amzn-RequestId": request_id}
            if invocation.error is not None:
                headers["X-Amz-Function-Error"] = "Unhandled"
            payload = invocation.result if invocation.error is None else invocation.error
            response = web.json_response(payload, headers=headers)
    except ServiceError as error:
        response = error.response()
    stack.log_request("INVOKE", label, response.status, invocation, started)
    return response


async def read_invoke(
    stack: LocalStack, request: web.Request, name: str, qualifier: str | None
) -> tuple[Any, str]:
    """The event and invocation type of an Invoke call, or the ServiceError Lambda gives."""
    if not resolve(name, qualifier, stack.function_name):
        shown = f"{name}:{qualifier}" if qualifier else name
        raise ServiceError(
            404,
            "ResourceNotFoundException",
            f"Function not found: {shown} (the local stack serves {stack.function_name}:{ALIAS})",
        )
    invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        raise ServiceError(
            400, "InvalidParameterValueException", f"Invalid InvocationType {invocation_type}"
        )
    body = await request.read()
    if len(body) > MAX_EVENT_BYTES:
        raise ServiceError(413, "RequestTooLargeException", "Request must be smaller than 6 MB")
    try:
        return (json.loads(body) if body else {}), invocation_type
    except ValueError:
        raise ServiceError(
            400, "InvalidRequestContentException", "Could not parse request body into json"
        ) from None


async def background_invoke(stack: LocalStack, event: Any, request_id: str, label: str) -> None:
    """An `Event` invoke: run it after answering 202; throttled events are dropped."""
    started = time.perf_counter()
    try:
        invocation = await stack.pool.invoke(event, request_id)
    except Throttled:
        stack.log_request("EVENT", label, 429, None, started)
        return
    stack.log_request("EVENT", label, 500 if invocation.error else 200, invocation, started)
