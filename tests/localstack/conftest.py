"""Local-stack test helpers: HTTP calls, boto3 against the invoke endpoint, a fake function."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

from tests.conftest import ROOT

FAKE_FUNCTION = Path(__file__).resolve().parent / "fake_function"


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def serve_once(*flags: str) -> subprocess.CompletedProcess[str]:
    """`lukewarm serve FLAGS` on a free port, for the flags it refuses before it starts."""
    return subprocess.run(
        [sys.executable, "-m", "lukewarm", "serve", "--port", "0", *flags],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


def http(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    timeout: float = 60,
) -> Answer:
    """One HTTP request; any status comes back as an Answer instead of an exception."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def lambda_client(endpoint: str, read_timeout: float = 60) -> Any:
    """boto3's Lambda client pointed at a local stack, as the warmer and tools use it."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(read_timeout=read_timeout, retries={"total_max_attempts": 1}),
    )


def invoke(client: Any, event: Any, qualifier: str = "live") -> tuple[Any, dict[str, Any]]:
    response = client.invoke(
        FunctionName="lukewarm", Qualifier=qualifier, Payload=json.dumps(event).encode()
    )
    return json.loads(response["Payload"].read()), response


def instance_pids(stack_pid: int) -> set[int]:
    """The stack's instance processes (its children), running now."""
    return {
        child.pid for child in psutil.Process(stack_pid).children(recursive=True) if _running(child)
    }


def _running(process: psutil.Process) -> bool:
    # A reclaimed instance can exit between being listed and being looked at.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
