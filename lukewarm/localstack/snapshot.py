"""SnapStart on one machine: a snapshot process, and instances restored from it by fork.

Lambda with SnapStart runs the init once, when a version is published, snapshots the
initialised microVM, and starts every new instance by restoring that snapshot and
running the after-restore hooks. Here the snapshot is one runtime process that imported
the handler and ran the before-snapshot hooks (`lukewarm.localstack.environment` with
`LUKEWARM_SNAPSHOT_SOCKET`), and a restore is a fork of it (copy-on-write memory) that
runs the after-restore hooks and connects back over a Unix socket.

A `RestoredProcess` has the attributes of `asyncio.subprocess.Process` the pool uses
(`pid`, `stdin`, `stdout`, `stderr`, `returncode`, `wait`, `kill`), so a restored instance
is served, reclaimed and killed exactly like a cold one. A restore on this machine is a
fork, not a microVM restore: its duration says nothing about Lambda's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("lukewarm.pool")
function_log = logging.getLogger("lukewarm.function")

STREAMS = ("events", "logs")
KILLED = -signal.SIGKILL


class RestoredProcess:
    """An instance forked from the snapshot, seen through its two socket connections."""

    def __init__(self, pid: int, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.exited = exited
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._log_writer: asyncio.StreamWriter | None = None

    def attach(
        self,
        events: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        logs: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.stdout, self.stdin = events
        self.stderr, self._log_writer = logs

    def attach_nothing(self) -> None:
        """The instance ended before it connected: its streams are at their end."""
        self.stdout, self.stderr = asyncio.StreamReader(), asyncio.StreamReader()
        self.stdout.feed_eof()
        self.stderr.feed_eof()

    @property
    def returncode(self) -> int | None:
        return self.exited.result() if self.exited.done() else None

    async def wait(self) -> int:
        code = await asyncio.shield(self.exited)
        for writer in (self.stdin, self._log_writer):
            if writer is not None:
                writer.close()
        return code

    def kill(self) -> None:
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class Snapshot:
    """The snapshot process: restores instances on request and reports how they end."""

    def __init__(self, process: asyncio.subprocess.Process, socket_dir: Path) -> None:
        self.process = process
        self.socket_dir = socket_dir
        self.init_ms: float | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._forks: dict[str, asyncio.Future[tuple[int, asyncio.Future[int]]]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / "restore.sock"

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    @classmethod
    async def start(
        cls, task_root: Path, env: dict[str, str], line_limit: int, init_timeout_s: float
    ) -> Snapshot | dict[str, str]:
        """Initialise the snapshot; its init error (as Lambda reports one) if it fails."""
        socket_dir = Path(tempfile.mkdtemp(prefix="lukewarm-snapshot-"))
        socket_path = socket_dir / "restore.sock"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lukewarm.localstack.environment",
            cwd=task_root,
            env={**env, "LUKEWARM_SNAPSHOT_SOCKET": str(socket_path)},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=line_limit,
            start_new_session=True,
        )
        snapshot = cls(process, socket_dir)
        try:
            snapshot._server = await asyncio.start_unix_server(
                snapshot._connected, path=socket_path, limit=line_limit
            )
            snapshot._tasks.append(asyncio.create_task(snapshot._forward_logs()))
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), init_timeout_s)
            ready = json.loads(line) if line else {}
        except BaseException as error:
            await snapshot.stop()
            if isinstance(error, TimeoutError):
                log.error("snapshot init failed: it timed out after %g s", init_timeout_s)
                return {"errorType": "Runtime.InitError", "errorMessage": "init timed out"}
            raise
        if not ready.get("ready"):
            await snapshot.stop()
            failure = ready.get("init_error") or {
                "errorType": "Runtime.InitError",
                "errorMessage": f"the snapshot exited with status {process.returncode}",
            }
            log.error("snapshot init failed: %s: %s", failure["errorType"], failure["errorMessage"])
            return failure
        snapshot.init_ms = ready.get("init_ms")
        snapshot._tasks.append(asyncio.create_task(snapshot._read_reports()))
        log.info(
            "snapshot initialised (pid %s, init %.0f ms, %.0f ms CPU)",
            process.pid,
            snapshot.init_ms,
            ready.get("init_cpu_ms"),
        )
        return snapshot

    async def restore(self, instance_id: str) -> RestoredProcess:
        """Fork a new instance from the snapshot; it speaks the runtime's protocol."""
        loop = asyncio.get_running_loop()
        streams = {stream: loop.create_future() for stream in STREAMS}
        for stream, future in streams.items():
            self._connections[instance_id, stream] = future
        forked = self._forks[instance_id] = loop.create_future()
        request = {"restore": instance_id, "started": time.perf_counter()}
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            await self.process.stdin.drain()
            process = RestoredProcess(*await forked)
            connected = asyncio.gather(*streams.values())
            waiting: list[asyncio.Future[Any]] = [connected, process.exited]
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if connected.done():
                process.attach(*connected.result())
            else:
                connected.cancel()
                process.attach_nothing()
            return process
        finally:
            self._forks.pop(instance_id, None)
            for stream in STREAMS:
                self._connections.pop((instance_id, stream), None)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A restored instance connects: its first line says which instance and stream."""
        try:
            hello = json.loads(await reader.readline())
            future = self._connections.get((hello["instance"], hello["stream"]))
        except (ValueError, KeyError, TypeError):
            future = None
        if future is None or future.done():
            writer.close()
            return
        future.set_result((reader, writer))

    async def _read_reports(self) -> None:
        """The snapshot's reports: which pid each restore got, and how each one ended."""
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        while line := await self.process.stdout.readline():
            report = json.loads(line)
            if "forked" in report:
                # Reports arrive in order: a process's exit always follows its fork, and
                # a pid the system reuses gets a fresh future here.
                exited = self._exits[report["pid"]] = loop.create_future()
                if forked := self._forks.get(report["forked"]):
                    forked.set_result((report["pid"], exited))
            elif "exited" in report:
                ended = self._exits.pop(report["exited"], None)
                if ended is not None and not ended.done():
                    ended.set_result(report["code"])
        # The snapshot is gone, and every instance restored from it with it (they die
        # with their parent).
        gone = RuntimeError(f"the snapshot exited with status {await self.process.wait()}")
        for forked in self._forks.values():
            if not forked.done():
                forked.set_exception(gone)
        for exited in self._exits.values():
            if not exited.done():
                exited.set_result(KILLED)
        self._exits.clear()

    async def _forward_logs(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            function_log.info("[snapshot] %s", line.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        """End the snapshot (its restored instances die with it) and remove its socket."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        shutil.rmtree(self.socket_dir, ignore_errors=True)
