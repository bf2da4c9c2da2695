"""The one HTTP call the people's tools make: POST an image to `/caption`.

Standard library only (urllib), so `lukewarm caption` starts in a blink. Every way the
call can fail becomes a `CaptionError` whose message is one line a person can act on.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lukewarm.auth import AuthError, refusal_message

if TYPE_CHECKING:
    from lukewarm.auth import RequestAuth

# Magic numbers of the image formats a browser or camera produces; anything else is
# refused before it is sent.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


class CaptionError(Exception):
    """A caption request that did not produce a caption; `str()` is the one-line reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CaptionResponse:
    """A successful answer: the decoded JSON body and the client-side latency."""

    body: dict[str, Any]
    latency_ms: float


def caption_url(url: str) -> str:
    """The `/caption` endpoint for a base URL given with or without a slash or `/caption`."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CaptionError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/caption"):
        path = f"{path}/caption"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def image_content_type(data: bytes) -> str | None:
    """The image MIME type the bytes start with, or None if they are not an image."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_image(path: Path) -> tuple[bytes, str]:
    """The file's bytes and Content-Type; refuses missing files and non-images."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CaptionError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptionError(f"{path}: is a directory, not an image") from None
    except OSError as error:
        raise CaptionError(f"{path}: cannot read ({error.strerror})") from None
    content_type = image_content_type(data)
    if content_type is None:
        raise CaptionError(f"{path}: not an image (expected PNG, JPEG, GIF, WebP, BMP or TIFF)")
    return data, content_type


def post_image(
    endpoint: str,
    data: bytes,
    content_type: str,
    *,
    beam: int | None = None,
    alternatives: int | None = None,
    timeout: float = 60.0,
    auth: RequestAuth | None = None,
) -> CaptionResponse:
    """POST the raw image to `endpoint` and return the decoded caption response.

    With `auth`, the request carries its bearer token or SigV4 signature.
    """
    query = {
        name: value
        for name, value in (("beam", beam), ("alternatives", alternatives))
        if value is not None
    }
    url = f"{endpoint}?{urllib.parse.urlencode(query)}" if query else endpoint
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if auth is not None:
        try:
            headers = {**headers, **auth.headers("POST", url, data, headers)}
        except AuthError as error:
            raise CaptionError(str(error)) from None
    request = urllib.request.Request(  # noqa: S310 (caption_url admits only http and https)
        url, data=data, method="POST", headers=headers
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
            received_type = response.headers.get_content_type()
    except http.client.IncompleteRead as error:
        received, expected = len(error.partial), len(error.partial) + (error.expected or 0)
        shown = f"{received} of {expected} bytes" if error.expected else f"{received} bytes"
        raise CaptionError(f"the answer was cut short ({shown})") from None
    except urllib.error.HTTPError as error:
        raise _server_error(error, auth) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise CaptionError(f"no answer from {endpoint} within {timeout:g} s") from None
        raise CaptionError(f"cannot reach {endpoint}: {_reason(error.reason)}") from None
    except TimeoutError:
        raise CaptionError(f"no answer from {endpoint} within {timeout:g} s") from None
    except OSError as error:
        raise CaptionError(f"connection to {endpoint} failed: {_reason(error)}") from None
    except http.client.HTTPException as error:
        # The status line or headers were not HTTP (a proxy, or not an HTTP server at all).
        raise CaptionError(f"{endpoint} answered with no valid HTTP: {_reason(error)}") from None
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        body = _json_object(raw)
    except UnreadableJson as error:
        raise CaptionError(f"server answered {status} with {error}", status) from None
    if body is None:
        raise CaptionError(
            f"server answered {status} with a {received_type} body, not the caption JSON",
            status,
        )
    return CaptionResponse(body=body, latency_ms=latency_ms)


def _server_error(error: urllib.error.HTTPError, auth: RequestAuth | None) -> CaptionError:
    """One line from an error response: the API's own message when it sent one, and for an
    auth refusal what failed and how to fix it."""
    try:
        raw = error.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    try:
        body = _json_object(raw)
    except UnreadableJson:
        body = None  # the status says enough
    detail = body.get("error") if body else None
    if isinstance(detail, dict) and detail.get("message"):
        code = f" ({detail['code']})" if detail.get("code") else ""
        return CaptionError(f"server answered {error.code}: {detail['message']}{code}", error.code)
    if body and isinstance(body.get("message"), str):
        refused = refusal_message(
            error.code, body["message"], error.headers.get("www-authenticate"), auth
        )
        if refused is not None:
            return CaptionError(f"server answered {refused}", error.code)
        # API Gateway's own errors (throttling, integration timeout) use this shape.
        return CaptionError(f"server answered {error.code}: {body['message']}", error.code)
    return CaptionError(f"server answered {error.code} {error.reason}", error.code)


class UnreadableJson(Exception):
    """JSON that no parser here can read: `str()` says why, after "with"."""


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; None if it is not JSON or not an object.

    Raises UnreadableJson for JSON too deep for the parser's recursion, or with an
    integer over Python's 4,300-digit conversion limit: no caption answer has either.
    """
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    except RecursionError:
        raise UnreadableJson("JSON nested too deeply to read") from None
    except ValueError:
        raise UnreadableJson("a number too large to read") from None
    return value if isinstance(value, dict) else None


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
