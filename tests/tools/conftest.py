"""A small real HTTP server that misbehaves on purpose, for the tools' unhappy paths.

The local stack answers correctly; this one answers the ways a broken deployment or a
proxy in front of it can: a JSON 500, a 413, an HTML page, a slow answer. Each way is a
path prefix (`http://127.0.0.1:PORT/<mode>/caption`), so one server serves every test.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

BROKEN_BODIES: dict[str, tuple[int, bytes]] = {
    "deep": (200, b'{"caption": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "deep-error": (500, b'{"error": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "hugeint": (200, b'{"caption": "a", "score": 1' + b"0" * 5000 + b"}"),
    "hugeint-error": (502, b'{"message": 1' + b"0" * 5000 + b"}"),
    "wrongcaption": (200, b'{"caption": 5}'),
    "wrongalternatives": (
        200,
        b'{"caption": "a", "alternatives": [{"caption": "b", "score": "x"}]}',
    ),
    "alternativesobject": (200, b'{"caption": "a", "alternatives": {"caption": "b"}}'),
}
"""Answers that are JSON a parser chokes on, or JSON of the wrong shape: mode → status, body."""


@dataclass
class FakeApi:
    base: str
    received: list[dict[str, str | int]] = field(default_factory=list)

    def url(self, mode: str) -> str:
        return f"{self.base}{mode}/"


def _app(api: FakeApi) -> web.Application:
    async def caption(request: web.Request) -> web.Response:
        mode = request.match_info["mode"]
        body = await request.read()
        api.received.append(
            {
                "mode": mode,
                "content_type": request.content_type,
                "bytes": len(body),
                "query": request.query_string,
            }
        )
        count = sum(1 for r in api.received if r["mode"] == mode)
        if mode == "probe" and count == 3:
            await asyncio.sleep(0.6)  # a luke-warm answer
        if mode in ("ok", "probe"):
            alternatives = int(request.query.get("alternatives", "0"))
            return web.json_response(
                {
                    "caption": f"a picture of {len(body)} bytes",
                    "alternatives": [
                        {"caption": f"runner-up {i + 1}", "score": -1.5 - i}
                        for i in range(alternatives)
                    ],
                    "model": {"name": "fake", "version": "0"},
                    "timing_ms": {"preprocess": 1.0, "encode": 2.0, "decode": 3.0},
                    "cold_start": count == 1,
                    "instance": "fake-1",
                }
            )
        if mode == "fail":
            return web.json_response(
                {"error": {"code": "internal", "message": "model exploded (request abc123)"}},
                status=500,
            )
        if mode == "big":
            return web.json_response(
                {"error": {"code": "too_large", "message": "image over 4.5 MB"}}, status=413
            )
        if mode == "html":
            return web.Response(text="<html>hello from a proxy</html>", content_type="text/html")
        if mode in BROKEN_BODIES:
            status, payload = BROKEN_BODIES[mode]
            return web.Response(body=payload, status=status, content_type="application/json")
        if mode == "truncated":
            # Promises 1,000 bytes, sends 15 and hangs up.
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = 1000
            await response.prepare(request)
            await response.write(b'{"caption": "a ')
            assert request.transport is not None
            request.transport.close()
            return response
        if mode == "slow":
            await asyncio.sleep(2)
            return web.json_response({"caption": "too late"})
        raise web.HTTPNotFound()

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/{mode}/caption", caption)
    return app


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """The misbehaving server, on a free port of 127.0.0.1, in a background thread; a new
    one for each test, so the requests it counts are that test's own."""
    loop = asyncio.new_event_loop()
    holder: dict[str, object] = {}

    async def start() -> None:
        api = FakeApi(base="")
        runner = web.AppRunner(_app(api))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        api.base = f"http://127.0.0.1:{port}/"
        holder.update(api=api, runner=runner)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    yield holder["api"]  # type: ignore[misc]
    runner = holder["runner"]
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)  # type: ignore[attr-defined]
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
