"""The warm schedules, run against the local stack by the real warmer.

Each configured window fires when its schedule says (`WarmSchedule.next_run`, the same
evaluation as the deployed stack's), and then the warmer's own code, `warmer.handler`,
invokes the local alias through boto3 exactly as the warmer Lambda does on AWS.

`time_scale` makes the stack's clock run faster than the wall clock: at 60, a
`rate(5 minutes)` window fires every 5 seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from contract import ALIAS, parse_warmer_input, warmer_input
from warmer import handler as warmer

from .logs import LogGroups

log = logging.getLogger("lukewarm.warmer")

# The warmer Lambda's own timeout; infra/warming.py gives it the same budget.
WARMER_BUDGET_S = 60.0
# Dummy credentials: the local invoke endpoint checks none, but botocore signs every call.
LOCAL_CLIENT = {
    "region_name": "us-east-1",
    "aws_access_key_id": "local",
    "aws_secret_access_key": "local",
}


class Schedule(Protocol):
    @property
    def schedule(self) -> str: ...
    @property
    def concurrency(self) -> int: ...

    def next_run(self, after: datetime) -> datetime | None: ...


class StackClock:
    """The stack's time: starts at the wall-clock now and runs `scale` times faster."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._wall = datetime.now(UTC)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._wall + timedelta(seconds=(time.monotonic() - self._started) * self.scale)

    def seconds_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds() / self.scale)


def run_warmer(
    endpoint_url: str,
    function_name: str,
    concurrency: int,
    hold_ms: int,
    function_timeout_s: float,
) -> dict[str, Any]:
    """One warmer run against the local invoke endpoint (blocking: run it in a thread).

    The schedule's input is built by the same rule as the deployed schedules' and read
    by the warmer's own parser.
    """
    event = warmer_input(concurrency, hold_ms)
    concurrency, hold_ms = parse_warmer_input(event)
    return warmer.warm(
        function_name,
        ALIAS,
        concurrency,
        hold_ms,
        budget_s=WARMER_BUDGET_S,
        function_timeout_s=function_timeout_s,
        endpoint_url=endpoint_url,
        client_options=LOCAL_CLIENT,
    )


class WarmScheduler:
    def __init__(
        self,
        schedules: Sequence[Schedule],
        *,
        endpoint_url: str,
        function_name: str,
        hold_ms: int,
        function_timeout_s: float,
        clock: StackClock,
        logs: LogGroups | None = None,
    ) -> None:
        self.schedules = schedules
        self.logs = logs or LogGroups(None)
        self.endpoint_url = endpoint_url
        self.function_name = function_name
        self.hold_ms = hold_ms
        # As the deployed warmer learns it (FUNCTION_TIMEOUT_S): how long a warm-up whose
        # instance is still initialising may take.
        self.function_timeout_s = function_timeout_s
        self.clock = clock

    async def warm(self, concurrency: int, reason: str) -> dict[str, Any]:
        summary = await asyncio.to_thread(
            run_warmer,
            self.endpoint_url,
            self.function_name,
            concurrency,
            self.hold_ms,
            self.function_timeout_s,
        )
        log.info("warm run (%s): %s", reason, json.dumps(summary, separators=(",", ":")))
        # What the deployed warmer prints: its summary as one EMF line, in its log group.
        self.logs.warmer(warmer.emf_line(summary))
        return summary

    async def follow(self, schedule: Schedule, runs: asyncio.TaskGroup) -> None:
        """Forever: at each of the schedule's times, start a warmer run.

        Each run is independent, as EventBridge Scheduler's invocations are: a run still
        waiting on a slow cold start does not delay the next one.
        """
        while True:
            when = schedule.next_run(self.clock.now())
            if when is None:
                return
            await asyncio.sleep(self.clock.seconds_until(when))
            runs.create_task(self.warm(schedule.concurrency, schedule.schedule))

    async def run(self, prewarm: bool = False) -> None:
        """Follow every schedule; with `prewarm`, first warm once as a deploy does."""
        if prewarm:
            await self.warm(max(schedule.concurrency for schedule in self.schedules), "start")
        async with asyncio.TaskGroup() as runs:
            for schedule in self.schedules:
                runs.create_task(self.follow(schedule, runs))
