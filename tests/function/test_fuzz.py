"""Property-based tests of the request path: whatever arrives, the handler answers.

Hypothesis generates events of every shape, headers, query strings, raw, multipart,
JSON and base64 bodies and damaged image bytes. The properties, for every one:

- the handler never raises (Lambda would report `Unhandled`);
- a client's fault is never a 5xx;
- an error is the JSON contract `{"error": {"code": str, "message": str}}`;
- an answer takes at most `CPU_BOUND_S` seconds of CPU (CPU, not wall time, so a busy
  machine cannot fail it; refusals take milliseconds, a caption of a small image with
  the tiny model about 20 ms).

Seeded (`derandomize`) and bounded, so the run is the same every time and adds about
20 s to the suite.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import time
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.function.handler_support import LambdaContext, http_event, multipart, rest_event

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
    # Pillow warns about the damage it skips over in TIFF tags: that is the point here.
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
]

CPU_BOUND_S = 1.0

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any text, lone surrogates included (what undecodable bytes become in an event).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)
content_types = st.sampled_from(
    [
        "image/png",
        "image/*",
        "application/octet-stream",
        "application/json",
        "multipart/form-data; boundary=b",
        "multipart/form-data",
        "text/plain",
        "",
    ]
) | any_text.map(lambda text: f"{text}/{text}")


def small_image(format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 40, 40)).save(buffer, format)
    return buffer.getvalue()


SAMPLES = [small_image(format) for format in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")]


def check(app: ModuleType, event: Any) -> dict[str, Any]:
    """Run the handler on `event` and assert the properties; returns its answer."""
    started = time.thread_time()
    response = app.handler(copy.deepcopy(event), LambdaContext())
    assert time.thread_time() - started < CPU_BOUND_S
    assert isinstance(response, dict)
    if "statusCode" not in response:  # a direct invoke's answer: warm-up or unknown event
        assert response.get("warm") is True or isinstance(response["error"]["code"], str)
        return response
    status = response["statusCode"]
    assert status < 500, response
    headers = response.get("headers") or {
        name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()
    }
    if status >= 400 and response["body"]:  # a HEAD answer has no body
        assert headers["Content-Type"] == "application/json"
        error = json.loads(response["body"])["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return response


FIELDS = [
    "version",
    "rawPath",
    "rawQueryString",
    "headers",
    "headers.content-type",
    "queryStringParameters",
    "queryStringParameters.beam",
    "cookies",
    "body",
    "isBase64Encoded",
    "requestContext",
    "requestContext.http",
    "requestContext.http.method",
    "requestContext.stage",
]


def replaced(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    *parents, last = path.split(".")
    target = event
    for key in parents:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[last] = value
    return event


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(FIELDS), json_values), min_size=1, max_size=4))
def test_events_of_any_shape(app: ModuleType, changes: list[tuple[str, Any]]) -> None:
    event = http_event(body=SAMPLES[0], content_type="image/png")
    for path, value in changes:
        event = replaced(event, path, value)
    check(app, event)


@FUZZ
@given(
    event=json_values
    | st.dictionaries(
        st.sampled_from(["version", "httpMethod", "lukewarm", "requestContext", "path"]),
        json_values,
    )
)
def test_direct_invokes_of_any_json(app: ModuleType, event: Any) -> None:
    check(app, event)


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]) | any_text,
    path=st.sampled_from(["/", "/health", "/caption", "/caption/", "//"]) | any_text,
    headers=st.dictionaries(any_text, any_text, max_size=4),
    query=st.dictionaries(
        st.sampled_from(["beam", "alternatives"]) | any_text, any_text, max_size=3
    ),
    content_type=content_types,
)
def test_methods_paths_headers_and_queries(
    app: ModuleType,
    method: str,
    path: str,
    headers: dict[str, str],
    query: dict[str, str],
    content_type: str,
) -> None:
    event = http_event(method=method, path=path, body=SAMPLES[1], content_type=content_type)
    event["headers"].update(headers)
    event["queryStringParameters"] = query
    check(app, event)
    rest = rest_event(method=method, path=path, body=SAMPLES[1], content_type=content_type)
    rest["headers"].update(headers)
    rest["queryStringParameters"] = query
    check(app, rest)


@FUZZ
@given(body=st.binary(max_size=2_000), content_type=content_types, as_text=st.booleans())
def test_raw_bodies(app: ModuleType, body: bytes, content_type: str, as_text: bool) -> None:
    event = http_event(body=body, content_type=content_type)
    if as_text:
        event["body"], event["isBase64Encoded"] = body.decode("utf-8", "surrogateescape"), False
    check(app, event)


@FUZZ
@given(body=any_text, marked=st.booleans(), content_type=content_types)
def test_text_and_base64_bodies(
    app: ModuleType, body: str, marked: bool, content_type: str
) -> None:
    event = http_event(body=b"", content_type=content_type)
    event["body"], event["isBase64Encoded"] = body, marked
    check(app, event)


parts = st.lists(
    st.tuples(
        st.sampled_from(["image", "note", ""]) | any_text,
        st.binary(max_size=200) | st.sampled_from(SAMPLES),
    ),
    max_size=6,
)


@FUZZ
@given(
    fields=parts,
    boundary=st.sampled_from(["b", "----WebKitFormBoundary7MA4YWxkTrZu0gW"]) | any_text,
    cut=st.none() | st.integers(min_value=0, max_value=5_000),
    noise=st.binary(max_size=40),
)
def test_multipart_bodies(
    app: ModuleType, fields: list[tuple[str, bytes]], boundary: str, cut: int | None, noise: bytes
) -> None:
    form = {
        name: (f"{index}.bin", data, "application/octet-stream")
        for index, (name, data) in enumerate(fields)
    }
    # The body's boundary without lone surrogates (which cannot be encoded); the header
    # keeps them, so some bodies do not match their header.
    body = multipart(form, boundary.encode("utf-8", "replace").decode())
    body = (body[:cut] if cut is not None else body) + noise
    check(app, http_event(body=body, content_type=f"multipart/form-data; boundary={boundary}"))


@FUZZ
@given(
    document=json_values
    | st.fixed_dictionaries({"image": any_text | json_values})
    | st.fixed_dictionaries(
        {"image": st.sampled_from(SAMPLES).map(lambda data: base64.b64encode(data).decode())}
    ),
    prefix=st.sampled_from(["", "data:image/png;base64,", "[", "{"]),
)
def test_json_bodies(app: ModuleType, document: Any, prefix: str) -> None:
    event = http_event(body=prefix + json.dumps(document), content_type="application/json")
    check(app, event)


@FUZZ
@given(
    sample=st.sampled_from(SAMPLES),
    damage=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    cut=st.none() | st.integers(min_value=0),
)
def test_damaged_image_bytes(
    app: ModuleType, sample: bytes, damage: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(sample)
    for position, value in damage:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % len(data)]
    check(app, http_event(body=bytes(data), content_type="image/*"))
