"""API Gateway events, a Lambda context and image encoders for the handler's tests."""

from __future__ import annotations

import base64
import copy
import importlib
import io
import json
import struct
import sys
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag
from PIL import Image

EVENTS_DIR = Path(__file__).parent / "events"


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that the handler and Powertools read."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "lukewarm"
    function_version: str = "7"
    invoked_function_arn: str = "arn:aws:lambda:eu-central-1:123456789012:function:lukewarm:live"
    memory_limit_in_mb: int = 1024
    log_group_name: str = "/lukewarm/function"
    log_stream_name: str = "2026/11/28/[7]4f1c2d3e4b5a69788796a5b4c3d2e1f0"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Reply:
    status: int
    headers: dict[str, Any]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text())


def http_event(
    method: str = "POST",
    path: str = "/caption",
    body: bytes | str | None = None,
    content_type: str | None = "image/jpeg",
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event as API Gateway sends it: bytes arrive base64."""
    event = sample_event("http_api_v2.json")
    event["rawPath"] = path
    event["requestContext"]["http"].update(method=method, path=path)
    event["queryStringParameters"] = query
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    if content_type is None:
        del event["headers"]["content-type"]
    else:
        event["headers"]["content-type"] = content_type
    _set_body(event, body)
    event["headers"]["content-length"] = str(len(_raw(body)))
    return event


def rest_event(
    method: str = "POST",
    path: str = "/caption",
    body: bytes | None = None,
    content_type: str = "image/jpeg",
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API proxy (payload 1.0) event, stage `prod`."""
    event = sample_event("rest_api_v1.json")
    event.update(path=path, httpMethod=method, queryStringParameters=query)
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}")
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    _set_body(event, body)
    return event


def _raw(body: bytes | str | None) -> bytes:
    return body.encode() if isinstance(body, str) else body or b""


def _set_body(event: dict[str, Any], body: bytes | str | None) -> None:
    if isinstance(body, str):
        event["body"], event["isBase64Encoded"] = body, False
    elif body is None:
        event["body"], event["isBase64Encoded"] = None, False
    else:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True


PROXY_RESPONSE_KEYS = {
    "statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies",
}  # fmt: skip
"""What API Gateway reads from a proxy integration's answer (`cookies` in payload 2.0 only).
REST API answers any other key with a 502, "Malformed Lambda proxy response"."""


def invoke(app: ModuleType, event: dict[str, Any], context: LambdaContext | None = None) -> Reply:
    """The handler's answer to `event`, read the way API Gateway reads it: a body flagged
    `isBase64Encoded` is base64-decoded before the client gets it."""
    response = app.handler(copy.deepcopy(event), context or LambdaContext())
    assert set(response) <= PROXY_RESPONSE_KEYS, response
    assert isinstance(response["isBase64Encoded"], bool), response
    headers = response.get("headers") or {
        name: values[-1] for name, values in response.get("multiValueHeaders", {}).items()
    }
    body = response["body"]
    if response["isBase64Encoded"]:
        body = base64.b64decode(body, validate=True).decode("utf-8", "replace")
    return Reply(int(response["statusCode"]), headers, body)


def multipart(fields: dict[str, tuple[str, bytes, str] | str], boundary: str) -> bytes:
    """A multipart/form-data body as a browser builds it; a file is (filename, bytes, type)."""
    chunks = []
    for name, value in fields.items():
        chunks.append(f"--{boundary}\r\n".encode())
        if isinstance(value, str):
            chunks.append(
                f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        else:
            filename, data, media_type = value
            chunks.append(
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {media_type}\r\n\r\n".encode()
            )
            chunks.append(data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


def encode(image: Image.Image, format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    """A JPEG whose EXIF says how to turn it upright (6: rotate 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", exif=exif.tobytes())


def import_app(model_dir: Path, threads: str | None = "1") -> ModuleType:
    """A freshly imported `app`, as a new Lambda instance imports it (the model loads then).

    `threads` is `LUKEWARM_THREADS` (None: unset). Powertools' own cold-start flag is reset
    too, as in a new process, so the instance's first invocation publishes `ColdStart`.
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LUKEWARM_MODEL_DIR", str(model_dir))
        if threads is None:
            env.delenv("LUKEWARM_THREADS", raising=False)
        else:
            env.setenv("LUKEWARM_THREADS", threads)
        reset_cold_start_flag()
        sys.modules.pop("app", None)
        return importlib.import_module("app")


def published_metrics(stdout: str) -> dict[str, float]:
    """The EMF metrics in what the handler printed, by name, values summed."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                values = values if isinstance(values, list) else [values]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def published_units(stdout: str) -> dict[str, str]:
    """The unit each EMF metric in what the handler printed is published with, by name."""
    return {
        metric["Name"]: metric["Unit"]
        for line in stdout.splitlines()
        if '"_aws"' in line
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def black_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any size, built with zlib directly: a decompression
    bomb when large (20000x20000 is 48 KB on the wire, 1.2 GB as RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressor = zlib.compressobj()
    row = b"\0" * (1 + (width + 7) // 8)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
