"""The instance pool: local Lambda execution environments as separate processes.

Each instance is one `lukewarm.localstack.environment` process that imported the handler
once and then serves one event at a time, like a Lambda execution environment. An
event goes to an idle instance, else to a new one (a real cold start) while fewer than
`max_instances` exist, else it is throttled. Idle instances are reclaimed after
`idle_timeout_s`; an instance that overruns the function timeout is killed, and one
that dies mid-event is dropped so the next event starts a fresh one. An idle instance
whose process has exited is dropped when it would be handed an event, and the event
goes to another: a dead instance is never handed a request. With `snapstart`, new
instances are restored from a snapshot instead (`lukewarm.localstack.snapshot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .logs import LogGroups, peak_memory_mb
from .snapshot import RestoredProcess, Snapshot

log = logging.getLogger("lukewarm.pool")
function_log = logging.getLogger("lukewarm.function")

# Events and answers travel as one JSON line: Lambda's 6 MB payload, base64 and escapes.
LINE_LIMIT = 16 * 1024 * 1024
STOP_GRACE_S = 2.0


class Throttled(Exception):
    """Every instance is busy and the pool is at its cap: Lambda would answer 429."""


@dataclass(frozen=True)
class PoolOptions:
    task_root: Path
    """The function's directory (Lambda's task root); `handler` is imported from it."""
    env: dict[str, str]
    """Environment of every instance on top of this process's (model directory, ...)."""
    max_instances: int
    idle_timeout_s: float
    timeout_s: float
    """The function timeout: an event running longer kills its instance."""
    handler: str = "app.handler"
    init_timeout_s: float = 40.0
    """How long an instance may take to import the handler before it counts as failed."""
    snapstart: bool = False
    """Start new instances by restoring one initialised snapshot, as SnapStart does."""
    logs: LogGroups | None = None
    """Where the function's log lines and Lambda's platform lines go (none: nowhere)."""


@dataclass
class Invocation:
    """How one event went: the handler's result or a Lambda-style function error."""

    instance: str
    pid: int | None
    cold: bool
    result: Any = None
    error: dict[str, str] | None = None
    init_ms: float | None = None
    restore_ms: float | None = None
    """Set when the event started its instance by a restore (then `init_ms` is the snapshot's)."""


class InstanceGone(Exception):
    """The instance process exited or was killed while serving an event."""

    def __init__(self, reason: str, *, delivered: bool = True) -> None:
        super().__init__(reason)
        self.delivered = delivered
        """False when the process was gone before it could read the event."""


@dataclass(eq=False)
class Instance:
    id: str
    process: asyncio.subprocess.Process | RestoredProcess
    busy: bool = True
    last_used: float = field(default_factory=time.monotonic)
    served: int = 0
    init_ms: float | None = None
    restore_ms: float | None = None
    stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read_message(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            line = await self.process.stdout.readline()
        except (ValueError, asyncio.LimitOverrunError) as error:
            raise InstanceGone(f"answer over {LINE_LIMIT} bytes") from error
        if not line:
            code = await self.process.wait()
            raise InstanceGone(exit_reason(code))
        message: dict[str, Any] = json.loads(line)
        return message

    async def call(self, event: Any, request_id: str, deadline_ms: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        request = {"event": event, "request_id": request_id, "deadline_ms": deadline_ms}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as error:
            code = await self.process.wait()
            raise InstanceGone(exit_reason(code), delivered=False) from error
        return await self.read_message()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def stop(self) -> None:
        """Close stdin (the runtime exits at end of input), SIGKILL if it lingers.

        Always waits, even for a process already known to have exited: the wait is what
        closes a restored instance's two sockets (each leaked when it was skipped).
        """
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE_S)
            except TimeoutError:
                self.kill()
        await self.process.wait()
        if self.stderr_task is not None:
            await self.stderr_task


def exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"Runtime exited with error: signal: {signal.Signals(-code).name.lower()[3:]}"
    return f"Runtime exited with error: exit status {code}"


class Pool:
    def __init__(self, options: PoolOptions) -> None:
        self.options = options
        self._instances: dict[str, Instance] = {}
        self._ids = itertools.count(1)
        self._starting = 0
        self._closed = False
        self._snapshot: asyncio.Task[Snapshot | dict[str, str]] | None = None
        self.logs = options.logs or LogGroups(None)

    async def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        """Run `event` on an instance; raises Throttled when none is free and none may start."""
        if self._closed:
            raise Throttled("the local stack is shutting down")
        request_id = request_id or str(uuid.uuid4())
        while (instance := await self._take_live_idle()) is not None:
            try:
                return await self._run(instance, event, request_id, cold=False)
            except InstanceGone as gone:  # it died while idle, before reading the event
                log.info("%s exited while idle (%s); dropped", instance.id, gone)
        if len(self._instances) + self._starting >= self.options.max_instances:
            raise Throttled(f"all {self.options.max_instances} instances are busy")
        began = time.perf_counter()
        started = await self._start_instance()
        if isinstance(started, Invocation):
            # The invocation that waited for the failed init fails with it.
            assert started.error is not None
            self.logs.start(started.instance, request_id)
            self.logs.end(started.instance, request_id)
            self.logs.report(
                started.instance,
                request_id,
                duration_ms=(time.perf_counter() - began) * 1000,
                max_memory_mb=0,
                status="error",
                error_type=started.error["errorType"],
            )
            return started
        return await self._run(started, event, request_id, cold=started.restore_ms is None)

    def is_saturated(self) -> bool:
        """Whether an event now would be throttled: no idle instance and no room for one
        (or the pool is closing). An idle instance found dead frees its place."""
        if self._closed:
            return True
        if any(not instance.busy for instance in self._instances.values()):
            return False
        return len(self._instances) + self._starting >= self.options.max_instances

    async def _take_live_idle(self) -> Instance | None:
        """An idle instance whose process is running; those found exited are dropped."""
        while (instance := self._take_idle()) is not None:
            if instance.process.returncode is None:
                return instance
            log.info(
                "%s exited while idle (%s); dropped",
                instance.id,
                exit_reason(instance.process.returncode),
            )
            await self._discard(instance)
        return None

    def _take_idle(self) -> Instance | None:
        idle = [instance for instance in self._instances.values() if not instance.busy]
        if not idle:
            return None
        # The most recently used first, so the others age out as Lambda's do.
        instance = max(idle, key=lambda candidate: candidate.last_used)
        instance.busy = True
        return instance

    async def _start_instance(self) -> Instance | Invocation:
        """A new instance that has imported the handler, or the init failure as an Invocation.

        Counts towards the cap from before its first await (none since the caller's
        check) until its process is registered in `_instances`, which counts it then.
        """
        instance_id = f"i-{next(self._ids)}"
        env = {
            **os.environ,
            **self.options.env,
            "LUKEWARM_HANDLER": self.options.handler,
            "PYTHONUNBUFFERED": "1",
        }
        self._starting += 1
        began = time.perf_counter()
        try:
            if self.options.snapstart:
                snapshot = await self.snapshot()
                if not isinstance(snapshot, Snapshot):
                    return Invocation(instance_id, None, False, error=snapshot)
                process: asyncio.subprocess.Process | RestoredProcess = await snapshot.restore(
                    instance_id
                )
            else:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "lukewarm.localstack.environment",
                    cwd=self.options.task_root,
                    env=env,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    limit=LINE_LIMIT,
                    # Its own session: a Ctrl-C in the terminal reaches the stack, which
                    # stops every instance itself, instead of interrupting instances mid-import.
                    start_new_session=True,
                )
        finally:
            # Registered below with no await in between; counting it in both places
            # throttled requests below the cap.
            self._starting -= 1
        instance = Instance(instance_id, process)
        if self.options.snapstart:
            self.logs.restore_start(instance_id)
        else:
            self.logs.init_start(instance_id)
        instance.stderr_task = asyncio.create_task(forward_logs(instance, self.logs))
        self._instances[instance_id] = instance
        try:
            ready = await asyncio.wait_for(instance.read_message(), self.options.init_timeout_s)
        except (TimeoutError, InstanceGone, asyncio.CancelledError) as error:
            await self._discard(instance)
            if isinstance(error, asyncio.CancelledError):
                raise
            reason = "init timed out" if isinstance(error, TimeoutError) else str(error)
            self.logs.init_report(
                instance_id, (time.perf_counter() - began) * 1000, "Runtime.InitError"
            )
            return Invocation(
                instance_id, process.pid, True, error=init_error("Runtime.InitError", reason)
            )
        if "init_error" in ready:
            await self._discard(instance)
            self.logs.init_report(
                instance_id,
                (time.perf_counter() - began) * 1000,
                ready["init_error"].get("errorType", "Runtime.Unknown"),
            )
            cold = not self.options.snapstart
            return Invocation(instance_id, process.pid, cold, error=ready["init_error"])
        instance.init_ms = ready.get("init_ms")
        instance.restore_ms = ready.get("restore_ms")
        if instance.restore_ms is not None:
            self.logs.restore_report(instance_id, instance.restore_ms)
        elif instance.init_ms is not None:
            self.logs.init_report(instance_id, instance.init_ms)
        if instance.restore_ms is not None:
            log.info(
                "%s restored from the snapshot in %.0f ms (%.0f ms CPU)",
                instance_id,
                instance.restore_ms,
                ready.get("restore_cpu_ms"),
            )
        return instance

    async def snapshot(self) -> Snapshot | dict[str, str]:
        """The snapshot new instances are restored from, made on first use and again if it
        died; its init error if the init fails (retried on the next start, as Lambda
        re-runs a failed init)."""
        dead: Snapshot | None = None
        if self._snapshot is not None and self._snapshot.done():
            made = self._snapshot.result()
            if not isinstance(made, Snapshot) or not made.alive:
                self._snapshot = None
                if isinstance(made, Snapshot):
                    dead = made
        if self._snapshot is None:
            env = {
                **os.environ,
                **self.options.env,
                "LUKEWARM_HANDLER": self.options.handler,
                "PYTHONUNBUFFERED": "1",
                # Torch's thread pool does not survive fork: the snapshot never starts one.
                "LUKEWARM_THREADS": "1",
            }
            # The replacement is set before any await, so concurrent starts share it.
            self._snapshot = asyncio.create_task(
                Snapshot.start(self.options.task_root, env, LINE_LIMIT, self.options.init_timeout_s)
            )
        if dead is not None:
            # Dead, but its socket, its readers and its directory are still ours to close.
            log.warning("the snapshot (pid %s) died; restoring from a new one", dead.process.pid)
            await dead.stop()
        return await asyncio.shield(self._snapshot)

    async def _run(self, instance: Instance, event: Any, request_id: str, cold: bool) -> Invocation:
        timeout = self.options.timeout_s
        deadline_ms = time.time() * 1000 + timeout * 1000
        first = instance.served == 0
        began = time.perf_counter()
        max_memory_mb = 0
        self.logs.start(instance.id, request_id)
        try:
            message = await asyncio.wait_for(instance.call(event, request_id, deadline_ms), timeout)
        except TimeoutError:
            max_memory_mb = peak_memory_mb(instance.pid)
            await self._discard(instance)
            message = {
                "error": {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: "
                    f"Task timed out after {timeout:.2f} seconds",
                }
            }
        except InstanceGone as gone:
            await self._discard(instance)
            if not gone.delivered and not cold:
                raise
            message = {
                "error": {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: {gone}",
                }
            }
        except BaseException:
            # Cancelled mid-event (shutdown): the protocol is out of step, the instance goes.
            await self._discard(instance)
            raise
        else:
            max_memory_mb = peak_memory_mb(instance.pid)
            instance.busy = False
            instance.served += 1
            instance.last_used = time.monotonic()
        self._report(instance, request_id, message, began, max_memory_mb, cold, first)
        return Invocation(
            instance.id,
            instance.pid,
            cold,
            message.get("result"),
            message.get("error"),
            instance.init_ms if cold else None,
            instance.restore_ms if first else None,
        )

    def _report(
        self,
        instance: Instance,
        request_id: str,
        message: dict[str, Any],
        began: float,
        max_memory_mb: int,
        cold: bool,
        first: bool,
    ) -> None:
        """END and REPORT, as Lambda writes them after every invocation."""
        error = message.get("error")
        error_type = error.get("errorType") if isinstance(error, dict) else None
        status = "success"
        if error is not None:
            status = "timeout" if error_type == "Sandbox.Timedout" else "error"
        self.logs.end(instance.id, request_id)
        self.logs.report(
            instance.id,
            request_id,
            duration_ms=(time.perf_counter() - began) * 1000,
            max_memory_mb=max_memory_mb,
            init_ms=instance.init_ms if cold else None,
            restore_ms=instance.restore_ms if first else None,
            status=status,
            error_type=error_type,
        )

    async def _discard(self, instance: Instance) -> None:
        self._instances.pop(instance.id, None)
        instance.kill()
        await instance.stop()

    async def reclaim_idle(self) -> None:
        """Forever: stop instances idle for longer than the idle timeout."""
        interval = min(1.0, max(0.05, self.options.idle_timeout_s / 10))
        while True:
            await asyncio.sleep(interval)
            cutoff = time.monotonic() - self.options.idle_timeout_s
            for instance in list(self._instances.values()):
                if not instance.busy and instance.last_used < cutoff:
                    self._instances.pop(instance.id, None)
                    log.info(
                        "%s reclaimed after %.1f s idle, %d requests served",
                        instance.id,
                        time.monotonic() - instance.last_used,
                        instance.served,
                    )
                    await instance.stop()

    async def close(self) -> None:
        """Stop every instance, busy or not; no process outlives the pool."""
        self._closed = True
        instances = list(self._instances.values())
        self._instances.clear()
        for instance in instances:
            if instance.busy:
                instance.kill()
        await asyncio.gather(*(instance.stop() for instance in instances))
        if self._snapshot is not None:
            self._snapshot.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                made = await self._snapshot
                if isinstance(made, Snapshot):
                    await made.stop()


def init_error(error_type: str, message: str) -> dict[str, str]:
    return {"errorType": error_type, "errorMessage": message}


async def forward_logs(instance: Instance, logs: LogGroups) -> None:
    """The instance's stdout and stderr (its CloudWatch stream), line by line to our log
    and to the stack's log file."""
    stream = instance.process.stderr
    assert stream is not None
    while True:
        try:
            line = await stream.readline()
        except ValueError:
            continue
        if not line:
            return
        text = line.decode(errors="replace").rstrip()
        logs.function(instance.id, text)
        function_log.info("[%s] %s", instance.id, text)
