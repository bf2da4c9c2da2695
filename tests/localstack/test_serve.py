"""`lukewarm serve` as a person runs it: the warm schedules run inside, bad flags are refused."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import ROOT
from tests.localstack.conftest import FAKE_FUNCTION, http


def test_the_stacks_own_schedule_keeps_an_idle_instance_warm(local_stack_factory):
    # At x100 the default rate(5 minutes) fires every 3 s and instances idle for 4 s are
    # reclaimed; without the warmer the request after 6 s of silence would be cold.
    stack = local_stack_factory(task_root=FAKE_FUNCTION, time_scale=100, idle_timeout=400)
    http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})
    time.sleep(6.5)
    later = http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})

    log = stack.log()
    assert "warm run (start)" in log
    assert "warm run (rate(5 minutes))" in log
    assert later.json()["cold_start"] is False
    assert any(line.startswith("INVOKE lukewarm:live 200") for line in stack.request_lines())


def serve(*flags):
    return subprocess.run(
        [sys.executable, "-m", "lukewarm", "serve", "--port", "0", *flags],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )


def test_an_unknown_stack_is_refused_with_the_stacks_there_are():
    finished = serve("--stack", "no-such-stack")

    assert finished.returncode == 2
    assert "no stack file Pulumi.no-such-stack.yaml" in finished.stderr


def test_a_missing_model_directory_is_refused_with_how_to_get_one(tmp_path):
    finished = serve("--model-dir", str(tmp_path / "missing"))

    assert finished.returncode == 2
    assert "no model directory" in finished.stderr
    assert "make demo-model" in finished.stderr
