"""The local stack: HTTP front, invoke endpoint, instance pool and warmer in one server.

The stack owns the pool, the event queue and the routes; the HTTP front (`front`) and the
Invoke API (`invoke`) are handlers it builds around them, and know nothing of the stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from contract import INIT_CAP_S, RUNTIME_VARIABLE, cors_allow_headers
from lukewarm.checkout import FUNCTION_DIR

from . import front, invoke, server
from .cors import Cors
from .logs import JSON, LogGroups
from .pool import Pool, PoolOptions
from .scheduler import Schedule, StackClock, WarmScheduler

if TYPE_CHECKING:
    # Only `serve --auth iam|jwt` pays for botocore's signer and PyJWT.
    from .auth import Authorizer

log = logging.getLogger("lukewarm.serve")

REGION = "us-east-1"
"""The region the local stack plays: its functions' AWS_REGION, and what SigV4 callers sign for."""


@dataclass(frozen=True)
class StackOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    """0 picks a free port (the URL says which)."""
    task_root: Path = FUNCTION_DIR
    model_dir: Path | None = None
    """The function's model directory; None leaves the function's default."""
    runtime: str | None = None
    """What the function runs the model with (`LUKEWARM_RUNTIME`); None leaves its default."""
    max_instances: int = 5
    idle_timeout_s: float = 600.0
    """Stack seconds an instance may sit idle before it is reclaimed."""
    timeout_s: float = 30.0
    memory_size: int = 1769
    warm_schedules: Sequence[Schedule] = field(default_factory=tuple)
    warm_hold_ms: int = 500
    prewarm: bool = False
    """Warm once at start, as the deployed stack does after a deploy."""
    time_scale: float = 1.0
    """How much faster than the wall clock the stack's clock runs (schedules, idle time)."""
    function_name: str = "lukewarm"
    snapstart: bool = False
    """Restore new instances from one initialised snapshot (forked), as SnapStart does."""
    log_level: str = "INFO"
    """The function's application log level, as the deployed logging config sets it."""
    authorizer: Authorizer | None = None
    """What `lukewarm:auth` iam or jwt checks before the protected routes; None for none."""
    log_file: Path | None = None
    """Where the function's and the warmer's log events go (`lukewarm report --local`)."""
    log_format: str = JSON
    """Lambda's log format for the platform lines: JSON (as deployed) or Text."""
    cors_origins: Sequence[str] = ()
    """The API's `corsOrigins`: preflights answered and CORS headers set as API Gateway does."""


class LocalStack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.function_name = options.function_name
        self.clock = StackClock(options.time_scale)
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": options.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": invoke.EXECUTED_VERSION,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(options.memory_size),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # One thread each, like a small Lambda; many instances share this machine.
            "LUKEWARM_THREADS": os.environ.get("LUKEWARM_THREADS", "1"),
            # What Lambda sets from the logging config's application level; Powertools
            # prefers it to LOG_LEVEL (infra/service.py sets both).
            "AWS_LAMBDA_LOG_LEVEL": options.log_level,
            "LOG_LEVEL": options.log_level,
        }
        if options.model_dir is not None:
            env["LUKEWARM_MODEL_DIR"] = str(Path(options.model_dir).resolve())
        if options.runtime is not None:
            env[RUNTIME_VARIABLE] = options.runtime
        self.logs = LogGroups(
            options.log_file,
            log_format=options.log_format,
            memory_mb=options.memory_size,
            version=invoke.EXECUTED_VERSION,
        )
        self.pool = Pool(
            PoolOptions(
                task_root=Path(options.task_root).resolve(),
                env=env,
                max_instances=options.max_instances,
                idle_timeout_s=options.idle_timeout_s / options.time_scale,
                timeout_s=options.timeout_s,
                init_timeout_s=INIT_CAP_S + options.timeout_s,
                snapstart=options.snapstart,
                logs=self.logs,
            )
        )
        self.events = invoke.EventQueue(self.pool, options.time_scale)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def auth_mode(self) -> str:
        """`lukewarm:auth` as this stack enforces it."""
        return self.options.authorizer.mode if self.options.authorizer else "none"

    def application(self) -> web.Application:
        app = web.Application(client_max_size=front.MAX_BODY_BYTES)
        lambda_api = invoke.LambdaApi(self.pool, self.function_name, self.events)
        http_api = front.HttpApi(
            self.pool,
            Cors(tuple(self.options.cors_origins), cors_allow_headers(self.auth_mode)),
            self.options.authorizer,
        )
        app.router.add_post(
            invoke.PATH, lambda_api.handle, expect_handler=server.expect_handler(invoke.refusal)
        )
        app.router.add_route(
            "*",
            "/{path:.*}",
            http_api.handle,
            expect_handler=server.expect_handler(http_api.refusal),
        )
        return app

    async def start(self) -> str:
        """Serve; returns the base URL (ending in `/`)."""
        server.install_refusal_filter()
        self._runner = web.AppRunner(
            self.application(),
            # Handlers log their own lines; this one logs what the server refused itself.
            access_log=log,
            access_log_class=server.AccessLog,
            # A connection sends its headers within this, or is closed (server.py says why).
            keepalive_timeout=server.HEADER_TIMEOUT_S,
            shutdown_timeout=1.0,
            handle_signals=False,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"
        self.run_in_background(self.pool.reclaim_idle())
        if self.options.snapstart:
            # Lambda snapshots when a version is published, before any request.
            self.run_in_background(self.pool.snapshot())
        if self.options.warm_schedules:
            scheduler = WarmScheduler(
                self.options.warm_schedules,
                endpoint_url=self.url.rstrip("/"),
                function_name=self.function_name,
                hold_ms=self.options.warm_hold_ms,
                function_timeout_s=self.options.timeout_s,
                clock=self.clock,
                logs=self.logs,
            )
            self.run_in_background(scheduler.run(prewarm=self.options.prewarm))
        return self.url

    @property
    def invoke_url(self) -> str:
        return self.url + invoke.PATH.format(name=self.function_name).lstrip("/")

    def run_in_background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Stop serving and stop every instance process."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.events.close()
        await self.pool.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.logs.close()
