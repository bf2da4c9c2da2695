"""What a red-team run against the handler broke, each case kept as a regression test.

Abusive bodies are refused with the JSON error in milliseconds of CPU, malformed events
by direct invoke get the JSON error answer instead of an exception, HEAD answers like
GET without a body, log records survive undecodable bytes, and the image limit is what
really fits Lambda's payload.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from types import ModuleType
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from tests.function.handler_support import (
    LambdaContext,
    encode,
    http_event,
    invoke,
    multipart,
    rest_event,
)
from tests.function.test_app import Exactly, assert_caption, assert_error
from uploads import MAX_BODY_BYTES, MAX_FORM_PARTS, MAX_IMAGE_BYTES

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CPU_BOUND_S = 1.0
"""CPU seconds any refusal below may take (they take 10-100 ms); CPU time, not wall
time, so other work on the machine cannot fail the test."""

BOUNDARY = "lukewarm0boundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.thread_time()
    result = call()
    return result, time.thread_time() - started


def tiny_fields(count: int) -> bytes:
    return b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode()
        for i in range(count)
    )


@pytest.mark.parametrize("count", [10_000, 80_000])
def test_a_form_of_thousands_of_tiny_parts_is_refused_in_milliseconds(
    app: ModuleType, uploads: dict[str, bytes], count: int
) -> None:
    # 80,000 parts then a valid image held an instance for 27 s in email.parser.
    body = tiny_fields(count) + multipart(
        {"image": ("a.jpg", uploads["jpeg"], "image/jpeg")}, BOUNDARY
    )
    reply, cpu_s = timed(lambda: invoke(app, http_event(body=body, content_type=FORM)))
    assert_error(reply, 400, "bad_request", f"over {MAX_FORM_PARTS} parts")
    assert cpu_s < CPU_BOUND_S


def test_a_form_with_a_few_extra_fields_is_still_captioned(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    fields: dict[str, Any] = {f"note{i}": "hello" for i in range(MAX_FORM_PARTS - 1)}
    fields["image"] = ("a.jpg", uploads["jpeg"], "image/jpeg")
    assert_caption(invoke(app, http_event(body=multipart(fields, BOUNDARY), content_type=FORM)))


def test_thousands_of_nested_multipart_parts_are_refused_in_milliseconds(app: ModuleType) -> None:
    # 3,000 nested multipart/mixed parts: RecursionError (a 500) after 1.4 s before.
    body = b"".join(
        f"--x{i}\r\nContent-Type: multipart/mixed; boundary=x{i + 1}\r\n\r\n".encode()
        for i in range(3_000)
    )
    event = http_event(body=body, content_type="multipart/form-data; boundary=x0")
    reply, cpu_s = timed(lambda: invoke(app, event))
    assert_error(reply, 400, "bad_request", "multipart/form-data")
    assert cpu_s < CPU_BOUND_S


# Plain ids: `ids=repr` made ids with backslashes, which pytest escapes once more when it
# collects a second time in one process, as mutmut's workers do: they then named no test.
@pytest.mark.parametrize(
    "filler",
    [f"\r\n--{BOUNDARY[:-1]}x".encode(), b"\r", b"\r\n-"],
    ids=["the boundary with its last byte changed", "CR", "CR LF dash"],
)
def test_a_4_mb_part_of_near_boundaries_is_scanned_in_milliseconds(
    app: ModuleType, filler: bytes
) -> None:
    data = filler * (4_000_000 // len(filler))
    body = multipart({"image": ("a.jpg", data, "image/jpeg")}, BOUNDARY)
    reply, cpu_s = timed(lambda: invoke(app, http_event(body=body, content_type=FORM)))
    assert_error(reply, 400, "unreadable_image")
    assert cpu_s < CPU_BOUND_S


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ('Content-Disposition: form-data; name="image"; filename="' + "a" * 5_000 + '"', "header"),
        ("\r\n".join(f"X-Header-{i}: 1" for i in range(50)), "header"),
        # Over the 1 KB a part's header line may have, under python-multipart's own 4 KB.
        ('Content-Disposition: form-data; name="image"; filename="' + "a" * 1_100 + '"', "header"),
        ("\r\n".join(f"X-Header-{i}: 1" for i in range(9)), "header"),
    ],
    ids=["one huge header", "many headers", "a header over 1 KB", "nine headers"],
)
def test_oversized_part_headers_are_refused(app: ModuleType, header: str, words: str) -> None:
    body = f"--{BOUNDARY}\r\n{header}\r\n\r\ndata\r\n--{BOUNDARY}--\r\n".encode()
    assert_error(invoke(app, http_event(body=body, content_type=FORM)), 400, "bad_request", words)


def test_a_form_without_its_closing_boundary_is_refused(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    body = multipart({"image": ("a.jpg", uploads["jpeg"], "image/jpeg")}, BOUNDARY)
    truncated = body[: -len(f"--{BOUNDARY}--\r\n")]
    assert_error(
        invoke(app, http_event(body=truncated, content_type=FORM)),
        400,
        "bad_request",
        "closing boundary",
    )


def test_a_form_content_type_without_boundary_is_refused(app: ModuleType) -> None:
    event = http_event(body=b"--x\r\n\r\n--x--\r\n", content_type="multipart/form-data")
    assert_error(invoke(app, event), 400, "bad_request", "boundary")


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (http_event(body='{"image": "é"}', content_type="application/json"), "base64"),
        ({**http_event(body=b"x"), "body": "not ascii: é"}, "base64"),
        (http_event(body="[" * 100_000, content_type="application/json"), "nested too deeply"),
        (http_event(body='{"image": "\\udcff"}', content_type="application/json"), "base64"),
    ],
    ids=["json non-ascii base64", "non-ascii body marked base64", "deep json", "json surrogate"],
)
def test_bodies_that_raised_are_400s(app: ModuleType, event: dict[str, Any], words: str) -> None:
    reply, cpu_s = timed(lambda: invoke(app, event))
    assert_error(reply, 400, "bad_request", words)
    assert cpu_s < CPU_BOUND_S


def with_(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `event` with the field at dotted `path` set to `value`."""
    copy = json.loads(json.dumps(event))
    *parents, last = path.split(".")
    target = copy
    for key in parents:
        target = target[key]
    target[last] = value
    return copy


MALFORMED = {
    "query value a number": ("queryStringParameters", {"beam": 3}),
    "body a number": ("body", 123),
    "empty request context": ("requestContext", {}),
    "null request context": ("requestContext", None),
    "method a list": ("requestContext.http.method", ["GET"]),
    "headers a list": ("headers", ["content-type"]),
    "header value a number": ("headers", {"content-type": 5}),
    "cookies a string": ("cookies", "a=1"),
    "raw path missing": ("rawPath", None),
    "isBase64Encoded a string": ("isBase64Encoded", "yes"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_http_api_event_gets_the_json_error_not_an_exception(
    app: ModuleType, uploads: dict[str, bytes], case: str
) -> None:
    path, value = MALFORMED[case]
    event = with_(http_event(body=uploads["png"]), path, value)
    reply = invoke(app, event)
    assert_error(reply, 400, "malformed_event", "API Gateway")


def test_an_http_api_event_with_cookies_is_served(app: ModuleType) -> None:
    """Browsers send cookies, which HTTP API passes as a list of strings: a well-formed
    field, not a malformed event."""
    event = with_(http_event(method="GET", path="/health", body=None), "cookies", ["a=1", "b=2"])
    assert invoke(app, event).status == 200


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            with_(http_event(body=b"x"), "body", 123),
            "body has the wrong type or is missing; expected an API Gateway proxy event",
        ),
        (
            with_(http_event(body=b"x"), "requestContext", {}),
            "requestContext.http.method has the wrong type or is missing; "
            "expected an API Gateway proxy event",
        ),
        (
            with_(rest_event(body=b"x"), "httpMethod", 7),
            "httpMethod has the wrong type or is missing; expected an API Gateway proxy event",
        ),
    ],
)
def test_a_malformed_event_is_told_which_field_is_wrong_word_for_word(
    app: ModuleType, event: dict[str, Any], message: str
) -> None:
    assert_error(invoke(app, event), 400, "malformed_event", Exactly(message))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("httpMethod", 7),
        ("multiValueHeaders", {"Content-Type": "image/png"}),
        ("multiValueQueryStringParameters", {"beam": [3]}),
        ("requestContext", "prod"),
    ],
)
def test_a_malformed_rest_api_event_gets_the_json_error_too(
    app: ModuleType, uploads: dict[str, bytes], path: str, value: Any
) -> None:
    response = app.handler(with_(rest_event(body=uploads["png"]), path, value), LambdaContext())
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "malformed_event"
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]


@pytest.mark.parametrize("path", ["/", "/health"])
def test_head_answers_like_get_without_a_body(app: ModuleType, path: str) -> None:
    get = invoke(app, http_event(method="GET", path=path, body=None))
    head = invoke(app, http_event(method="HEAD", path=path, body=None))
    assert (head.status, head.headers["Content-Type"]) == (200, get.headers["Content-Type"])
    assert get.body and head.body == ""


def test_head_on_the_caption_route_is_a_405_naming_post(app: ModuleType) -> None:
    reply = invoke(app, http_event(method="HEAD", path="/caption", body=None))
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


@pytest.fixture
def strict_log(app: ModuleType) -> Iterator[io.BytesIO]:
    """The function's log as Lambda's stdout takes it: UTF-8, strict, bytes."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    log_handler = logging.StreamHandler(stream)
    log_handler.setFormatter(app.logger.registered_formatter)
    app.logger.addHandler(log_handler)
    try:
        yield raw
    finally:
        app.logger.removeHandler(log_handler)


def log_records(raw: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw.getvalue().decode("utf-8").splitlines()]


@pytest.mark.parametrize(
    "content_type", ["text/\udcff", "text/plain; charset=\ud800"], ids=["undecodable", "surrogate"]
)
def test_a_refusal_with_undecodable_bytes_is_still_logged(
    app: ModuleType, strict_log: io.BytesIO, content_type: str
) -> None:
    assert_error(
        invoke(app, http_event(body=b"x", content_type=content_type)),
        415,
        "unsupported_media_type",
    )
    refused = [record for record in log_records(strict_log) if record["message"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["status"] == 415
    assert content_type.split(";", maxsplit=1)[0] in refused[0]["reason"]


def test_log_lines_keep_non_ascii_text_readable(app: ModuleType, strict_log: io.BytesIO) -> None:
    """Written as UTF-8, not as \\u escapes: the log console shows what the client sent."""
    reply = invoke(app, http_event(body=b"x", content_type="text/café"))
    assert_error(reply, 415, "unsupported_media_type")
    assert "text/café".encode() in strict_log.getvalue()


def test_a_log_value_json_cannot_write_is_written_as_text(
    app: ModuleType, strict_log: io.BytesIO
) -> None:
    """Not lost: the logging module drops a record whose line cannot be built."""
    app.logger.info("odd value", extra={"where": PurePosixPath("/opt/model")})
    odd = [r for r in log_records(strict_log) if r["message"] == "odd value"]
    assert [record["where"] for record in odd] == ["/opt/model"]


def test_a_warm_up_event_of_any_depth_is_refused_and_logged(
    app: ModuleType, strict_log: io.BytesIO
) -> None:
    deep: Any = "\udcff"
    for _ in range(50_000):
        deep = [deep]
    reply = app.handler({"lukewarm": deep}, LambdaContext())
    assert reply["warm"] is False
    warnings = [r for r in log_records(strict_log) if r["message"] == "invalid warm-up event"]
    assert [warning["warm_event"] for warning in warnings] == ["<list nested too deeply>"]


@pytest.mark.parametrize("length", [200, 201, 5_000])
def test_a_warm_up_event_is_logged_whole_up_to_200_characters(
    app: ModuleType, strict_log: io.BytesIO, length: int
) -> None:
    shown = repr("x" * (length - 2))  # the log shows the value's repr: quotes included
    reply = app.handler({"lukewarm": "x" * (length - 2)}, LambdaContext())
    assert reply["warm"] is False
    warnings = [r for r in log_records(strict_log) if r["message"] == "invalid warm-up event"]
    expected = shown if length <= 200 else shown[:200] + "..."
    assert [warning["warm_event"] for warning in warnings] == [expected]


def test_the_image_limit_is_what_fits_the_invoke_payload(app: ModuleType) -> None:
    # A raw image is base64 in the event; the event must stay within Lambda's 6 MiB.
    assert len(base64.b64encode(b"\0" * MAX_IMAGE_BYTES)) < MAX_BODY_BYTES - 16_000
    at_limit = b"\xff\xd8" + b"\0" * (MAX_IMAGE_BYTES - 2)
    assert_error(invoke(app, http_event(body=at_limit)), 400, "unreadable_image")
    over = at_limit + b"\0"
    reply = invoke(app, http_event(body=over))
    assert_error(reply, 413, "payload_too_large", "4,700,000 bytes (4.48 MiB)", "6 MiB")


def test_a_lone_surrogate_in_the_boundary_is_a_400_not_a_500(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    # A direct invoke can carry any string: "boundary=\ud800" raised UnicodeEncodeError.
    body = multipart({"image": ("a.jpg", uploads["jpeg"], "image/jpeg")}, BOUNDARY)
    event = http_event(body=body, content_type="multipart/form-data; boundary=\ud800")
    assert_error(
        invoke(app, event), 400, "bad_request", Exactly("the Content-Type header is not valid text")
    )


def test_a_lone_surrogate_in_a_text_body_is_a_400_not_a_500(app: ModuleType) -> None:
    """A direct invoke's JSON can carry any string: its bytes are kept as they came (json
    reads them back the same way), so the client hears what is wrong with its image."""
    event = http_event(body='{"image": "?"}', content_type="application/json")
    event["body"] = '{"image": "\ud800"}'
    assert_error(invoke(app, event), 400, "bad_request", Exactly('"image" is not valid base64'))


def test_an_undecodable_byte_in_the_boundary_is_that_byte(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    """A header's undecodable byte arrives as a surrogate escape (\\udcff for 0xff): the
    boundary is the bytes the client sent, and its form is read."""
    fields = {"image": ("a.jpg", uploads["jpeg"], "image/jpeg")}
    body = multipart(fields, "b0undary").replace(b"b0undary", b"b\xffundary")
    event = http_event(body=body, content_type="multipart/form-data; boundary=b\udcffundary")
    assert_caption(invoke(app, event))


@pytest.mark.parametrize("value", ["\uff13", "\u0663", "\U0001d7d1", "3\n", " 3", "+3"])
def test_beam_is_ascii_digits_only(app: ModuleType, uploads: dict[str, bytes], value: str) -> None:
    """A full-width, Arabic-Indic or mathematical 3 is refused: every proxy, cache and log
    on the way reads ASCII digits, so the function must not read another number."""
    event = http_event(body=uploads["jpeg"], query={"beam": value})
    assert_error(invoke(app, event), 400, "bad_request", "beam")


@pytest.mark.parametrize("method", ["get", "Get", "head"])
def test_methods_are_case_sensitive(app: ModuleType, method: str) -> None:
    """RFC 9110 makes the method case-sensitive: `get` is another method than GET, so it
    gets the 405 any other method on the route gets, naming the ones allowed."""
    message = Exactly(f"/health accepts GET, HEAD, not {method}")
    reply = invoke(app, http_event(method=method, path="/health", content_type=None))
    assert_error(reply, 405, "method_not_allowed", message)
    assert reply.headers["Allow"] == "GET, HEAD"
    rest = invoke(app, rest_event(method=method, path="/health"))
    assert_error(rest, 405, "method_not_allowed", message)
    assert rest.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("event", [http_event, rest_event], ids=["http api", "rest api"])
def test_a_lowercase_method_on_an_unknown_path_is_a_404_naming_both(
    app: ModuleType, event: Callable[..., dict[str, Any]]
) -> None:
    reply = invoke(app, event(method="get", path="/nowhere"))
    assert_error(reply, 404, "not_found", Exactly("no route get /nowhere"))


def test_an_event_powertools_cannot_resolve_is_a_malformed_event_and_logged(
    app: ModuleType, strict_log: io.BytesIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shape the event checks did not foresee, where Powertools raises: the caller gets
    the JSON error, the log names the exception."""

    def unresolvable(event: object, context: object) -> None:
        raise KeyError("requestContext")

    monkeypatch.setattr(app.http_api, "resolve", unresolvable)
    reply = invoke(app, http_event(method="GET", path="/health", content_type=None))
    assert_error(
        reply,
        400,
        "malformed_event",
        Exactly(
            "the event is not a well-formed API Gateway event; expected an API Gateway proxy event"
        ),
    )
    warnings = [r for r in log_records(strict_log) if r["level"] == "WARNING"]
    assert [(r["message"], r["error"]) for r in warnings] == [("unresolvable event", "KeyError")]


def test_a_part_with_two_content_disposition_lines_is_refused(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    """RFC 7578 gives a part one Content-Disposition; with two, the part's name was taken
    from their joined text, which another parser would read differently."""
    body = (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="note"\r\n'
            'Content-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + uploads["jpeg"]
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    reply = invoke(app, http_event(body=body, content_type=FORM))
    assert_error(
        reply,
        400,
        "bad_request",
        Exactly(
            "a part of the multipart/form-data body has more than one Content-Disposition header"
        ),
    )


def test_an_image_holding_the_boundarys_first_bytes_arrives_whole(app: ModuleType) -> None:
    """Data that begins like the boundary but is not it stays in the image, byte for byte
    (a PNG checks each chunk's CRC)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", f"\r\n--{BOUNDARY[:-1]}x " * 3)
    png = encode(Image.new("RGB", (64, 64), "red"), "PNG", pnginfo=info)
    body = multipart({"image": ("a.png", png, "image/png")}, BOUNDARY)
    assert_caption(invoke(app, http_event(body=body, content_type=FORM)))


@pytest.mark.parametrize(
    "preamble",
    [b"This is a multi-part message in MIME format.\r\n", b"\r\n", b"x" * 10_000 + b"\r\n"],
    ids=["a line of text", "an empty line", "10 KB"],
)
def test_a_multipart_preamble_is_accepted(
    app: ModuleType, uploads: dict[str, bytes], preamble: bytes
) -> None:
    """RFC 2046 lets a body open with a preamble before the first boundary (mail clients
    write one); the parser skips it."""
    body = preamble + multipart({"image": ("a.jpg", uploads["jpeg"], "image/jpeg")}, BOUNDARY)
    assert_caption(invoke(app, http_event(body=body, content_type=FORM)))


def test_a_boundary_only_in_the_preamble_is_not_a_part(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    # The boundary must start a line: "x--boundary" is preamble text, and the image part
    # with it, up to the closing boundary.
    image = multipart({"image": ("a.jpg", uploads["jpeg"], "image/jpeg")}, BOUNDARY)
    reply = invoke(app, http_event(body=b"x" + image, content_type=FORM))
    assert_error(reply, 400, "bad_request", "no file field named 'image'")
