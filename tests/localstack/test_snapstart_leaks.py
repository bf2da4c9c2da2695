"""`lukewarm serve --snapstart` over time: instances that die while idle and a snapshot
that dies leave no descriptor, socket or snapshot directory behind."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psutil

from tests.localstack.conftest import instance_pids, invoke, lambda_client
from tests.localstack.test_snapstart import SNAPSTART_FUNCTION, wait_for_snapshot


def reaped(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(timeout=10)


def snapshot_dir(pid: int) -> Path:
    """The snapshot's `lukewarm-snapshot-*` directory, from its environment."""
    return Path(psutil.Process(pid).environ()["LUKEWARM_SNAPSHOT_SOCKET"]).parent


def test_restored_instances_killed_while_idle_leak_no_descriptors(local_stack_factory):
    stack = local_stack_factory(
        task_root=SNAPSTART_FUNCTION, no_warmer=True, snapstart=True, max_instances=1
    )
    snapshot_pid = int(wait_for_snapshot(stack)["pid"])
    client = lambda_client(stack.invoke_endpoint)
    stack_process = psutil.Process(stack.pid)
    first = invoke(client, {})[0]
    fds_before = stack_process.num_fds()

    killed = [first["pid"]]
    for _ in range(6):
        os.kill(killed[-1], signal.SIGKILL)
        reaped(killed[-1])
        answer = invoke(client, {})[0]  # the dead one is dropped, a new one restored
        assert answer["restored"] is True
        killed.append(answer["pid"])
    fds_after = stack_process.num_fds()

    assert stack.log().count("exited while idle") == 6
    assert instance_pids(stack.pid) == {snapshot_pid, killed[-1]}
    # Before, each killed instance kept its two sockets open: 26 -> 38 over six kills.
    assert fds_after == fds_before, (fds_before, fds_after)


def test_a_dead_snapshot_is_stopped_and_its_directory_removed(local_stack_factory):
    stack = local_stack_factory(
        task_root=SNAPSTART_FUNCTION, no_warmer=True, snapstart=True, max_instances=1
    )
    first_pid = int(wait_for_snapshot(stack)["pid"])
    first_dir = snapshot_dir(first_pid)
    client = lambda_client(stack.invoke_endpoint)
    invoke(client, {})
    stack_process = psutil.Process(stack.pid)
    fds_before = stack_process.num_fds()
    assert (first_dir / "restore.sock").is_socket()

    os.kill(first_pid, signal.SIGKILL)  # its restored instance dies with it
    reaped(first_pid)
    deadline = time.monotonic() + 30
    while len(instance_pids(stack.pid)) > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answer = invoke(client, {})[0]  # a new snapshot, and an instance restored from it
    (second_pid,) = instance_pids(stack.pid) - {answer["pid"]}
    second_dir = snapshot_dir(second_pid)

    assert answer["restored"] is True
    assert second_pid != first_pid
    assert not first_dir.exists()
    assert stack_process.num_fds() == fds_before
    stack.stop()  # SIGTERM: a clean shutdown
    assert not second_dir.exists()


def test_a_snapshot_that_died_unreplaced_is_cleaned_up_at_shutdown(local_stack_factory):
    stack = local_stack_factory(task_root=SNAPSTART_FUNCTION, no_warmer=True, snapstart=True)
    pid = int(wait_for_snapshot(stack)["pid"])
    directory = snapshot_dir(pid)
    os.kill(pid, signal.SIGKILL)
    reaped(pid)

    assert stack.stop() == 0
    assert not directory.exists()
