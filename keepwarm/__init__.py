"""Keep any Python Lambda function warm with lukewarm's warmer, and let it count instances.

lukewarm's warmer invokes a function's alias N times at once with a warm-up event,
`{"lukewarm": {"action": "warm", "hold_ms": M}}`. This helper answers that event the way
lukewarm's captioner does: it holds the instance for `hold_ms` (so the other invokes land
on other instances), then says which instance it is and whether this was its cold start or
its first invoke after a SnapStart restore. The warmer counts distinct instances from those
answers. A warm-up never reaches your handler; every other event does, unchanged.

    import keepwarm                  # first, so `init_ms` covers your own init

    @keepwarm.keep_warm
    def handler(event, context):
        ...

With Powertools, as a middleware:

    from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
    keep_warm = lambda_handler_decorator(keepwarm.middleware)

    @keep_warm
    def handler(event, context):
        ...

Standard library only, plus lukewarm's `contract` package (the warm-up event, written once
for every part that sends or answers it): install lukewarm into the function's package, or
copy this file as `keepwarm.py` and `function/contract/` as `contract/` next to your
handler. A function without it is still warmed, but the warmer cannot tell its instances
apart and reports those pings as unverified.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from contract import is_warm_up, parse_warm_up

IMPORTED = time.perf_counter()

Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclass
class Instance:
    """This execution environment, as the warmer counts it."""

    id: str
    init_ms: float | None = None
    """From this module's import to the first invoke: the init that invoke waited for."""
    invocations: int = 0
    cold_start: bool = True
    restored: bool = False
    from_snapshot: bool = False

    def begin_invocation(self) -> None:
        # Provisioned concurrency initialises ahead of traffic: nobody waited for that init.
        provisioned = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"
        first = self.invocations == 0
        if first and self.init_ms is None:
            self.init_ms = round((time.perf_counter() - IMPORTED) * 1000, 1)
        self.cold_start = first and not provisioned and not self.from_snapshot
        self.restored = first and self.from_snapshot
        self.invocations += 1

    def renew(self) -> None:
        """After a SnapStart restore: a new instance, sharing the snapshot's memory with every
        other one restored from it, so it needs its own id."""
        self.id = new_instance_id()
        self.invocations = 0
        self.from_snapshot = True


def new_instance_id() -> str:
    return secrets.token_hex(6)


instance = Instance(new_instance_id())

try:  # Lambda's Python runtimes with SnapStart ship this; elsewhere there is nothing to renew.
    from snapshot_restore_py import register_after_restore
except ImportError:
    pass
else:
    register_after_restore(instance.renew)


def warm_up(hold_ms: int) -> dict[str, Any]:
    """Hold this instance, then say which one it is: the answer the warmer counts."""
    time.sleep(hold_ms / 1000)
    return {
        "warm": True,
        "instance": instance.id,
        "cold_start": instance.cold_start,
        "restored": instance.restored,
        "init_ms": instance.init_ms,
    }


def answer(event: Any) -> dict[str, Any] | None:
    """The answer to a warm-up event (also to a malformed one), or None for any other event.

    Call it once per invoke, first thing: it also counts the invoke for this instance.
    """
    instance.begin_invocation()
    if not is_warm_up(event):
        return None
    try:
        hold_ms = parse_warm_up(event)
    except ValueError as error:
        return {"warm": False, "error": {"code": "bad_warm_event", "message": str(error)}}
    return warm_up(hold_ms)


def keep_warm(handler: Handler) -> Handler:
    """Decorate a Lambda handler so that warm-ups are answered here and never reach it."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        warm = answer(event)
        return warm if warm is not None else handler(event, context, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def middleware(handler: Callable[..., Any], event: Any, context: Any, **kwargs: Any) -> Any:
    """The same, in Powertools' middleware signature (`lambda_handler_decorator(middleware)`)."""
    warm = answer(event)
    return warm if warm is not None else handler(event, context, **kwargs)
