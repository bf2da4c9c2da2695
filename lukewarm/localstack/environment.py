"""One local Lambda execution environment: `python -m lukewarm.localstack.environment`.

The pool starts this with the function's task root as working directory, so `import app`
finds the handler exactly as Lambda does, once, at start: the cold start is real. It
then serves one event at a time over a line protocol on stdin/stdout (one JSON object a
line); the handler's own prints and logs go to stderr, which the pool forwards.

Messages out: `{"ready": true, "init_ms": ...}` or `{"init_error": {...}}` once, then
one `{"result": ...}` or `{"error": {...}}` per event. End of stdin means stop.

With `LUKEWARM_SNAPSHOT_SOCKET` set, the process is a SnapStart snapshot instead: after
the import it runs the before-snapshot hooks, says `ready`, and then reads
`{"restore": "<instance>", "started": <perf_counter>}` lines, forking one restored
instance for each (`{"forked": ..., "pid": ...}`) and reporting each one's end
(`{"exited": <pid>, "code": ...}`). A restored instance connects to that Unix socket
twice, for its events and for its logs, runs the after-restore hooks, then speaks the
protocol above over the socket; a hook that raises is reported as Lambda reports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from typing import IO, Any

PR_SET_PDEATHSIG = 1
REAP_INTERVAL_S = 0.05
"""How often a snapshot looks for restored instances that ended, between restore requests."""
RESTORE_ERROR = "SnapStartException"
"""What Lambda's Invoke API answers when an after-restore hook raises."""

Handler = Callable[[Any, Any], Any]


class LocalContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, request_id: str, deadline_ms: float) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lukewarm")
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{name}:live"
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, separators=(",", ":")) + "\n")
    channel.flush()


def _error(error: BaseException, error_type: str | None = None) -> dict[str, str]:
    return {"errorType": error_type or type(error).__name__, "errorMessage": str(error)}


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the stack dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main() -> int:
    die_with_parent()
    # The protocol keeps the real stdout; everything the function prints goes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    started = time.perf_counter()
    try:
        module_name, function_name = os.environ["LUKEWARM_HANDLER"].rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # an import failure is the function's fault, reported as Lambda does
        traceback.print_exc()
        _send(channel, {"init_error": _error(error, "Runtime.ImportModuleError")})
        return 1
    init_ms = round((time.perf_counter() - started) * 1000, 1)
    if socket_path := os.environ.get("LUKEWARM_SNAPSHOT_SOCKET"):
        # CPU time as well as wall time: a comparison with a restore's holds on a busy machine.
        init_cpu_ms = round(time.process_time() * 1000, 1)
        return snapshot(channel, handler, init_ms, init_cpu_ms, socket_path)
    _send(channel, {"ready": True, "init_ms": init_ms})
    serve(handler, sys.stdin, channel)
    return 0


def serve(handler: Handler, requests: Iterable[str], channel: IO[str]) -> None:
    """Run one event per request line until the input ends."""
    for line in requests:
        request = json.loads(line)
        context = LocalContext(request["request_id"], request["deadline_ms"])
        try:
            result = handler(request["event"], context)
        except Exception as error:  # the handler's exception becomes Lambda's function error
            traceback.print_exc()
            _send(channel, {"error": _error(error)})
            continue
        try:
            _send(channel, {"result": result})
        except (TypeError, ValueError) as error:
            _send(channel, {"error": _error(error, "Runtime.MarshalError")})


def snapshot(
    channel: IO[str], handler: Handler, init_ms: float, init_cpu_ms: float, socket_path: str
) -> int:
    """Stand in for a SnapStart snapshot: an initialised process that restored instances
    are forked from (copy-on-write), until the end of stdin."""
    try:
        import snapshot_restore_py  # only snapshots need it

        # Lambda runs before-snapshot hooks in the reverse order of their registration.
        for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
            hook(*args, **kwargs)
    except Exception as error:  # a failed hook fails the snapshot, as it fails a publish
        traceback.print_exc()
        _send(channel, {"init_error": _error(error, "Runtime.InitError")})
        return 1
    _send(channel, {"ready": True, "init_ms": init_ms, "init_cpu_ms": init_cpu_ms})
    pending = b""
    while True:
        readable, _, _ = select.select([sys.stdin], [], [], REAP_INTERVAL_S)
        _reap(channel)
        if not readable:
            continue
        chunk = os.read(sys.stdin.fileno(), 65536)
        if not chunk:
            return 0
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            snapshot_pid = os.getpid()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    channel.close()
                    die_with_parent()
                    if os.getppid() == snapshot_pid:  # else the snapshot died before prctl
                        code = restored(request, handler, init_ms, socket_path)
                finally:
                    os._exit(code)
            _send(channel, {"forked": request["restore"], "pid": pid})


def _reap(channel: IO[str]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(channel, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def restored(request: dict[str, Any], handler: Handler, init_ms: float, socket_path: str) -> int:
    """A forked instance: connect, run the after-restore hooks, then serve events."""
    events = _connect(socket_path, request["restore"], "events")
    logs = _connect(socket_path, request["restore"], "logs")
    os.dup2(logs.fileno(), 1)
    os.dup2(logs.fileno(), 2)
    with open(os.devnull, "rb") as nothing:
        os.dup2(nothing.fileno(), 0)
    channel = events.makefile("w", encoding="utf-8")
    import snapshot_restore_py  # the snapshot imported it already

    try:
        for hook, args, kwargs in snapshot_restore_py.get_after_restore():
            hook(*args, **kwargs)
    except Exception as error:  # the restore fails, not the instance's first event
        traceback.print_exc()
        message = f"The afterRestore() runtime hook {hook.__qualname__} failed: {error!r}"
        _send(channel, {"init_error": {"errorType": RESTORE_ERROR, "errorMessage": message}})
        return 1
    restore_ms = round((time.perf_counter() - request["started"]) * 1000, 1)
    # A forked child's CPU clock starts at zero: this is the restore's own CPU time.
    restore_cpu_ms = round(time.process_time() * 1000, 1)
    ready = {"ready": True, "init_ms": init_ms, "restore_ms": restore_ms}
    _send(channel, {**ready, "restore_cpu_ms": restore_cpu_ms})
    serve(handler, events.makefile("r", encoding="utf-8"), channel)
    return 0


def _connect(socket_path: str, instance: str, stream: str) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(socket_path)
    connection.sendall(json.dumps({"instance": instance, "stream": stream}).encode() + b"\n")
    return connection


if __name__ == "__main__":
    sys.exit(main())
