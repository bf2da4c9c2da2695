"""Reading the uploaded image out of an API Gateway event: a raw body, a multipart/form-data
form (its file field `image`) or JSON `{"image": "<base64>"}`.

Each refusal is a `RequestError` subclass whose message tells the client what to change;
`app.ERRORS` maps them to HTTP statuses. Beside `app.py` in the image's task root; it may
import the standard library, Powertools' event types and python-multipart.
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from contract import MAX_IMAGE_BYTES

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_BODY_BYTES = 6_291_456
"""Lambda's synchronous payload limit; larger bodies are refused before any parsing."""
MAX_FORM_PARTS = 16
"""Parts a multipart/form-data body may have (the upload page sends one): thousands of
tiny parts would otherwise hold the instance for seconds."""
MAX_PART_HEADERS = 8
"""Header lines a part may have (a browser sends two)."""
MAX_PART_HEADER_BYTES = 1024
"""Longest header line of a part (a long file name fits)."""


class RequestError(Exception):
    """A request the API refuses; the message tells the client what to change."""


class BadRequest(RequestError):
    pass


class PayloadTooLarge(RequestError):
    pass


class UnsupportedMediaType(RequestError):
    pass


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
        self._start_part()

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
        self._start_part()

    def _start_part(self) -> None:
        """A part's headers are read afresh; its data is kept only if it is the image."""
        self._header_field = b""
        self._disposition = b""
        self._dispositions = 0
        self._chunks: list[bytes] | None = None

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition += data[start:end]

    def header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._dispositions += 1
            if self._dispositions > 1:  # RFC 7578: one; joined, they name a part ambiguously
                raise BadRequest(
                    "a part of the multipart/form-data body has more than one "
                    "Content-Disposition header"
                )
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
    """The file field `image` of a multipart/form-data body (RFC 7578), after any preamble.

    python-multipart parses it as a stream: no recursion into nested parts, and the
    part count and header sizes are capped while parsing, so no body holds the
    instance for long.
    """
    try:
        header = content_type.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as error:  # a lone surrogate, which only a direct invoke sends
        raise BadRequest("the Content-Type header is not valid text") from error
    _, parameters = parse_options_header(header)
    boundary = parameters.get(b"boundary")
    if not boundary:
        raise BadRequest("a multipart/form-data Content-Type needs a boundary parameter")
    # RFC 2046 allows a preamble before the first boundary, which starts a line.
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        start = body.find(b"\r\n" + delimiter)
        body = body[start + 2 :] if start >= 0 else body
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
