"""`lukewarm serve` as a person runs it: the warm schedules run inside, bad flags are refused."""

from __future__ import annotations

import os
import time

from tests.conftest import ROOT
from tests.localstack.conftest import FAKE_FUNCTION, http, invoke, lambda_client, serve_once


def test_the_stacks_own_schedule_keeps_an_idle_instance_warm(local_stack_factory):
    # At x100 the default rate(5 minutes) fires every 3 s and instances idle for 6 s are
    # reclaimed. The same stack without its warmer is the control: after 9 s of silence
    # its request is cold, while the warmed stack's is warm.
    options = {"task_root": FAKE_FUNCTION, "time_scale": 100, "idle_timeout": 600}
    warmed = local_stack_factory(**options)
    control = local_stack_factory(no_warmer=True, **options)
    for stack in (warmed, control):
        http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})
    time.sleep(9)
    later = {
        stack: http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})
        for stack in (warmed, control)
    }

    log = warmed.log()
    assert "warm run (start)" in log
    assert "warm run (rate(5 minutes))" in log
    assert later[warmed].json()["cold_start"] is False
    assert later[control].json()["cold_start"] is True
    assert any(line.startswith("INVOKE lukewarm:live 200") for line in warmed.request_lines())


def test_an_unknown_stack_is_refused_with_the_stacks_there_are():
    finished = serve_once("--stack", "no-such-stack")

    assert finished.returncode == 2
    assert "no stack file Pulumi.no-such-stack.yaml" in finished.stderr


def test_a_missing_model_directory_is_refused_with_how_to_get_one(tmp_path):
    finished = serve_once("--model-dir", str(tmp_path / "missing"))

    assert finished.returncode == 2
    assert "no model directory" in finished.stderr
    assert "make demo-model" in finished.stderr


def test_the_functions_own_logs_are_printed_on_request(local_stack_factory):
    quiet = local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True)
    verbose = local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, function_logs=True)
    for stack in (quiet, verbose):
        http(stack.url + "caption?fail=1", data=b"x", headers={"Content-Type": "image/png"})
    deadline = time.monotonic() + 30
    while "RuntimeError: failed on purpose" not in verbose.log():
        assert time.monotonic() < deadline, verbose.log()
        time.sleep(0.05)

    assert "RuntimeError: failed on purpose" not in quiet.log()
    assert "lukewarm.function [i-1] RuntimeError: failed on purpose" in verbose.log()
    assert "POST /caption 500 cold i-1" in quiet.log()


def test_the_log_level_reaches_the_function_as_lambdas_logging_config_sets_it(
    local_stack_factory,
):
    # Powertools reads AWS_LAMBDA_LOG_LEVEL before LOG_LEVEL: what Lambda sets from the
    # deployed logging config is what decides whether DEBUG lines are written.
    default = local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True)
    debug = local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, log_level="debug")

    levels = [
        invoke(lambda_client(s.invoke_endpoint), {})[0]["log_level"] for s in (default, debug)
    ]

    assert levels == ["INFO", "DEBUG"]


def test_an_unknown_log_level_is_refused_with_the_levels_there_are():
    finished = serve_once("--log-level", "chatty")

    assert finished.returncode == 2
    assert "DEBUG" in finished.stderr and "ERROR" in finished.stderr


def test_serve_with_a_stack_uses_that_stacks_values(local_stack_factory):
    # The stack file sits beside Pulumi.yaml, where `pulumi config set` writes it.
    name = f"serve-test-{os.getpid()}"
    stack_file = ROOT / f"Pulumi.{name}.yaml"
    stack_file.write_text(
        "config:\n"
        "  lukewarm:reservedConcurrency: 2\n"
        "  lukewarm:timeout: 7\n"
        "  lukewarm:warmSchedules:\n"
        "    - schedule: rate(1 hour)\n"
        "      concurrency: 2\n"
    )
    try:
        stack = local_stack_factory(task_root=FAKE_FUNCTION, stack=name)
    finally:
        stack_file.unlink()
    answer = http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})

    assert "lukewarm: up to 2 instances, " in stack.log()
    assert ", function timeout 7 s, warming: rate(1 hour) x2\n" in stack.log()
    assert 5_000 < answer.json()["remaining_ms"] <= 7_000


def test_flags_are_refused_as_the_stack_refuses_the_keys_they_override():
    too_long = serve_once("--timeout", "900")
    too_held = serve_once("--warm-hold-ms", "40000")
    no_port = serve_once("--port", "99999")

    assert too_long.returncode == too_held.returncode == no_port.returncode == 2
    assert too_long.stderr.strip().endswith(
        "lukewarm:timeout = 900: must be an integer from 1 to 30 (seconds; the HTTP API gives "
        "up at 30) (given by --timeout)"
    )
    assert "lukewarm:warmHoldMs = 40000" in too_held.stderr
    assert no_port.stderr.splitlines()[-1] == (
        "lukewarm serve: error: argument --port: must be 0-65535, got 99999"
    )
    assert "Traceback" not in too_long.stderr + too_held.stderr + no_port.stderr


def test_a_directory_that_is_no_model_is_refused_before_the_banner():
    finished = serve_once("--model-dir", str(ROOT / "data" / "photos"))

    assert finished.returncode == 2
    assert "upload page" not in finished.stderr
    assert finished.stderr.strip() == (
        f"lukewarm serve: {ROOT / 'data' / 'photos'} is not a model directory lukewarm can "
        f"serve: {ROOT / 'data' / 'photos' / 'config.json'} is missing"
    )
