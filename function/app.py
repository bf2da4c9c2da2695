"""The Lambda handler: lukewarm's HTTP API and warm-up event around one loaded captioner.

Module scope is Lambda's init phase and runs once per instance: logging, metrics,
routes, thread count and the model. `handler` then serves API Gateway events
(payload format 2.0, and 1.0 from REST APIs) and the warmer's direct invokes.

`function/` is the image's task root: this module (routes, the error table, the handler),
`uploads.py` and `events.py` beside it, `contract/`, `captioner/`, the model and the page.
They may import `contract`, `captioner`, Powertools and python-multipart; never a tool.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the init clock starts before the imports: torch's is most of the init.
import time

INIT_STARTED = time.perf_counter()

import json
import os
import random
import re
import secrets
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import (
    APIGatewayHttpResolver,
    APIGatewayRestResolver,
    Response,
)
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from PIL import Image

from captioner import configure_threads, load_captioner
from captioner.images import ImageTooLarge, UnreadableImage, UnsupportedImage, decode_image
from contract import WARM_UP_KEY, is_warm_up, parse_warm_up
from events import HTTP_API_EVENT, REST_API_EVENT, shape_problem
from uploads import (
    BadRequest,
    PayloadTooLarge,
    RequestError,
    UnsupportedMediaType,
    read_image_bytes,
)

try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # AWS's Python base images ship it; without SnapStart no hook ever runs
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
        # Unregistered hooks would let every restored instance share the snapshot's id.
        raise RuntimeError(
            "SnapStart is on (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start) but"
            " snapshot_restore_py cannot be imported, so the after-restore hooks that give"
            " each restored instance its own id would never run: build the image on an AWS"
            " Python 3.12+ base image (see BASE_IMAGE in function/Dockerfile), or turn"
            " snapStart off"
        ) from None

    def register_before_snapshot(hook: Callable[[], None]) -> Callable[[], None]:
        return hook

    register_after_restore = register_before_snapshot

if TYPE_CHECKING:
    pass

FUNCTION_DIR = Path(__file__).resolve().parent
MODEL_DIR = Path(os.environ.get("LUKEWARM_MODEL_DIR") or FUNCTION_DIR / "model")
UPLOAD_PAGE = (FUNCTION_DIR / "static" / "index.html").read_text(encoding="utf-8")


def log_json(record: dict[str, Any]) -> str:
    """Powertools' JSON log line, with lone surrogates (from undecodable bytes in a request)
    escaped: written raw, they fail the UTF-8 write and the record is lost."""
    line = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    return line.encode("utf-8", "backslashreplace").decode("utf-8")


logger = Logger(service="lukewarm", json_serializer=log_json)
metrics = Metrics(namespace="lukewarm", service="lukewarm")
# Every series also names its function, so that two stacks in one account never share one
# (infra/telemetry.py: the dashboard and the alarms read these dimensions).
metrics.set_default_dimensions(function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lukewarm"))
# The page and health checks publish no metric of their own; that is not worth a warning.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)


class MethodNotAllowed(RequestError):
    def __init__(self, method: str, path: str, allowed: set[str]) -> None:
        super().__init__(f"{path} accepts {', '.join(sorted(allowed))}, not {method}")
        self.allowed = allowed


class RouteNotFound(RequestError):
    pass


class MalformedEvent(RequestError):
    """An event that claims to come from API Gateway but is not shaped like one (a direct
    invoke by hand): the caller gets the JSON error, never an exception."""


# The one place where refusals become HTTP statuses and error codes.
ERRORS: dict[type[Exception], tuple[HTTPStatus, str]] = {
    BadRequest: (HTTPStatus.BAD_REQUEST, "bad_request"),
    MalformedEvent: (HTTPStatus.BAD_REQUEST, "malformed_event"),
    UnreadableImage: (HTTPStatus.BAD_REQUEST, "unreadable_image"),
    PayloadTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large"),
    ImageTooLarge: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "image_too_large"),
    UnsupportedMediaType: (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    UnsupportedImage: (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_image"),
    RouteNotFound: (HTTPStatus.NOT_FOUND, "not_found"),
    MethodNotAllowed: (HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed"),
}


@dataclass
class Instance:
    """This execution environment: an id for the warmer to count, and whether the
    invocation being served is its first (the one that paid for the init), or the first
    after a SnapStart restore (which paid for a restore instead; `init_ms` is then the
    snapshot's init). This is the one definition of cold and restored (infra/telemetry.py
    states it; Lambda's REPORT line agrees: Init Duration, or Restore Duration)."""

    id: str
    init_ms: float
    initialised_at: float
    """Wall-clock time (epoch seconds) this instance was initialised or restored."""
    invocations: int = 0
    cold_start: bool = True
    restored: bool = False
    from_snapshot: bool = False

    def begin_invocation(self) -> None:
        # Provisioned concurrency inits ahead of traffic: nobody waits for it.
        provisioned = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"
        first = self.invocations == 0
        self.cold_start = first and not provisioned and not self.from_snapshot
        self.restored = first and self.from_snapshot
        self.invocations += 1

    def renew(self) -> None:
        """After a restore: this is a new instance that shares the snapshot's memory with
        every other one restored from it, so nothing unique may carry over."""
        self.id = new_instance_id()
        self.initialised_at = time.time()
        self.invocations = 0
        self.from_snapshot = True


def new_instance_id() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class CaptionOptions:
    beam: int = 3
    alternatives: int = 0


threads = configure_threads()
captioner = load_captioner(MODEL_DIR)  # the runtime LUKEWARM_RUNTIME names: onnx or torch
instance = Instance(
    id=new_instance_id(),
    init_ms=round((time.perf_counter() - INIT_STARTED) * 1000, 1),
    initialised_at=time.time(),
)
logger.info(
    "instance initialised",
    extra={
        "instance": instance.id,
        "init_ms": instance.init_ms,
        "threads": threads,
        "model": captioner.info,
    },
)


@register_before_snapshot
def prime() -> None:
    """Caption one blank image before the snapshot, so that restored instances start with
    the runtime's first-inference set-up already done (AWS's advice for SnapStart).

    An optimisation only, so it never raises: a hook that raises fails the version's
    publish, and terraform-provider-aws #49904 then leaves the stack stuck with re-applies
    that never publish again. A failure is logged, and the snapshot is taken unprimed.
    """
    try:
        size = captioner.config.preprocess.image_size
        captioner.caption(Image.new("RGB", (size, size)), beam=1)
    except Exception as error:  # whatever it was, the snapshot goes on without priming
        logger.warning(
            "priming before the snapshot failed; restored instances pay the first caption's"
            " set-up themselves",
            extra={"error": f"{type(error).__name__}: {error}"[:300]},
        )


@register_after_restore
def renew_instance() -> None:
    """Everything init made that must differ between instances: the id the warmer counts,
    the init timestamp, and Python's random state (a restore, unlike fork, reseeds nothing)."""
    snapshot_id = instance.id
    instance.renew()
    random.seed()
    logger.info(
        "instance restored",
        extra={
            "instance": instance.id,
            "snapshot": snapshot_id,
            "initialised_at": instance.initialised_at,
        },
    )


router = Router()
ROUTE_METHODS: dict[str, set[str]] = {}


def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a route and remember its methods, so other methods on it get a 405.

    A GET route answers HEAD too (monitors and browsers probe with it); `handler`
    drops the body of a HEAD answer.
    """
    methods = [method, "HEAD"] if method == "GET" else [method]
    ROUTE_METHODS.setdefault(path, set()).update(methods)
    return router.route(path, methods)


@route("GET", "/")
def upload_page() -> Response:
    return Response(HTTPStatus.OK.value, content_type="text/html; charset=utf-8", body=UPLOAD_PAGE)


@route("GET", "/health")
def health() -> dict[str, Any]:
    return {
        "status": "ok",
        "model": captioner.info,
        "cold_start": instance.cold_start,
        "restored": instance.restored,
    }


@route("POST", "/caption")
def caption() -> dict[str, Any]:
    started = time.perf_counter()
    event = router.current_event
    options = read_options(event.query_string_parameters or {})
    data = read_image_bytes(event)
    image = decode_image(data, min_size=captioner.config.preprocess.image_size)
    decoded = time.perf_counter()
    result = captioner.caption(image, beam=options.beam, alternatives=options.alternatives)
    timing_ms = {
        "decode_image": round((decoded - started) * 1000, 2),
        "preprocess": result.timing_ms["preprocess"],
        "encode": result.timing_ms["encode"],
        "decode_caption": result.timing_ms["decode"],
        "total": round((time.perf_counter() - started) * 1000, 2),
    }
    inference_ms = timing_ms["preprocess"] + timing_ms["encode"] + timing_ms["decode_caption"]
    metrics.add_metric("Captions", MetricUnit.Count, 1)
    metrics.add_metric("InferenceTime", MetricUnit.Milliseconds, inference_ms)
    logger.info(
        "captioned",
        extra={
            "timing_ms": timing_ms,
            "beam": options.beam,
            "alternatives": options.alternatives,
            "body_bytes": len(data),
            "image_size": list(image.size),
        },
    )
    return {
        "caption": result.caption,
        "alternatives": [{"caption": a.caption, "score": a.score} for a in result.alternatives],
        "model": captioner.info,
        "timing_ms": timing_ms,
        "cold_start": instance.cold_start,
        "restored": instance.restored,
        "instance": instance.id,
    }


def read_options(query: Mapping[str, str]) -> CaptionOptions:
    return CaptionOptions(
        # Without `beam`, the model's own width: 3 for Show-Attend-Tell, a Hub model's num_beams.
        beam=_int_parameter(query, "beam", captioner.default_beam, 1, 10),
        alternatives=_int_parameter(query, "alternatives", CaptionOptions.alternatives, 0, 5),
    )


def _int_parameter(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    # ASCII digits only: int() also reads full-width and other scripts' digits, which
    # no proxy, cache or log on the way reads as a number.
    if not re.fullmatch(r"-?[0-9]{1,9}", value) or not low <= int(value) <= high:
        raise BadRequest(
            f"query parameter {name} must be an integer from {low} to {high}, got {value!r}"
        )
    return int(value)


def _error(
    status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status.value,
        content_type="application/json",
        body=json.dumps({"error": {"code": code, "message": message}}),
        headers=headers,
    )


@router.exception_handler(list(ERRORS))
def refused(error: Exception) -> Response:
    status, code = ERRORS[type(error)]
    metrics.add_metric("ClientErrors", MetricUnit.Count, 1)
    logger.info("refused", extra={"status": status.value, "code": code, "reason": str(error)})
    allowed = getattr(error, "allowed", None)
    headers = {"Allow": ", ".join(sorted(allowed))} if allowed else None
    return _error(status, code, str(error), headers)


@router.exception_handler(NotFoundError)
def unknown_route(_: NotFoundError) -> Response:
    event = router.current_event
    allowed = ROUTE_METHODS.get(event.path)
    if allowed:
        return refused(MethodNotAllowed(event.http_method, event.path, allowed))
    return refused(RouteNotFound(f"no route {event.http_method} {event.path}"))


@router.exception_handler(Exception)
def server_fault(_: Exception) -> Response:
    request_id = router.lambda_context.aws_request_id
    logger.exception("request failed")
    metrics.add_metric("ServerErrors", MetricUnit.Count, 1)
    return _error(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "internal_error",
        f"lukewarm failed on this request; quote request id {request_id} when reporting it",
    )


http_api = APIGatewayHttpResolver()
http_api.include_router(router)
rest_api = APIGatewayRestResolver()
rest_api.include_router(router)


def warm_up(event: dict[str, Any]) -> dict[str, Any]:
    """Hold this instance for `hold_ms` so concurrent warm invokes land on distinct
    instances; the model is already loaded (init did it)."""
    try:
        hold_ms = parse_warm_up(event)
    except ValueError as error:
        logger.warning("invalid warm-up event", extra={"warm_event": _shown(event[WARM_UP_KEY])})
        return {"warm": False, "error": {"code": "bad_warm_event", "message": str(error)}}
    time.sleep(hold_ms / 1000)
    metrics.add_metric("WarmUps", MetricUnit.Count, 1)
    logger.info("warmed", extra={"hold_ms": hold_ms})
    return {
        "warm": True,
        "instance": instance.id,
        "cold_start": instance.cold_start,
        "restored": instance.restored,
        "init_ms": instance.init_ms,
    }


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda's entry point (`CMD ["app.handler"]`)."""
    instance.begin_invocation()
    logger.append_keys(
        cold_start=instance.cold_start, restored=instance.restored, instance=instance.id
    )
    # Counted here rather than by Powertools, whose cold start flag survives a restore.
    if instance.cold_start:
        metrics.add_metric("ColdStart", MetricUnit.Count, 1)
    if instance.restored:
        metrics.add_metric("Restores", MetricUnit.Count, 1)
    if not isinstance(event, dict):
        return _unknown_event()
    if is_warm_up(event):
        return warm_up(event)
    if event.get("version") == "2.0" and "requestContext" in event:
        return _serve(http_api, event, context, HTTP_API_EVENT)
    if "httpMethod" in event:
        return _serve(rest_api, event, context, REST_API_EVENT)
    return _unknown_event()


def _serve(
    api: APIGatewayHttpResolver | APIGatewayRestResolver,
    event: dict[str, Any],
    context: LambdaContext,
    shape: Mapping[str, Callable[[Any], bool]],
) -> dict[str, Any]:
    """Resolve an API Gateway event, or answer a malformed one with the JSON error."""
    problem = shape_problem(event, shape)
    if problem is not None:
        return _malformed_event(api, f"{problem} has the wrong type or is missing")
    method = event["requestContext"]["http"]["method"] if api is http_api else event["httpMethod"]
    if method != method.upper():  # RFC 9110: `get` is not GET, which Powertools would serve
        path = event["rawPath"] if api is http_api else event["path"]
        allowed = ROUTE_METHODS.get(path)
        if allowed:
            return _refusal(api, MethodNotAllowed(method, path, allowed))
        return _refusal(api, RouteNotFound(f"no route {method} {path}"))
    try:
        response = api.resolve(event, context)
    except Exception as error:  # a shape no check foresaw; a route's own faults never get here
        logger.warning("unresolvable event", extra={"error": type(error).__name__})
        return _malformed_event(api, "the event is not a well-formed API Gateway event")
    if method == "HEAD":
        response["body"] = ""
        response["isBase64Encoded"] = False
    return response


def _malformed_event(
    api: APIGatewayHttpResolver | APIGatewayRestResolver, reason: str
) -> dict[str, Any]:
    return _refusal(api, MalformedEvent(f"{reason}; expected an API Gateway proxy event"))


def _refusal(
    api: APIGatewayHttpResolver | APIGatewayRestResolver, error: RequestError
) -> dict[str, Any]:
    """The refusal `refused` renders, as the proxy response the API's payload format wants,
    for an event refused before Powertools resolves it (so it cannot build the response)."""
    response = refused(error)
    headers = response.headers
    answer = {"statusCode": response.status_code, "body": response.body, "isBase64Encoded": False}
    if api is rest_api:
        return {**answer, "multiValueHeaders": {name: [value] for name, value in headers.items()}}
    return {**answer, "headers": headers}


def _shown(value: Any) -> str:
    """A client's value for a log line: bounded, whatever it holds."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= 200 else text[:200] + "..."


def _unknown_event() -> dict[str, Any]:
    logger.warning("unknown event shape")
    message = "expected an API Gateway proxy event or a lukewarm warm-up event"
    return {"error": {"code": "unknown_event", "message": message}}
