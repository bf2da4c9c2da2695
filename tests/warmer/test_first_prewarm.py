"""The first warm-up of a new image: an init past Lambda's 10 s cap is waited for.

Lambda re-runs such an init inside the invoke, up to the function timeout, so the
very first pre-warm after a deploy can take the init cap plus the timeout; the warmer
must report the instance it warmed, not a timeout.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tests.localstack.conftest import FAKE_FUNCTION
from warmer import handler as warmer

SLOW_INIT_S = 12.5
"""Past Lambda's init cap (10 s) and past what the warmer once waited for (the hold + 12 s)."""
FUNCTION_TIMEOUT_S = 5


@pytest.fixture
def slow_first_init(local_stack_factory, monkeypatch):
    """A local stack whose instances take SLOW_INIT_S to start, and the warmer's environment."""
    stack = local_stack_factory(
        task_root=FAKE_FUNCTION,
        no_warmer=True,
        timeout=FUNCTION_TIMEOUT_S,
        env={"FAKE_INIT_S": str(SLOW_INIT_S)},
    )
    for name, value in {
        "FUNCTION_NAME": "lukewarm",
        "FUNCTION_TIMEOUT_S": str(FUNCTION_TIMEOUT_S),
        "LAMBDA_ENDPOINT_URL": stack.invoke_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return stack


def test_a_first_init_past_lambdas_cap_is_reported_warm_not_timed_out(slow_first_init, capsys):
    deadline = time.monotonic() + 60
    context = SimpleNamespace(
        get_remaining_time_in_millis=lambda: int((deadline - time.monotonic()) * 1000)
    )

    summary = warmer.handler({"concurrency": 1, "hold_ms": 0}, context)

    assert summary["timeouts"] == 0, summary["error_details"]
    assert summary["errors"] == 0
    assert summary["instances_reached"] == 1
    assert summary["cold_starts"] == 1
    assert summary["duration_ms"] >= SLOW_INIT_S * 1000


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("25", 25.0), ("7.5", 7.5), (None, 30.0), ("", 30.0), ("soon", 30.0), ("0", 30.0)],
)
def test_the_function_timeout_comes_from_the_environment_or_is_the_longest_allowed(raw, seconds):
    assert warmer._function_timeout_s(raw) == seconds
