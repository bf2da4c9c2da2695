"""`lukewarm serve --max-instances` without a reservation: the stack's default reserves
none (`reservedConcurrency: 0`), and the local stack still runs, with its own cap."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from lukewarm.serve import DEFAULT_MAX_INSTANCES, default_max_instances
from tests.localstack.conftest import FAKE_FUNCTION, http


def test_without_a_reservation_the_stack_serves_up_to_its_own_cap(local_stack_factory):
    stack = local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(
                lambda _: http(
                    stack.url + "caption?sleep=0.5",
                    data=b"x",
                    headers={"Content-Type": "image/png"},
                ),
                range(2),
            )
        )

    assert [answer.status for answer in answers] == [200, 200]
    assert len({answer.json()["instance"] for answer in answers}) == 2
    deadline = time.monotonic() + 5
    while "up to" not in stack.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"up to {DEFAULT_MAX_INSTANCES} instances" in stack.log()


def test_a_reservation_is_the_local_cap_too():
    assert default_max_instances(2) == 2
    assert default_max_instances(0) == DEFAULT_MAX_INSTANCES
