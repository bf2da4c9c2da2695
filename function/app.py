"""The Lambda handler: lukewarm's HTTP API and warm-up event around one loaded captioner.

Module scope is Lambda's init phase and runs once per instance: logging, metrics,
routes, thread count and the model. `handler` then serves API Gateway events
(payload format 2.0, and 1.0 from REST APIs) and the warmer's direct invokes.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the init clock starts before the imports: torch's is most of the init.
import time

INIT_STARTED = time.perf_counter()

import base64
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
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from PIL import Image
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from captioner import configure_threads, load_captioner
from captioner.images import ImageTooLarge, UnreadableImage, UnsupportedImage, decode_image

try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # hooks only run where snapshots are restored, and those runtimes ship it

    def register_before_snapshot(hook: Callable[[], None]) -> Callable[[], None]:
        return hook

    register_after_restore = register_before_snapshot

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_IMAGE_BYTES = 4_700_000
"""The largest image accepted: base64-encoded (6,266,668 bytes) it leaves 24 KB of Lambda's
6 MiB invoke payload for the rest of API Gateway's event (headers, request context)."""
MAX_BODY_BYTES = 6_291_456
"""Lambda's synchronous payload limit; larger bodies are refused before any parsing."""
MAX_FORM_PARTS = 16
"""Parts a multipart/form-data body may have (the upload page sends one): thousands of
tiny parts would otherwise hold the instance for seconds."""
MAX_PART_HEADERS = 8
"""Header lines a part may have (a browser sends two)."""
MAX_PART_HEADER_BYTES = 1024
"""Longest header line of a part (a long file name fits)."""
MAX_HOLD_MS = 10_000
"""Longest a warm-up invoke may hold its instance."""

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


class RequestError(Exception):
    """A request the API refuses; the message tells the client what to change."""


class BadRequest(RequestError):
    pass


class PayloadTooLarge(RequestError):
    pass


class UnsupportedMediaType(RequestError):
    pass


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
    the runtime's first-inference set-up already done (AWS's advice for SnapStart)."""
    size = captioner.config.preprocess.image_size
    captioner.caption(Image.new("RGB", (size, size)), beam=1)


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
        beam=_int_parameter(query, "beam", CaptionOptions.beam, 1, 10),
        alternatives=_int_parameter(query, "alternatives", CaptionOptions.alternatives, 0, 5),
    )


def _int_parameter(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"-?\d{1,9}", value) or not low <= int(value) <= high:
        raise BadRequest(
            f"query parameter {name} must be an integer from {low} to {high}, got {value!r}"
        )
    return int(value)


def read_image_bytes(event: BaseProxyEvent) -> bytes:
    """The uploaded image from a raw, multipart or JSON body."""
    content_type = event.headers.get("content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    body = _body_bytes(event)
    if media_type == "multipart/form-data":
        data = _image_from_multipart(body, content_type)
    elif media_type == "application/json":
        data = _image_from_json(body)
    elif media_type in ("", "application/octet-stream") or media_type.startswith("image/"):
        data = body
    else:
        raise UnsupportedMediaType(
            f"Content-Type {media_type} is not accepted; send the image as image/*, "
            "application/octet-stream, multipart/form-data (field 'image') or "
            'application/json ({"image": "<base64>"})'
        )
    if not data:
        raise BadRequest("the request carries no image")
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            f"the image is {len(data):,} bytes; at most {MAX_IMAGE_BYTES:,} bytes (4.48 MiB) "
            "are accepted, what fits Lambda's 6 MiB invoke payload"
        )
    return data


def _body_bytes(event: BaseProxyEvent) -> bytes:
    body = event.body or ""
    if len(body) > MAX_BODY_BYTES * (4 / 3 if event.is_base64_encoded else 1):
        raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES:,} bytes")
    if not event.is_base64_encoded:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError as error:  # binascii.Error, or non-ASCII characters
        raise BadRequest("the body is marked as base64 but is not valid base64") from error


class _Form:
    """The callbacks of a streaming multipart/form-data parse that keeps only the first
    part named `image`, refusing too many parts as soon as they appear."""

    def __init__(self) -> None:
        self.parts = 0
        self.ended = False
        self.image: list[bytes] | None = None
        self._header_field = b""
        self._disposition = b""
        self._chunks: list[bytes] | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_FORM_PARTS:
            raise BadRequest(
                f"the multipart/form-data body has over {MAX_FORM_PARTS} parts; "
                "send the image alone, in a file field named 'image'"
            )
        self._header_field = self._disposition = b""
        self._chunks = None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition += data[start:end]

    def header_end(self) -> None:
        self._header_field = b""

    def headers_finished(self) -> None:
        _, parameters = parse_options_header(self._disposition)
        if self.image is None and parameters.get(b"name") == b"image":
            self._chunks = []

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._chunks is not None:
            self._chunks.append(data[start:end])

    def part_end(self) -> None:
        if self._chunks is not None:
            self.image, self._chunks = self._chunks, None

    def end(self) -> None:
        self.ended = True


def _image_from_multipart(body: bytes, content_type: str) -> bytes:
    """The file field `image` of a multipart/form-data body (RFC 7578).

    python-multipart parses it as a stream: no recursion into nested parts, and the
    part count and header sizes are capped while parsing, so no body holds the
    instance for long.
    """
    _, parameters = parse_options_header(content_type.encode("utf-8", "surrogateescape"))
    boundary = parameters.get(b"boundary")
    if not boundary:
        raise BadRequest("a multipart/form-data Content-Type needs a boundary parameter")
    form = _Form()
    try:
        parser = MultipartParser(
            boundary,
            form.callbacks(),
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_BYTES,
        )
        parser.write(body)
    except FormParserError as error:
        raise BadRequest(
            f"the multipart/form-data body is malformed ({error}; check the boundary)"
        ) from error
    if not form.ended:
        raise BadRequest(
            "the multipart/form-data body does not end with its closing boundary "
            "(check the boundary)"
        )
    if form.image is None:
        raise BadRequest("the multipart/form-data body has no file field named 'image'")
    return b"".join(form.image)


def _image_from_json(body: bytes) -> bytes:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise BadRequest(f"the body is not valid JSON ({reason})") from error
    encoded = document.get("image") if isinstance(document, dict) else None
    if not isinstance(encoded, str):
        raise BadRequest('a JSON body must be an object {"image": "<base64>"}')
    # Tolerate a data URL (what a browser's FileReader produces) and line breaks.
    encoded = re.sub(r"^data:[\w.+/-]*;base64,", "", encoded.strip())
    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except ValueError as error:  # binascii.Error, or non-ASCII characters
        raise BadRequest('"image" is not valid base64') from error


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


def warm_up(request: Any) -> dict[str, Any]:
    """Hold this instance for `hold_ms` so concurrent warm invokes land on distinct
    instances; the model is already loaded (init did it)."""
    hold_ms = request.get("hold_ms", 0) if isinstance(request, dict) else None
    action = request.get("action") if isinstance(request, dict) else None
    valid_hold = isinstance(hold_ms, int) and not isinstance(hold_ms, bool)
    if action != "warm" or not valid_hold or not 0 <= hold_ms <= MAX_HOLD_MS:
        message = (
            'a warm-up event is {"lukewarm": {"action": "warm", "hold_ms": <int>}} '
            f"with hold_ms from 0 to {MAX_HOLD_MS}"
        )
        logger.warning("invalid warm-up event", extra={"warm_event": _shown(request)})
        return {"warm": False, "error": {"code": "bad_warm_event", "message": message}}
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


MISSING = object()
"""An event field that is absent (or under a level that is not an object)."""


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is MISSING or value is None or check(value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _str_list_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(isinstance(item, str) for item in v) for v in value.values()
    )


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# What the handler and Powertools read from each event, and the type each must have.
HTTP_API_EVENT: dict[str, Callable[[Any], bool]] = {
    "rawPath": _is_str,
    "requestContext.http.method": _is_str,
    "requestContext.stage": _optional(_is_str),
    "headers": _optional(_str_map),
    "queryStringParameters": _optional(_str_map),
    "cookies": _optional(_str_list),
    "body": _optional(_is_str),
    "isBase64Encoded": _optional(_is_bool),
}
REST_API_EVENT: dict[str, Callable[[Any], bool]] = {
    "path": _is_str,
    "httpMethod": _is_str,
    "requestContext": _optional(lambda value: isinstance(value, dict)),
    "requestContext.stage": _optional(_is_str),
    "headers": _optional(_str_map),
    "multiValueHeaders": _optional(_str_list_map),
    "queryStringParameters": _optional(_str_map),
    "multiValueQueryStringParameters": _optional(_str_list_map),
    "body": _optional(_is_str),
    "isBase64Encoded": _optional(_is_bool),
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
    if "lukewarm" in event:
        return warm_up(event["lukewarm"])
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
    problem = next((path for path, valid in shape.items() if not valid(_field(event, path))), None)
    if problem is not None:
        return _malformed_event(api, f"{problem} has the wrong type or is missing")
    try:
        response = api.resolve(event, context)
    except Exception as error:  # a shape no check foresaw; a route's own faults never get here
        logger.warning("unresolvable event", extra={"error": type(error).__name__})
        return _malformed_event(api, "the event is not a well-formed API Gateway event")
    method = event["requestContext"]["http"]["method"] if api is http_api else event["httpMethod"]
    if method == "HEAD":
        response["body"] = ""
        response["isBase64Encoded"] = False
    return response


def _field(event: Mapping[str, Any], path: str) -> Any:
    """`event["a"]["b"]` for "a.b"; `MISSING` where a level is absent or not an object."""
    value: Any = event
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def _malformed_event(
    api: APIGatewayHttpResolver | APIGatewayRestResolver, reason: str
) -> dict[str, Any]:
    error = MalformedEvent(f"{reason}; expected an API Gateway proxy event")
    status, code = ERRORS[MalformedEvent]
    metrics.add_metric("ClientErrors", MetricUnit.Count, 1)
    logger.info("refused", extra={"status": status.value, "code": code, "reason": str(error)})
    body = json.dumps({"error": {"code": code, "message": str(error)}})
    headers = {"Content-Type": "application/json"}
    if api is rest_api:
        return {
            "statusCode": status.value,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "body": body,
            "isBase64Encoded": False,
        }
    return {"statusCode": status.value, "headers": headers, "body": body, "isBase64Encoded": False}


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
