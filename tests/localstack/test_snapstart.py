"""`lukewarm serve --snapstart`: instances restored from one snapshot by fork, as SnapStart
restores them, with the after-restore hooks run in each, the cap, reclaim and a failing
hook behaving as they do on Lambda.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import botocore.exceptions
import psutil
import pytest

from lukewarm.checkout import FUNCTION_DIR
from tests.localstack.conftest import http, instance_pids, invoke, lambda_client

SNAPSTART_FUNCTION = Path(__file__).resolve().parent / "snapstart_function"
SNAPSHOT_READY = re.compile(
    r"snapshot initialised \(pid (?P<pid>\d+), init (?P<ms>\d+) ms, (?P<cpu_ms>\d+) ms CPU\)"
)
RESTORED = re.compile(
    r"(?P<id>i-\d+) restored from the snapshot in \d+ ms \((?P<cpu_ms>\d+) ms CPU\)"
)


def wait_for_snapshot(stack, timeout: float = 60.0) -> re.Match[str]:
    """The snapshot's log line, once it has initialised (the stack makes it at start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready := SNAPSHOT_READY.search(stack.log()):
            return ready
        time.sleep(0.1)
    raise AssertionError(f"no snapshot within {timeout} s:\n{stack.log()}")


def concurrently(count: int, function, *args):
    """Run `function(*args)` `count` times at once; the results in order of start."""
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = function(*args)
        except Exception as error:  # the test asserts on it
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def warm(client, hold_ms: int):
    return invoke(client, {"lukewarm": {"action": "warm", "hold_ms": hold_ms}})[0]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_concurrent_warm_ups_reach_distinct_restored_instances_of_the_demo_model(
    local_stack_factory, runtime
):
    # Two threads asked for: the snapshot still starts one only, so forked children can run
    # either runtime (torch's thread pool does not survive fork; ONNX Runtime's sessions
    # do after a warm-up run, which the before-snapshot hook makes).
    stack = local_stack_factory(
        no_warmer=True,
        snapstart=True,
        function_logs=True,
        runtime=runtime,
        env={"LUKEWARM_THREADS": "2"},
    )
    snapshot = wait_for_snapshot(stack)
    client = lambda_client(stack.invoke_endpoint)

    answers = concurrently(3, warm, client, 2000)
    again = warm(client, 0)
    caption = http(
        stack.url + "caption",
        data=(FUNCTION_DIR.parent / "data" / "photos" / "coffee.png").read_bytes(),
        headers={"Content-Type": "image/png"},
    )

    ids = {answer["instance"] for answer in answers}
    assert len(ids) == 3
    assert all(answer["restored"] and not answer["cold_start"] for answer in answers)
    # init_ms is the snapshot's: the restored instances never ran the init themselves.
    (init_ms,) = {answer["init_ms"] for answer in answers}
    assert 0 < init_ms <= float(snapshot["ms"]) + 1
    assert again["instance"] in ids and again["restored"] is False
    assert caption.status == 200 and caption.json()["instance"] in ids
    assert caption.json()["model"]["runtime"].startswith(runtime)  # onnx, onnx-int8 or torch

    log = stack.log()
    snapshot_id = re.search(
        r"\[snapshot\] .*\"instance initialised\".*?\"instance\":\"(\w+)\"", log
    )
    restored = [json.loads(line.split("] ", 1)[1]) for line in log.splitlines()
                if '"instance restored"' in line]  # fmt: skip
    # Every instance ran the after-restore hooks, which renewed the snapshot's id.
    assert {entry["instance"] for entry in restored} == ids
    assert snapshot_id is not None and snapshot_id[1] not in ids
    assert {entry["snapshot"] for entry in restored} == {snapshot_id[1]}

    lines = [line for line in stack.request_lines() if line.startswith("INVOKE")]
    restores = [float(m[1]) for line in lines if (m := re.search(r"restore (\d+) ms$", line))]
    assert len(restores) == 3
    assert all(" restore i-" in line for line in lines[:3])
    # In CPU time, which a busy machine hardly moves: the forked child's connecting and
    # hooks against the imports and model load (a hundredth or less with either runtime here).
    restore_cpu = [float(m["cpu_ms"]) for m in RESTORED.finditer(stack.log())]
    assert len(restore_cpu) == 3
    assert max(restore_cpu) < float(snapshot["cpu_ms"]) / 5


def test_a_failing_after_restore_hook_fails_the_restore_as_lambda_reports_it(
    local_stack_factory,
):
    stack = local_stack_factory(
        task_root=SNAPSTART_FUNCTION, no_warmer=True, snapstart=True,
        env={"FAKE_RESTORE": "raise"},
    )  # fmt: skip
    wait_for_snapshot(stack)
    client = lambda_client(stack.invoke_endpoint)

    with pytest.raises(client.exceptions.SnapStartException) as failed:
        invoke(client, {})
    through_api = http(stack.url + "caption", data=b"x", headers={"Content-Type": "image/png"})

    assert "afterRestore() runtime hook renew failed" in str(failed.value)
    assert "restore failed on purpose" in str(failed.value)
    assert through_api.status == 500
    assert through_api.json() == {"message": "Internal Server Error"}
    # The failed instances are gone; only the snapshot runs.
    time.sleep(0.5)
    assert len(instance_pids(stack.pid)) == 1


def test_restored_instances_are_capped_reclaimed_and_stopped_like_cold_ones(
    local_stack_factory,
):
    stack = local_stack_factory(
        task_root=SNAPSTART_FUNCTION, no_warmer=True, snapstart=True,
        max_instances=2, idle_timeout=2,
    )  # fmt: skip
    wait_for_snapshot(stack)
    client = lambda_client(stack.invoke_endpoint)

    busy = concurrently(3, lambda: invoke(client, {"sleep": 1.5})[0])
    throttled = [answer for answer in busy if isinstance(answer, botocore.exceptions.ClientError)]
    served = [answer for answer in busy if isinstance(answer, dict)]
    assert len(throttled) == 1 and len(served) == 2
    assert throttled[0].response["Error"]["Code"] == "TooManyRequestsException"
    assert all(answer["restored"] and answer["hooks_run"] == 1 for answer in served)
    assert len({answer["pid"] for answer in served}) == 2

    deadline = time.monotonic() + 15
    while len(instance_pids(stack.pid)) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(instance_pids(stack.pid)) == 1  # both reclaimed; the snapshot stays
    after_idle = invoke(client, {})[0]
    assert after_idle["pid"] not in {answer["pid"] for answer in served}
    assert after_idle["restored"] is True
    assert "reclaimed after" in stack.log()

    processes = [psutil.Process(pid) for pid in instance_pids(stack.pid)]
    stack.stop()
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE
                   for process in processes)  # fmt: skip


def test_the_warmer_counts_the_instances_it_had_restored(local_stack_factory, monkeypatch, capsys):
    from warmer import handler as warmer

    stack = local_stack_factory(task_root=SNAPSTART_FUNCTION, no_warmer=True, snapstart=True)
    wait_for_snapshot(stack)
    for name, value in {
        "FUNCTION_NAME": "lukewarm",
        "LAMBDA_ENDPOINT_URL": stack.invoke_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()

    first = warmer.handler({"concurrency": 2, "hold_ms": 300}, None)
    emf = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    again = warmer.handler({"concurrency": 2, "hold_ms": 300}, None)

    assert (first["instances_reached"], first["restores"], first["cold_starts"]) == (2, 2, 0)
    assert emf["WarmRestores"] == 2
    assert "WarmRestores" in {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert (again["instances_reached"], again["restores"]) == (2, 0)
