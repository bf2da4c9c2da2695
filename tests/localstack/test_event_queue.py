"""The asynchronous (`Event`) invoke queue: what a waiting event costs the stack, the caps
that bound it, and retries that do not come in waves."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import psutil

from lukewarm.localstack import invoke
from lukewarm.localstack.pool import Throttled
from tests.localstack.conftest import FAKE_FUNCTION, http, instance_pids

T = TypeVar("T")

ONE_MB_OF_OBJECTS = b"[" + b"{}," * 349_000 + b"{}]"
"""Just under Lambda's 1 MiB Event payload: 349,001 empty objects, the costliest JSON to
keep parsed (a dict each)."""


class SaturatedPool:
    """A pool whose every instance is busy: records when each event asks, runs nothing."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.invoked: list[Any] = []
        self.saturated = True

    def is_saturated(self) -> bool:
        self.asked.append(time.monotonic())
        return self.saturated

    async def invoke(self, event: Any, request_id: str | None = None) -> Any:
        if self.saturated:
            self.asked.append(time.monotonic())
            raise Throttled("busy")
        self.invoked.append(event)

        class Done:
            error = None
            cold = False
            init_ms = restore_ms = None
            instance, pid = "i-1", 1

        return Done()


def event_invoke(stack, payload: bytes):
    return http(
        stack.invoke_endpoint + "/2015-03-31/functions/lukewarm/invocations?Qualifier=live",
        data=payload,
        headers={"X-Amz-Invocation-Type": "Event"},
    )


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a loop of its own: asyncio.run leaves the main thread's loop unset,
    and the Pulumi mocks of later tests (tests/policy) need `asyncio.get_event_loop()`."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario)
    finally:
        loop.close()


def test_a_queued_1_mb_event_costs_the_stack_about_its_size_not_its_parsed_size(
    local_stack_factory,
):
    # Parsed, each of these events held about 24 MB of dicts while it waited.
    # The stack's clock x200: throttled events retry after 5 ms, 10 ms, ... up to 1.5 s.
    stack = local_stack_factory(
        task_root=FAKE_FUNCTION, no_warmer=True, max_instances=1, time_scale=200
    )
    busy = threading.Thread(
        target=http, args=(stack.url + "caption?sleep=6",), kwargs={"data": b"x"}
    )
    busy.start()
    deadline = time.monotonic() + 30
    while len(instance_pids(stack.pid)) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # the only instance has taken the sleeping request
    stack_process = psutil.Process(stack.pid)
    assert event_invoke(stack, b"{}").status == 202  # the queue's own first costs paid
    before = stack_process.memory_info().rss

    statuses = [event_invoke(stack, ONE_MB_OF_OBJECTS).status for _ in range(20)]
    grown_per_event = (stack_process.memory_info().rss - before) / 20
    assert busy.is_alive()  # all 20 were waiting when measured
    busy.join()

    assert statuses == [202] * 20
    print(f"queued 1 MB event: {grown_per_event / 2**20:.2f} MiB of stack RSS each")
    # The payload itself, and the allocator's slack around the copies a request makes.
    assert grown_per_event < 4 * 1024 * 1024, f"{grown_per_event / 2**20:.1f} MiB an event"
    # Parsed on delivery, every one of them runs once the instance is free.
    deadline = time.monotonic() + 60
    while stack.log().count("EVENT lukewarm:live 200") < 21:
        assert time.monotonic() < deadline, stack.log()[-2000:]
        time.sleep(0.1)


def test_the_queue_is_capped_by_bytes_as_well_as_by_count():
    async def scenario() -> tuple[list[str | None], list[str | None]]:
        by_bytes = invoke.EventQueue(SaturatedPool(), max_events=100, max_bytes=3_000_000)
        by_count = invoke.EventQueue(SaturatedPool(), max_events=3, max_bytes=3_000_000)
        refused_by_bytes = [by_bytes.put(b"x" * 1_000_000, f"r{n}", "f:live") for n in range(4)]
        refused_by_count = [by_count.put(b"{}", f"r{n}", "f:live") for n in range(4)]
        await by_bytes.close()
        await by_count.close()
        return refused_by_bytes, refused_by_count

    refused_by_bytes, refused_by_count = run(scenario())

    assert refused_by_bytes[:3] == [None, None, None]
    assert refused_by_bytes[3] == (
        "the local stack's event queue is full (3,000,000 bytes of 3,000,000 wait)"
    )
    assert refused_by_count[:3] == [None, None, None]
    assert refused_by_count[3] == "the local stack's event queue is full (3 events wait)"


def test_the_byte_cap_is_freed_as_events_leave_the_queue():
    async def scenario() -> tuple[str | None, list[Any]]:
        pool = SaturatedPool()
        queue = invoke.EventQueue(pool, time_scale=100, max_events=10, max_bytes=20)
        assert queue.put(b'{"n": 1, "pad": 0}', "r1", "f:live") is None
        pool.saturated = False
        for _ in range(100):
            if pool.invoked:
                break
            await asyncio.sleep(0.01)
        refused = queue.put(b'{"n": 2, "pad": 0}', "r2", "f:live")
        await asyncio.sleep(0.05)
        await queue.close()
        return refused, pool.invoked

    refused, delivered = run(scenario())

    assert refused is None
    assert delivered == [{"n": 1, "pad": 0}, {"n": 2, "pad": 0}]


def test_throttled_events_retry_spread_out_not_in_a_wave(monkeypatch):
    # The first retry is due 1 s after a throttle. Thirty events throttled together used
    # to retry within a millisecond of each other, every time. The waits are checked as
    # drawn, and the retries as they came: a loop stalled by a loaded machine can only
    # spread them more, never bunch them.
    draw = random.uniform
    drawn: list[float] = []

    def uniform(low: float, high: float) -> float:
        drawn.append(draw(low, high))
        return drawn[-1]

    monkeypatch.setattr(invoke.random, "uniform", uniform)

    async def scenario() -> list[float]:
        pool = SaturatedPool()
        queue = invoke.EventQueue(pool)
        for n in range(30):
            queue.put(json.dumps({"n": n}).encode(), f"r{n}", "f:live")
        deadline = time.monotonic() + 10
        while len(pool.asked) < 60 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await queue.close()
        return pool.asked

    asked = run(scenario())

    first_asks, retries = asked[:30], sorted(asked[30:60])
    assert len(retries) == 30
    # Each waits between half the backoff and all of it...
    assert all(0.5 <= wait <= 1.0 for wait in drawn[:30]), drawn
    assert retries[0] - min(first_asks) >= 0.5
    # ...drawn at random, so together they spread over hundreds of milliseconds.
    assert max(drawn[:30]) - min(drawn[:30]) > 0.2, drawn
    assert retries[-1] - retries[0] > 0.2, retries
