"""The handler with API Gateway events and real photos: every route, encoding and error."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

import contract
from captioner.images import decode_image
from tests.conftest import DEMO_MODEL_DIR, PHOTOS_DIR
from tests.function.handler_support import (
    LambdaContext,
    black_png,
    encode,
    http_event,
    import_app,
    invoke,
    multipart,
    published_metrics,
    published_units,
    rest_event,
    sample_event,
)
from toolkit.scenes import make_scene

# Pages and health checks publish no metric; Powertools warns about that (app.py silences
# it at import, but pytest resets warning filters for each test).
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def assert_caption(reply: Any, alternatives: int = 0) -> dict[str, Any]:
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    result = reply.json()
    assert isinstance(result["caption"], str)
    assert len(result["alternatives"]) <= alternatives
    for alternative in result["alternatives"]:
        assert isinstance(alternative["caption"], str)
        assert isinstance(alternative["score"], float)
    assert result["model"] == {"name": "tiny-random", "version": "0", "runtime": "onnx"}
    assert set(result["timing_ms"]) == {
        "decode_image",
        "preprocess",
        "encode",
        "decode_caption",
        "total",
    }
    assert result["timing_ms"]["total"] >= result["timing_ms"]["encode"] > 0
    assert isinstance(result["cold_start"], bool)
    assert len(result["instance"]) == 12
    return result


class Exactly(str):
    """An error message expected word for word (a plain string is a fragment of it)."""


def assert_error(reply: Any, status: int, code: str, *fragments: str) -> None:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    error = reply.json()["error"]
    assert error["code"] == code
    for fragment in fragments:
        if isinstance(fragment, Exactly):
            assert error["message"] == fragment
        else:
            assert fragment in error["message"]
    assert "Traceback" not in reply.body


FORMATS_AND_MODES = [
    "png",
    "jpeg",
    "jpeg-progressive",
    "gif",
    "gif-animated",
    "webp",
    "webp-animated",
    "bmp",
    "tiff",
    "grayscale",
    "rgba",
    "palette-transparent",
    "cmyk-jpeg",
    "png-16bit",
    "tiff-16bit",
    "bilevel",
    "exif-rotated",
]


@pytest.mark.parametrize("name", FORMATS_AND_MODES)
def test_every_accepted_format_and_mode_is_captioned(
    app: ModuleType, uploads: dict[str, bytes], name: str
) -> None:
    assert_caption(invoke(app, http_event(body=uploads[name], content_type="image/*")))


def body_encodings(photo: bytes, media_type: str) -> dict[str, dict[str, Any]]:
    """The same photo in every body encoding the API accepts, as HTTP API events."""
    boundary = "----lukewarmBoundary7MA4YWxkTrZu0gW"
    form = multipart({"note": "hello", "image": ("photo", photo, media_type)}, boundary)
    encoded = base64.b64encode(photo).decode()
    as_data_url = json.dumps({"image": f"data:{media_type};base64," + encoded})
    return {
        "base64 raw": http_event(body=photo, content_type=media_type),
        "octet-stream": http_event(body=photo, content_type="application/octet-stream"),
        "no content type": http_event(body=photo, content_type=None),
        "multipart": http_event(
            body=form, content_type=f"multipart/form-data; boundary={boundary}"
        ),
        "json": http_event(body=json.dumps({"image": encoded}), content_type="application/json"),
        "json data url": http_event(
            body=as_data_url, content_type="application/json; charset=utf-8"
        ),
        "json, line breaks": http_event(
            body=json.dumps({"image": base64.encodebytes(photo).decode()}),
            content_type="application/json; charset=utf-8; profile=upload",
        ),
    }


@pytest.fixture(scope="module")
def demo_app() -> ModuleType:
    """The handler with the committed demo model, whose captions say where shapes are."""
    if not (DEMO_MODEL_DIR / "weights.safetensors").is_file():
        pytest.skip("the demo model is not in function/model yet (make demo-model)")
    return import_app(DEMO_MODEL_DIR)


@pytest.mark.parametrize("index", [3, 6])
def test_every_body_encoding_delivers_the_same_pixels(demo_app: ModuleType, index: int) -> None:
    # These two held-out scenes ("two large orange triangles on the left", "two small white
    # triangles to the left of two large red circles") get another caption from the demo
    # model when mirrored, flipped or turned: only the very same pixels give the true one.
    scene = make_scene("evaluate", 2026, index)
    photo = encode(scene.image, "PNG")
    for name, event in body_encodings(photo, "image/png").items():
        reply = invoke(demo_app, event)
        assert reply.status == 200, (name, reply.body)
        assert reply.json()["caption"] == scene.caption, name


def test_beam_and_alternatives_are_the_ones_asked_for(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    photo = uploads["png"]  # a PNG decodes to the same pixels at any scale the handler asks
    image = decode_image(photo)

    def expected(beam: int, alternatives: int) -> tuple[str, list[tuple[str, float]]]:
        result = app.captioner.caption(image, beam=beam, alternatives=alternatives)
        return result.caption, [(a.caption, a.score) for a in result.alternatives]

    # On this photo the tiny model's best caption at beam 10 is not its best at beam 3,
    # and a beam of 10 has 5 alternatives: a lost or capped option shows in the answer.
    assert expected(10, 0)[0] != expected(3, 0)[0]
    assert len(expected(10, 5)[1]) == 5
    cases = {
        "defaults (beam 3, no alternatives)": ({}, 3, 0),
        "beam 1": ({"beam": "1"}, 1, 0),
        "beam 10": ({"beam": "10"}, 10, 0),
        "beam 10, no alternatives": ({"beam": "10", "alternatives": "0"}, 10, 0),
        "beam 10, two alternatives": ({"beam": "10", "alternatives": "2"}, 10, 2),
        "beam 10, five alternatives": ({"beam": "10", "alternatives": "5"}, 10, 5),
    }
    for name, (query, beam, alternatives) in cases.items():
        result = assert_caption(invoke(app, http_event(body=photo, query=query)), alternatives)
        answer = (result["caption"], [(a["caption"], a["score"]) for a in result["alternatives"]])
        assert answer == expected(beam, alternatives), name
        assert len(result["alternatives"]) == alternatives, name
    scores = [score for _, score in expected(10, 5)[1]]
    assert scores == sorted(scores, reverse=True)


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


NO_IMAGE = "the request carries no image"
JSON_SHAPE = 'a JSON body must be an object {"image": "<base64>"}'


def every_bad_request() -> dict[str, tuple[Any, ...]]:
    """Every way a request can be wrong: event, status, error code, words in the message."""
    photo = (PHOTOS_DIR / "motorcycle.jpg").read_bytes()
    png = (PHOTOS_DIR / "coffee.png").read_bytes()
    return {
        "empty body": (http_event(body=b""), 400, "bad_request", Exactly(NO_IMAGE)),
        "no body at all": (http_event(body=None), 400, "bad_request", Exactly(NO_IMAGE)),
        "not an image": (
            http_event(body=b"hello, world" * 10),
            400,
            "unreadable_image",
            Exactly("the data is not an image in any format lukewarm knows"),
        ),
        "truncated jpeg": (http_event(body=truncated(photo)), 400, "unreadable_image", "truncated"),
        "truncated png": (
            http_event(body=truncated(png)),
            400,
            "unreadable_image",
            "truncated",
        ),
        "header only": (http_event(body=photo[:40]), 400, "unreadable_image", "damaged"),
        "bad base64": (
            {**http_event(body=photo), "body": "aGVs*bG8="},  # "hello", were the * skipped
            400,
            "bad_request",
            Exactly("the body is marked as base64 but is not valid base64"),
        ),
        "body over 6 MiB": (
            http_event(body=photo + b"\0" * 6_300_000),
            413,
            "payload_too_large",
            Exactly("the request body is over 6,291,456 bytes"),
        ),
        "text body over 6 MiB": (
            http_event(body="x" * 6_300_000, content_type="application/json"),
            413,
            "payload_too_large",
            Exactly("the request body is over 6,291,456 bytes"),
        ),
        "text body of exactly 6 MiB": (  # the limit itself is allowed: not a 413
            http_event(body="x" * 6_291_456, content_type="application/json"),
            400,
            "bad_request",
            Exactly("the body is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        ),
        "beam zero": (
            http_event(body=photo, query={"beam": "0"}),
            400,
            "bad_request",
            Exactly("query parameter beam must be an integer from 1 to 10, got '0'"),
        ),
        "beam eleven": (http_event(body=photo, query={"beam": "11"}), 400, "bad_request", "beam"),
        "beam words": (
            http_event(body=photo, query={"beam": "three"}),
            400,
            "bad_request",
            Exactly("query parameter beam must be an integer from 1 to 10, got 'three'"),
        ),
        "alternatives six": (
            http_event(body=photo, query={"alternatives": "6"}),
            400,
            "bad_request",
            Exactly("query parameter alternatives must be an integer from 0 to 5, got '6'"),
        ),
        "alternatives negative": (
            http_event(body=photo, query={"alternatives": "-1"}),
            400,
            "bad_request",
            "alternatives",
        ),
        "json syntax": (
            http_event(body='{"image": ', content_type="application/json"),
            400,
            "bad_request",
            Exactly("the body is not valid JSON (Expecting value: line 1 column 11 (char 10))"),
        ),
        "json nested too deeply": (
            http_event(body="[" * 100_000, content_type="application/json"),
            400,
            "bad_request",
            Exactly("the body is not valid JSON (nested too deeply)"),
        ),
        "json array": (
            http_event(body='["abc"]', content_type="application/json"),
            400,
            "bad_request",
            Exactly(JSON_SHAPE),
        ),
        "json without image": (
            http_event(body='{"picture": "abc"}', content_type="application/json"),
            400,
            "bad_request",
            Exactly(JSON_SHAPE),
        ),
        "json bad base64": (
            http_event(body='{"image": "aGVs*bG8="}', content_type="application/json"),
            400,
            "bad_request",
            Exactly('"image" is not valid base64'),
        ),
        "multipart without image field": (
            http_event(
                body=multipart({"photo": ("a.jpg", photo, "image/jpeg")}, "b0undary"),
                content_type="multipart/form-data; boundary=b0undary",
            ),
            400,
            "bad_request",
            Exactly("the multipart/form-data body has no file field named 'image'"),
        ),
        "multipart without boundary": (
            http_event(body=b"--x\r\n\r\n--x--\r\n", content_type="multipart/form-data"),
            400,
            "bad_request",
            Exactly("a multipart/form-data Content-Type needs a boundary parameter"),
        ),
        "multipart without its closing boundary": (
            http_event(
                body=multipart({"image": ("a.jpg", photo, "image/jpeg")}, "b0undary")[:-14],
                content_type="multipart/form-data; boundary=b0undary",
            ),
            400,
            "bad_request",
            Exactly(
                "the multipart/form-data body does not end with its closing boundary "
                "(check the boundary)"
            ),
        ),
        "multipart of 17 parts": (
            http_event(
                body=multipart({f"note{i}": "hello" for i in range(17)}, "b0undary"),
                content_type="multipart/form-data; boundary=b0undary",
            ),
            400,
            "bad_request",
            Exactly(
                "the multipart/form-data body has over 16 parts; "
                "send the image alone, in a file field named 'image'"
            ),
        ),
        "multipart with no boundary in the body": (
            http_event(body=b"hello there", content_type="multipart/form-data; boundary=xyz"),
            400,
            "bad_request",
            # python-multipart's words inside ours: the body is read from its first byte.
            Exactly(
                "the multipart/form-data body is malformed (Expected boundary character 45, "
                "got 104 at index 2; check the boundary)"
            ),
        ),
        "multipart with wrong boundary": (
            http_event(
                body=multipart({"image": ("a.jpg", photo, "image/jpeg")}, "b0undary"),
                content_type="multipart/form-data; boundary=other",
            ),
            400,
            "bad_request",
            "the multipart/form-data body is malformed (",
            "; check the boundary)",
        ),
        "decompression bomb": (
            http_event(body=black_png(20_000, 20_000)),
            413,
            "image_too_large",
            "pixels",
        ),
        "over the pixel limit": (
            http_event(body=black_png(8_000, 6_000)),
            413,
            "image_too_large",
            "8000x6000",
        ),
        "body over 4.5 MiB": (
            http_event(body=photo + b"\0" * 4_700_000),
            413,
            "payload_too_large",
            Exactly(
                f"the image is {len(photo) + 4_700_000:,} bytes; at most 4,700,000 bytes "
                "(4.48 MiB) are accepted, what fits Lambda's 6 MiB invoke payload"
            ),
        ),
        "text content type": (
            http_event(body=photo, content_type="text/plain; charset=utf-8; format=flowed"),
            415,
            "unsupported_media_type",
            Exactly(
                "Content-Type text/plain is not accepted; send the image as image/*, "
                "application/octet-stream, multipart/form-data (field 'image') or "
                'application/json ({"image": "<base64>"})'
            ),
        ),
        "form urlencoded (curl --data-binary default)": (
            http_event(body=photo, content_type="application/x-www-form-urlencoded"),
            415,
            "unsupported_media_type",
            "image/*",
        ),
        "ico format": (
            http_event(body=encode(Image.new("RGB", (32, 32)), "ICO")),
            415,
            "unsupported_image",
            "ICO",
        ),
        "unknown route": (
            http_event(method="GET", path="/nothing-here"),
            404,
            "not_found",
            Exactly("no route GET /nothing-here"),
        ),
        "get on caption": (
            http_event(method="GET"),
            405,
            "method_not_allowed",
            Exactly("/caption accepts POST, not GET"),
        ),
        "delete on page": (
            http_event(method="DELETE", path="/"),
            405,
            "method_not_allowed",
            Exactly("/ accepts GET, HEAD, not DELETE"),
        ),
    }


BAD_REQUESTS = every_bad_request()


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_requests_get_the_contract_status_and_a_clear_message(
    app: ModuleType, case: str
) -> None:
    event, status, code, *fragments = BAD_REQUESTS[case]
    assert_error(invoke(app, event), status, code, *fragments)


def test_an_image_of_exactly_the_size_limit_is_accepted(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    photo = uploads["jpeg"]
    padded = photo + b"\0" * (4_700_000 - len(photo))  # JPEG ignores what trails it
    assert_caption(invoke(app, http_event(body=padded)))


def test_method_not_allowed_says_which_methods_are(app: ModuleType) -> None:
    reply = invoke(app, http_event(method="PUT", path="/health"))
    assert_error(reply, 405, "method_not_allowed", Exactly("/health accepts GET, HEAD, not PUT"))
    assert reply.headers["Allow"] == "GET, HEAD"
    rest = app.handler(rest_event(method="PUT", path="/health"), LambdaContext())
    assert rest["statusCode"] == 405
    assert rest["multiValueHeaders"]["Allow"] == ["GET, HEAD"]


def test_the_instance_survives_every_bad_request(
    tiny_model_dir: Path, uploads: dict[str, bytes]
) -> None:
    app = import_app(tiny_model_dir)
    first = assert_caption(invoke(app, http_event(body=uploads["jpeg"])))
    for event, status, *_ in BAD_REQUESTS.values():
        assert invoke(app, event).status == status
    again = assert_caption(invoke(app, http_event(body=uploads["jpeg"])))
    assert again["instance"] == first["instance"]
    assert again["caption"] == first["caption"]
    assert again["cold_start"] is False


def test_a_server_fault_is_a_500_with_the_request_id_and_no_traceback(
    app: ModuleType, uploads: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("tensor shape mismatch in /var/task/captioner/model.py")

    context = LambdaContext()
    with monkeypatch.context() as patch:
        patch.setattr(app.captioner, "caption", broken)
        reply = invoke(app, http_event(body=uploads["jpeg"]), context)
    assert_error(reply, 500, "internal_error", context.aws_request_id)
    assert "mismatch" not in reply.body and "model.py" not in reply.body
    assert_caption(invoke(app, http_event(body=uploads["jpeg"])))


def test_the_upload_page_is_served_at_the_root(app: ModuleType) -> None:
    reply = invoke(app, http_event(method="GET", path="/", body=None))
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    for element in ('id="file"', 'id="caption"', 'id="alternatives"', 'id="error"', 'id="timing"'):
        assert element in reply.body
    assert "fetch(`caption?" in reply.body  # relative: works under any stage or prefix


def test_health_reports_the_model(app: ModuleType) -> None:
    reply = invoke(app, http_event(method="GET", path="/health", body=None))
    assert reply.status == 200
    body = reply.json()
    assert body["status"] == "ok"
    assert body["model"] == {"name": "tiny-random", "version": "0", "runtime": "onnx"}
    assert isinstance(body["cold_start"], bool)


def test_a_stage_prefix_in_the_path_is_ignored(app: ModuleType) -> None:
    event = http_event(method="GET", path="/prod/health", body=None)
    event["requestContext"]["stage"] = "prod"
    assert invoke(app, event).status == 200


def test_rest_api_payload_1_0_events_are_served_too(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    event = rest_event(body=uploads["png"], content_type="image/png", query={"alternatives": "1"})
    response = app.handler(event, LambdaContext())
    assert "multiValueHeaders" in response  # the 1.0 response shape REST APIs expect
    reply = invoke(app, event)
    assert_caption(reply, alternatives=1)
    assert_error(invoke(app, rest_event(method="GET", path="/missing")), 404, "not_found")
    assert_error(invoke(app, rest_event(body=b"junk" * 5)), 400, "unreadable_image")


def test_other_events_get_an_error_not_a_crash(app: ModuleType) -> None:
    for event in ({}, {"detail-type": "Scheduled Event"}, [1, 2], "ping"):
        assert app.handler(event, LambdaContext()) == {
            "error": {
                "code": "unknown_event",
                "message": "expected an API Gateway proxy event or a lukewarm warm-up event",
            }
        }


def test_warm_up_is_cold_on_a_new_instance_then_warm(tiny_model_dir: Path) -> None:
    app = import_app(tiny_model_dir)
    warm = sample_event("warm_up.json")
    started = time.perf_counter()
    first = app.handler(warm, LambdaContext())
    assert time.perf_counter() - started >= 0.05  # held for hold_ms
    # The warmer reads these fields (and docs/api.md shows them): all of them, no others.
    assert first == {
        "warm": True,
        "instance": app.instance.id,
        "cold_start": True,
        "restored": False,
        "init_ms": app.instance.init_ms,
    }
    assert first["init_ms"] > 0
    second = app.handler(warm, LambdaContext())
    assert second == {**first, "cold_start": False}
    health = invoke(app, http_event(method="GET", path="/health", body=None)).json()
    assert health["cold_start"] is False
    other = import_app(tiny_model_dir).handler(warm, LambdaContext())
    assert other["cold_start"] is True and other["instance"] != first["instance"]


def test_the_warm_up_answer_is_one_the_warmer_counts(tiny_model_dir: Path) -> None:
    # The warmer reads the answer with contract.parse_warm_answer and counts anything it
    # refuses as malformed, never as an instance reached.
    app = import_app(tiny_model_dir)
    answer = app.handler(sample_event("warm_up.json"), LambdaContext())

    assert contract.parse_warm_answer(answer) == contract.WarmAnswer(
        instance=answer["instance"], cold_start=True, restored=False
    )


def test_the_first_request_of_an_instance_is_cold(
    tiny_model_dir: Path, uploads: dict[str, bytes]
) -> None:
    app = import_app(tiny_model_dir)
    first = assert_caption(invoke(app, http_event(body=uploads["jpeg"])))
    second = assert_caption(invoke(app, http_event(body=uploads["jpeg"])))
    assert (first["cold_start"], second["cold_start"]) == (True, False)


def test_provisioned_concurrency_is_never_cold(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    app = import_app(tiny_model_dir)
    assert app.handler(sample_event("warm_up.json"), LambdaContext())["cold_start"] is False


@pytest.mark.parametrize(
    "request_",
    [
        {"action": "warm", "hold_ms": -1},
        {"action": "warm", "hold_ms": 10_001},
        {"action": "warm", "hold_ms": "50"},
        {"action": "warm", "hold_ms": True},
        {"action": "cool", "hold_ms": 0},
        "warm",
    ],
)
def test_invalid_warm_up_events_are_refused(app: ModuleType, request_: object) -> None:
    reply = app.handler({"lukewarm": request_}, LambdaContext())
    assert reply == {
        "warm": False,
        "error": {
            "code": "bad_warm_event",
            "message": 'a warm-up event is {"lukewarm": {"action": "warm", "hold_ms": <int>}} '
            "with hold_ms from 0 to 10000",
        },
    }


@pytest.mark.parametrize(
    ("request_", "held_s"),
    [({"action": "warm"}, 0.0), ({"action": "warm", "hold_ms": 0}, 0.0),
     ({"action": "warm", "hold_ms": 250}, 0.25), ({"action": "warm", "hold_ms": 10_000}, 10.0)],
)  # fmt: skip
def test_a_warm_up_holds_its_instance_for_hold_ms(
    app: ModuleType, monkeypatch: pytest.MonkeyPatch, request_: dict[str, Any], held_s: float
) -> None:
    held: list[float] = []
    monkeypatch.setattr(app.time, "sleep", held.append)

    reply = app.handler({"lukewarm": request_}, LambdaContext())

    assert reply["warm"] is True
    assert held == [held_s]


@contextlib.contextmanager
def logged(app: ModuleType) -> Iterator[list[dict[str, Any]]]:
    """The handler's structured log records while the block runs, as dicts."""
    stream = io.StringIO()
    log_handler = logging.StreamHandler(stream)
    log_handler.setFormatter(app.logger.registered_formatter)
    app.logger.addHandler(log_handler)
    records: list[dict[str, Any]] = []
    try:
        yield records
    finally:
        app.logger.removeHandler(log_handler)
        records += [json.loads(line) for line in stream.getvalue().splitlines()]


def test_refusals_and_odd_events_are_logged_with_what_was_wrong(
    app: ModuleType, uploads: dict[str, bytes]
) -> None:
    with logged(app) as records:
        invoke(app, http_event(body=uploads["jpeg"], query={"beam": "0"}))
        app.handler({"lukewarm": {"action": "cool"}}, LambdaContext())
        app.handler({"lukewarm": {"action": "warm"}}, LambdaContext())
        app.handler({"detail-type": "Scheduled Event"}, LambdaContext())

    shown = [
        (r["level"], r["message"], r.get("status"), r.get("code"), r.get("hold_ms"))
        for r in records
    ]
    assert shown == [
        ("INFO", "refused", 400, "bad_request", None),
        ("WARNING", "invalid warm-up event", None, None, None),
        ("INFO", "warmed", None, None, 0),
        ("WARNING", "unknown event shape", None, None, None),
    ]
    assert "beam must be an integer from 1 to 10" in records[0]["reason"]
    assert "'action': 'cool'" in str(records[1]["warm_event"])


def test_logs_and_metrics_carry_request_id_cold_start_and_timings(
    app: ModuleType, uploads: dict[str, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    log_handler = logging.StreamHandler(stream)
    log_handler.setFormatter(app.logger.registered_formatter)
    app.logger.addHandler(log_handler)
    try:
        context = LambdaContext()
        capsys.readouterr()
        assert_caption(invoke(app, http_event(body=uploads["jpeg"]), context))
    finally:
        app.logger.removeHandler(log_handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    captioned = next(r for r in records if r["message"] == "captioned")
    assert captioned["function_request_id"] == context.aws_request_id
    assert isinstance(captioned["cold_start"], bool)
    assert captioned["timing_ms"]["total"] > 0
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    metric_names = {
        metric["Name"]
        for blob in emf
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert {"Captions", "InferenceTime"} <= metric_names


def test_each_outcome_publishes_its_emf_metric(
    tiny_model_dir: Path,
    uploads: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = import_app(tiny_model_dir)
    capsys.readouterr()
    units: dict[str, str] = {}

    def metrics_of(event: dict[str, Any]) -> dict[str, float]:
        app.handler(event, LambdaContext())
        out = capsys.readouterr().out
        units.update(published_units(out))
        return published_metrics(out)

    assert metrics_of(sample_event("warm_up.json")) == {"ColdStart": 1, "WarmUps": 1}
    captioned = metrics_of(http_event(body=uploads["png"]))
    assert set(captioned) == {"Captions", "InferenceTime"}
    assert captioned["Captions"] == 1 and captioned["InferenceTime"] > 0
    assert metrics_of(http_event(body=b"not an image")) == {"ClientErrors": 1}
    assert metrics_of(http_event(method="GET", path="/nothing-here")) == {"ClientErrors": 1}
    assert metrics_of(http_event(method="GET", path="/health", body=None)) == {}
    with monkeypatch.context() as patch:
        patch.setattr(app.captioner, "caption", _broken)
        assert metrics_of(http_event(body=uploads["png"])) == {"ServerErrors": 1}
    # CloudWatch keeps a metric's unit: a dashboard or alarm on it reads these.
    assert units == {
        "ColdStart": "Count", "WarmUps": "Count", "Captions": "Count",
        "InferenceTime": "Milliseconds", "ClientErrors": "Count", "ServerErrors": "Count",
    }  # fmt: skip


def _broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("the model is not to be run here")


def test_a_warm_up_never_runs_the_model(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = import_app(tiny_model_dir)
    monkeypatch.setattr(app.captioner, "caption", _broken)
    monkeypatch.setattr(app.captioner, "caption_batch", _broken)

    cold = app.handler(sample_event("warm_up.json"), LambdaContext())
    warm = app.handler(sample_event("warm_up.json"), LambdaContext())

    assert (cold["warm"], cold["cold_start"]) == (True, True)
    assert (warm["warm"], warm["cold_start"]) == (True, False)


def test_the_thread_count_comes_from_lukewarm_threads(tiny_model_dir: Path) -> None:
    assert import_app(tiny_model_dir, threads="3").threads == 3


CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("quota", "threads"),
    [("50000 100000", 1), ("150000 100000", min(2, CPUS)), ("max 100000", CPUS)],
)
def test_without_lukewarm_threads_the_cgroup_cpu_quota_sets_the_thread_count(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, quota: str, threads: int
) -> None:
    # Lambda's cgroup allows fewer CPUs than the machine shows; more threads than that
    # only contend: 1.5 CPUs of quota are 2 threads, at most one per usable CPU.
    read_text = Path.read_text

    def cgroup(path: Path, *args: Any, **kwargs: Any) -> str:
        if str(path) == "/sys/fs/cgroup/cpu.max":
            return quota + "\n"
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", cgroup)
    assert import_app(tiny_model_dir, threads=None).threads == threads
