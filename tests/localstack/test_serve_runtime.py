"""`lukewarm serve --runtime`: every instance is told which runtime to load the model with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.localstack.conftest import http

# A function that answers with the runtime its instance was started with.
ECHO_RUNTIME = """
import json, os

def handler(event, context):
    runtime = os.environ.get("LUKEWARM_RUNTIME", "unset")
    return {"statusCode": 200, "body": json.dumps({"runtime": runtime})}
"""


@pytest.fixture(scope="module")
def echo_function(tmp_path_factory: pytest.TempPathFactory) -> Path:
    task_root = tmp_path_factory.mktemp("echo-runtime")
    (task_root / "app.py").write_text(ECHO_RUNTIME)
    return task_root


@pytest.mark.parametrize(
    ("flag", "runtime"), [(None, "onnx"), ("torch", "torch"), ("onnx", "onnx")]
)
def test_instances_run_the_runtime_of_the_flag_or_the_stack(
    local_stack_factory, echo_function: Path, flag: str | None, runtime: str
) -> None:
    stack = local_stack_factory(task_root=echo_function, no_warmer=True, runtime=flag)
    answer = http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})

    assert answer.status == 200
    assert answer.json() == {"runtime": runtime}
    assert f"lukewarm: runtime {runtime}" in stack.log()


def test_an_unknown_runtime_is_refused_with_the_choices() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "lukewarm", "serve", "--port", "0", "--runtime", "tensorflow"],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )

    assert finished.returncode == 2
    error = finished.stderr.splitlines()[-1]
    assert "argument --runtime: invalid choice: 'tensorflow'" in error
    assert "onnx" in error and "torch" in error
