"""The local stack's access log: one line per request, whichever endpoint served it."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar

from .pool import Invocation

log = logging.getLogger("lukewarm.serve")

_logged: ContextVar[bool] = ContextVar("lukewarm_access_logged", default=False)
"""Set once a request has its line (aiohttp runs each request in its own task, and so
in its own context): the HTTP server's own access log then stays quiet for it."""


def access_logged() -> bool:
    """Whether the request being served has its access line already."""
    return _logged.get()


def log_request(
    method: str,
    path: str,
    status: int,
    invocation: Invocation | None,
    started: float,
    reason: str | None = None,
) -> None:
    """One line per request: what, outcome, cold or warm, which instance, how long, and why
    the stack itself refused it, if it did."""
    _logged.set(True)
    latency_ms = (time.perf_counter() - started) * 1000
    if invocation is None:
        because = f": {reason}" if reason else ""
        log.info("%s %s %d - - %.0f ms%s", method, path, status, latency_ms, because)
        return
    temperature = "cold" if invocation.cold else "warm"
    extra = f" init {invocation.init_ms:.0f} ms" if invocation.init_ms is not None else ""
    if invocation.restore_ms is not None:
        temperature, extra = "restore", f" restore {invocation.restore_ms:.0f} ms"
    if invocation.error is not None:
        extra += f" error {invocation.error.get('errorType')}"
    log.info(
        "%s %s %d %s %s pid %s %.0f ms%s",
        method,
        path,
        status,
        temperature,
        invocation.instance,
        invocation.pid,
        latency_ms,
        extra,
    )
