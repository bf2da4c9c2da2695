"""One local Lambda execution environment: `python -m lukewarm.localstack.runtime`.

The pool starts this with the function's task root as working directory, so `import app`
finds the handler exactly as Lambda does, once, at start: the cold start is real. It
then serves one event at a time over a line protocol on stdin/stdout (one JSON object a
line); the handler's own prints and logs go to stderr, which the pool forwards.

Messages out: `{"ready": true, "init_ms": ...}` or `{"init_error": {...}}` once, then
one `{"result": ...}` or `{"error": {...}}` per event. End of stdin means stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import IO, Any

PR_SET_PDEATHSIG = 1


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
    _send(channel, {"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 1)})
    for line in sys.stdin:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
