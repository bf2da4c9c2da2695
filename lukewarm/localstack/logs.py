"""The local stack's CloudWatch Logs: the function's and the warmer's log groups in one file.

Each line of the file is one log event as CloudWatch Logs holds it (`timestamp` in epoch
ms, `logGroup`, `logStream`, `message`); `lukewarm report --local` reads it with the same
aggregation that reads the deployed stack's groups through Logs Insights.

Besides what the function prints, the function's group gets the platform lines Lambda
writes, in the function's log format (`JSON`, as infra/service.py deploys it, or `Text`),
at Lambda's default system log level (INFO). From AWS's Lambda developer guide (JSON and
plain-text log formats; the Telemetry API event schema reference; the system log level
event mapping, where `platform.initRuntimeDone`, `platform.runtimeDone` and
`platform.restoreRuntimeDone` are DEBUG and so not written):

| what happened | Text | JSON `type` |
| --- | --- | --- |
| an init starts | `INIT_START Runtime Version: ...` | `platform.initStart` |
| an init ends | `INIT_REPORT ...` only when it failed | `platform.initReport` |
| a restore starts | `RESTORE_START Runtime Version: ...` | `platform.restoreStart` |
| a restore ends | `RESTORE_REPORT Restore Duration: ...` | `platform.restoreReport` |
| an invocation starts | `START RequestId: ... Version: ...` | `platform.start` |
| it ends | `END RequestId: ...` | (runtimeDone, DEBUG) |
| its report | `REPORT RequestId: ... Duration: ... Init Duration: ...` | `platform.report` |

`Init Duration` (`initDurationMs`) is on the REPORT of a cold start only and `Restore
Duration` (`restoreDurationMs`) on the first invocation after a restore: the definition of
cold in infra/telemetry.py. Billed Duration rounds up to the millisecond and, as for
every container image, includes the init it waited for.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

JSON = "JSON"
TEXT = "Text"
LOG_FORMATS = (JSON, TEXT)
LOCAL_STACK = "local"
RUNTIME_VERSION = "python:3.11.local"
RUNTIME_VERSION_ARN = "arn:aws:lambda:us-east-1::runtime:lukewarm-local"


def function_group(stack: str) -> str:
    """The function's log group, as infra/service.py names it (`Service("service")`)."""
    return f"/lukewarm/{stack}/service"


def warmer_group(stack: str) -> str:
    """The warmer's log group, as infra/warming.py names it (`Warming("warming")`)."""
    return f"/lukewarm/{stack}/warming"


def _time(timestamp_ms: int) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def peak_memory_mb(pid: int | None) -> int:
    """The instance's peak resident memory (VmHWM) in MB, as REPORT's Max Memory Used; 0 if
    the process is gone."""
    if pid is None:
        return 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return 0


class LogGroups:
    """Appends log events to the stack's log file; with no file, writes nothing."""

    def __init__(
        self,
        path: Path | None,
        *,
        log_format: str = JSON,
        stack: str = LOCAL_STACK,
        memory_mb: int = 1769,
        version: str = "1",
    ) -> None:
        if log_format not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
        self.path = path
        self.log_format = log_format
        self.function_group = function_group(stack)
        self.warmer_group = warmer_group(stack)
        self.memory_mb = memory_mb
        self.version = version
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def write(self, group: str, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        record = {
            "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "logGroup": group,
            "logStream": stream,
            "message": message,
        }
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            if self._file is not None:
                self._file.write(line)

    def function(self, stream: str, message: str) -> None:
        """A line the function printed, in its own stream."""
        self.write(self.function_group, stream, message)

    def warmer(self, message: str) -> None:
        self.write(self.warmer_group, "local", message)

    def _platform(self, stream: str, event_type: str, record: dict[str, Any]) -> None:
        now = int(time.time() * 1000)
        document = {"time": _time(now), "type": event_type, "record": record}
        self.write(self.function_group, stream, json.dumps(document, separators=(",", ":")), now)

    def init_start(self, stream: str) -> None:
        if self.log_format == TEXT:
            self.write(
                self.function_group,
                stream,
                f"INIT_START Runtime Version: {RUNTIME_VERSION}\t"
                f"Runtime Version ARN: {RUNTIME_VERSION_ARN}",
            )
        else:
            self._platform(
                stream,
                "platform.initStart",
                {
                    "initializationType": "on-demand",
                    "phase": "init",
                    "runtimeVersion": RUNTIME_VERSION,
                    "runtimeVersionArn": RUNTIME_VERSION_ARN,
                    "functionName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lukewarm"),
                    "functionVersion": self.version,
                },
            )

    def init_report(self, stream: str, duration_ms: float, error_type: str | None = None) -> None:
        """The end of an init: always in JSON, only a failed one in Text (as Lambda does)."""
        if self.log_format == TEXT:
            if error_type is not None:
                self.write(
                    self.function_group,
                    stream,
                    f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: init\t"
                    f"Status: error\tError Type: {error_type}",
                )
            return
        record: dict[str, Any] = {
            "initializationType": "on-demand",
            "phase": "init",
            "status": "success" if error_type is None else "error",
            "metrics": {"durationMs": round(duration_ms, 3)},
        }
        if error_type is not None:
            record["errorType"] = error_type
        self._platform(stream, "platform.initReport", record)

    def restore_start(self, stream: str) -> None:
        if self.log_format == TEXT:
            self.write(
                self.function_group,
                stream,
                f"RESTORE_START Runtime Version: {RUNTIME_VERSION}\t"
                f"Runtime Version ARN: {RUNTIME_VERSION_ARN}",
            )
        else:
            self._platform(
                stream,
                "platform.restoreStart",
                {
                    "runtimeVersion": RUNTIME_VERSION,
                    "runtimeVersionArn": RUNTIME_VERSION_ARN,
                    "functionName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lukewarm"),
                    "functionVersion": self.version,
                },
            )

    def restore_report(self, stream: str, duration_ms: float) -> None:
        if self.log_format == TEXT:
            self.write(
                self.function_group,
                stream,
                f"RESTORE_REPORT Restore Duration: {duration_ms:.2f} ms",
            )
        else:
            self._platform(
                stream,
                "platform.restoreReport",
                {"status": "success", "metrics": {"durationMs": round(duration_ms, 3)}},
            )

    def start(self, stream: str, request_id: str) -> None:
        if self.log_format == TEXT:
            self.write(
                self.function_group,
                stream,
                f"START RequestId: {request_id} Version: {self.version}",
            )
        else:
            self._platform(
                stream, "platform.start", {"requestId": request_id, "version": self.version}
            )

    def end(self, stream: str, request_id: str) -> None:
        if self.log_format == TEXT:
            self.write(self.function_group, stream, f"END RequestId: {request_id}")

    def report(
        self,
        stream: str,
        request_id: str,
        *,
        duration_ms: float,
        max_memory_mb: int,
        init_ms: float | None = None,
        restore_ms: float | None = None,
        status: str = "success",
        error_type: str | None = None,
    ) -> None:
        """One invocation's REPORT: `status` is success, error or timeout."""
        billed_ms = math.ceil(duration_ms + (init_ms or 0.0))
        if self.log_format == TEXT:
            fields = [
                f"REPORT RequestId: {request_id}",
                f"Duration: {duration_ms:.2f} ms",
                f"Billed Duration: {billed_ms} ms",
                f"Memory Size: {self.memory_mb} MB",
                f"Max Memory Used: {max_memory_mb} MB",
            ]
            if init_ms is not None:
                fields.append(f"Init Duration: {init_ms:.2f} ms")
            if restore_ms is not None:
                fields += [
                    f"Restore Duration: {restore_ms:.2f} ms",
                    f"Billed Restore Duration: {math.ceil(restore_ms)} ms",
                ]
            if status != "success":
                fields.append(f"Status: {status}")
                if error_type:
                    fields.append(f"Error Type: {error_type}")
            self.write(self.function_group, stream, "\t".join(fields) + "\t")
            return
        metrics: dict[str, Any] = {
            "durationMs": round(duration_ms, 3),
            "billedDurationMs": billed_ms,
            "memorySizeMB": self.memory_mb,
            "maxMemoryUsedMB": max_memory_mb,
        }
        if init_ms is not None:
            metrics["initDurationMs"] = round(init_ms, 3)
        if restore_ms is not None:
            metrics["restoreDurationMs"] = round(restore_ms, 3)
            metrics["billedRestoreDurationMs"] = math.ceil(restore_ms)
        record: dict[str, Any] = {"requestId": request_id, "metrics": metrics, "status": status}
        if error_type:
            record["errorType"] = error_type
        self._platform(stream, "platform.report", record)
