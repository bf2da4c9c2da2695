"""`lukewarm serve` as a child process, for tests and benchmarks: real ports, real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lukewarm.checkout import ROOT

URL_LINE = re.compile(r"^lukewarm: upload page (?P<url>http://\S+/)$", re.MULTILINE)


def flags(**options: Any) -> list[str]:
    """CLI flags from keyword options: `max_instances=2` → `--max-instances 2`, True → flag."""
    arguments = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        arguments += [flag] if value is True else [flag, str(value)]
    return arguments


class StackProcess:
    """A local stack on a free 127.0.0.1 port; `.url` once started, SIGTERM to stop."""

    def __init__(self, env: dict[str, str] | None = None, **options: Any) -> None:
        """`options` are `lukewarm serve` flags by keyword; `env` is added to the environment."""
        self.env = env or {}
        self.log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as the stack)
            prefix="lukewarm-serve-", suffix=".log", delete=False
        )
        self.log_path = Path(self.log_file.name)
        # Its log events beside its output, never in the checkout's default file.
        self.events_path = Path(
            options.pop("log_file", None) or self.log_path.with_suffix(".jsonl")
        )
        self.arguments = flags(**{"port": 0, "log_file": self.events_path, **options})
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def invoke_endpoint(self) -> str:
        """What boto3 takes as `endpoint_url` to call the local Lambda."""
        return self.url.rstrip("/")

    def start(self, timeout: float = 30.0) -> StackProcess:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and fixed arguments)
            [sys.executable, "-m", "lukewarm", "serve", *self.arguments],
            cwd=ROOT,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := URL_LINE.search(self.log()):
                self.url = match["url"]
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the local stack did not start:\n{self.log()}")

    def log(self) -> str:
        """Everything the stack printed so far: the URL, one line per request, function logs."""
        return self.log_path.read_text(errors="replace")

    def request_lines(self) -> list[str]:
        """The stack's per-request log lines (`METHOD PATH STATUS cold|warm INSTANCE ...`)."""
        return [
            line.split("lukewarm.serve ", 1)[1]
            for line in self.log().splitlines()
            if "lukewarm.serve " in line
        ]

    def request_stop(self) -> None:
        """SIGTERM, as Ctrl-C or a service manager would, without waiting for the exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for the stack to stop its instances; SIGKILL if it hangs."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.request_stop()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode

    def close(self) -> None:
        """Stop the stack and delete its log."""
        self.stop()
        self.log_path.unlink(missing_ok=True)
        self.events_path.unlink(missing_ok=True)

    def __enter__(self) -> StackProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
