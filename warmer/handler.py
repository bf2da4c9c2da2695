"""The warmer Lambda: keep N instances of the captioner's alias luke-warm.

EventBridge Scheduler invokes it with `{"concurrency": N, "hold_ms": M}`. It sends N
concurrent warm-up invokes to the alias; each holds its instance for `hold_ms` so the
others land on different instances. Lambda decides where invokes land, so reaching N
instances is best-effort: if fewer answered, one more wave with a longer hold tries
again, and the run reports what it really reached in one log line that is both a
JSON summary and CloudWatch embedded metrics (EMF).

A throttled, failing or slow function is counted and reported, never raised, and the
SDK never retries: a struggling function gets no retry storm from its own warmer.

A deploy's pre-warm names the version it just published (`{"version": "7"}`). A new
version is not servable while it is Pending (a SnapStart version while Lambda makes its
snapshot, for minutes on a first deploy), so the pre-warm first waits, bounded, until the
version is Active, and says plainly when it is not.
Standard library, boto3 and `contract` only, so it deploys as a small zip.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from contract import (
    ALIAS,
    INIT_CAP_S,
    MAX_HOLD_MS,
    parse_prewarm_version,
    parse_warm_answer,
    parse_warmer_input,
    warm_up_event,
)

SECOND_WAVE_HOLD_FACTOR = 3
CONNECT_TIMEOUT_S = 2.0
# A cold instance loads the model before it answers, within INIT_CAP_S, or re-runs a longer
# init inside the invoke, which the function timeout bounds: the very first warm-up of a
# new image can take that cap plus the function timeout. On top of that, for the network
# and Lambda's own overhead.
NETWORK_ALLOWANCE_S = 2.0
# The function timeout when FUNCTION_TIMEOUT_S does not say: the longest a stack allows.
DEFAULT_FUNCTION_TIMEOUT_S = 30.0
# Time kept back at the end of the warmer's own timeout for logging and returning.
SAFETY_MARGIN_S = 1.5
# Budget when no Lambda context says how long is left (local runs, tests).
DEFAULT_BUDGET_S = 60.0
METRICS_NAMESPACE = "lukewarm"
# How long a deploy's pre-warm waits for its version to become Active, and how often it
# asks: botocore's own `published_version_active` waiter asks every 5 s.
ACTIVE_WAIT_S = 210.0
ACTIVE_POLL_S = 5.0
# Kept for the warm-up waves after the wait: one wave's longest invoke and the margin.
WAVE_RESERVE_S = INIT_CAP_S + DEFAULT_FUNCTION_TIMEOUT_S + NETWORK_ALLOWANCE_S + SAFETY_MARGIN_S

OK = "ok"
THROTTLED = "throttled"
FUNCTION_ERROR = "function_error"
TIMEOUT = "timeout"
ERROR = "error"
UNVERIFIED = "unverified"
"""The function ran the warm-up but did not answer it (no keepwarm helper): warm, uncounted."""
MALFORMED = "malformed"
"""The function said it warmed, in an answer the contract does not allow: counted as an
error, never as an instance reached (a missing id would otherwise count as one named
"None", and `"cold_start": "false"` as a cold start)."""


@dataclass(frozen=True)
class InvokeResult:
    """What one warm-up invoke came back with."""

    outcome: str
    instance: str | None = None
    cold_start: bool = False
    restored: bool = False
    """SnapStart restored the instance for this warm-up (instead of a cold start)."""
    detail: str = ""


def client_config(concurrency: int, read_timeout_s: float) -> Config:
    """Tight timeouts and exactly one attempt per call: the warmer never retries."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=max(10, concurrency),
    )


@functools.lru_cache(maxsize=8)
def lambda_client(
    endpoint_url: str | None,
    concurrency: int,
    read_timeout_s: float,
    client_options: tuple[tuple[str, Any], ...] = (),
) -> Any:
    """A Lambda client, kept across runs while the instance lives (making one costs ~0.1 s).

    Each gets its own session: boto3's default session is not safe across threads.
    """
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=endpoint_url,
        config=client_config(concurrency, read_timeout_s),
        **dict(client_options),
    )


def invoke_once(client: Any, function_name: str, qualifier: str, hold_ms: int) -> InvokeResult:
    """One synchronous warm-up invoke, classified; never raises for the function's faults."""
    payload = json.dumps(warm_up_event(hold_ms))
    try:
        response = client.invoke(
            FunctionName=function_name,
            Qualifier=qualifier,
            InvocationType="RequestResponse",
            Payload=payload.encode(),
        )
        body = response["Payload"].read()
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        outcome = THROTTLED if code == "TooManyRequestsException" or status == 429 else ERROR
        return InvokeResult(outcome, detail=f"{code or status}: {details.get('Message', '')}")
    except (ReadTimeoutError, ConnectTimeoutError) as error:
        return InvokeResult(TIMEOUT, detail=str(error))
    except BotoCoreError as error:
        return InvokeResult(ERROR, detail=f"{type(error).__name__}: {error}")
    if response.get("FunctionError"):
        return InvokeResult(FUNCTION_ERROR, detail=_error_summary(body))
    return classify_answer(body)


def classify_answer(body: bytes) -> InvokeResult:
    """A successful invoke's payload: a warm-up answer, or something else (an error)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("warm") is False:
        return InvokeResult(ERROR, detail="the function did not answer the warm-up event")
    if not isinstance(answer, dict) or answer.get("warm") is not True:
        # A handler that does not know the warm-up event ran it as any other event: its
        # instance is warm, but which instance it was cannot be known, so it is not counted.
        return InvokeResult(UNVERIFIED, detail="answered without lukewarm's warm-up helper")
    try:
        warmed = parse_warm_answer(answer)
    except ValueError as problem:
        return InvokeResult(MALFORMED, detail=f"malformed warm-up answer: {problem}")
    return InvokeResult(
        OK, instance=warmed.instance, cold_start=warmed.cold_start, restored=warmed.restored
    )


def _error_summary(body: bytes) -> str:
    try:
        error = json.loads(body)
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"[:300]
    except (ValueError, AttributeError):
        return body[:300].decode(errors="replace")


def run_wave(
    client: Any, function_name: str, qualifier: str, concurrency: int, hold_ms: int
) -> list[InvokeResult]:
    """`concurrency` warm-up invokes at once, all in flight together."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [
            pool.submit(invoke_once, client, function_name, qualifier, hold_ms)
            for _ in range(concurrency)
        ]
        return [future.result() for future in futures]


def warm(
    function_name: str,
    qualifier: str,
    concurrency: int,
    hold_ms: int,
    *,
    budget_s: float,
    function_timeout_s: float = DEFAULT_FUNCTION_TIMEOUT_S,
    endpoint_url: str | None = None,
    client_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Warm `concurrency` instances of `function_name:qualifier` within `budget_s` seconds.

    Each invoke is waited for as long as the function can take (its init, re-run inside
    the invoke after Lambda's init cap, and `function_timeout_s`), but never past the
    budget. Returns the run's summary (what the log line reports). `client_options` go to
    `boto3.client` (the local stack passes its region and dummy credentials).
    """
    started = time.monotonic()
    deadline = started + budget_s - SAFETY_MARGIN_S
    results: list[InvokeResult] = []
    instances: set[str] = set()
    waves = 0
    hold = hold_ms
    while waves < 2:
        read_timeout = min(
            INIT_CAP_S + function_timeout_s + NETWORK_ALLOWANCE_S, deadline - time.monotonic()
        )
        if read_timeout < hold / 1000 + 1.0:
            break
        client = lambda_client(
            endpoint_url, concurrency, round(read_timeout, 1), tuple((client_options or {}).items())
        )
        wave = run_wave(client, function_name, qualifier, concurrency, hold)
        waves += 1
        results.extend(wave)
        instances.update(result.instance for result in wave if result.instance)
        # At the cap or failing, another wave only adds load; reached, nothing to do.
        if len(instances) >= concurrency or any(r.outcome != OK for r in wave):
            break
        hold = min(hold * SECOND_WAVE_HOLD_FACTOR or 1000, MAX_HOLD_MS)
    outcomes = Counter(result.outcome for result in results)
    details = sorted(
        {result.detail for result in results if result.outcome not in (OK, UNVERIFIED)}
    )[:5]
    if not waves:
        details = [f"{budget_s:.1f} s left: too little for a warm-up wave"]
    return {
        "function": f"{function_name}:{qualifier}",
        "targets": concurrency,
        "instances_reached": len(instances),
        "cold_starts": sum(result.cold_start for result in results),
        "restores": sum(result.restored for result in results),
        "invokes": len(results),
        "waves": waves,
        "unverified": outcomes[UNVERIFIED],
        "errors": len(results) - outcomes[OK] - outcomes[UNVERIFIED],
        "throttled": outcomes[THROTTLED],
        "function_errors": outcomes[FUNCTION_ERROR],
        "timeouts": outcomes[TIMEOUT],
        "malformed": outcomes[MALFORMED],
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "instances": sorted(instances),
        "error_details": details,
    }


def wait_until_active(
    client: Any,
    function_name: str,
    version: str,
    bound_s: float,
    *,
    sleep: Any = None,
    clock: Any = None,
) -> dict[str, Any]:
    """Ask Lambda for the version's state until it is Active or Failed, for at most `bound_s`.

    The states and the pace are those of botocore's `published_version_active` waiter
    (GetFunctionConfiguration on the qualified version). Errors are waited through, not
    raised: on a first deploy the warmer's right to ask is seconds old.
    """
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    started = clock()
    state, reason = "Unknown", ""
    while True:
        try:
            config = client.get_function_configuration(
                FunctionName=function_name, Qualifier=version
            )
        except (ClientError, BotoCoreError) as error:
            state = "Unknown"
            reason = (
                error.response.get("Error", {}).get("Code", "ClientError")
                if isinstance(error, ClientError)
                else type(error).__name__
            )
        else:
            state = str(config.get("State") or "Unknown")
            reason = str(config.get("StateReasonCode") or config.get("StateReason") or "")
        if state in ("Active", "Failed") or clock() - started + ACTIVE_POLL_S > bound_s:
            break
        sleep(ACTIVE_POLL_S)
    return {
        "version": version,
        "state": state,
        "active": state == "Active",
        "waited_s": round(clock() - started, 1),
        "reason": reason,
    }


def version_state_client(endpoint_url: str | None) -> Any:
    """A client for the quick GetFunctionConfiguration calls of the wait for Active."""
    return lambda_client(endpoint_url, 1, CONNECT_TIMEOUT_S * 2)


def not_active_message(function_name: str, readiness: dict[str, Any]) -> str:
    """What the deploy log says when the new version could not be warmed."""
    reason = f" ({readiness['reason']})" if readiness["reason"] else ""
    return (
        f"version {readiness['version']} of {function_name} is {readiness['state']}{reason}"
        f" after {readiness['waited_s']:.0f} s, not Active: nothing was warmed, and requests"
        " to the live alias fail until it is Active (a first SnapStart version can take"
        " minutes to snapshot)"
    )


def _function_timeout_s(raw: str | None) -> float:
    """The target's timeout from the environment; the longest a stack allows if unset or bad."""
    try:
        value = float(raw) if raw else DEFAULT_FUNCTION_TIMEOUT_S
    except ValueError:
        return DEFAULT_FUNCTION_TIMEOUT_S
    return value if 0 < value <= DEFAULT_FUNCTION_TIMEOUT_S else DEFAULT_FUNCTION_TIMEOUT_S


def emf_line(summary: dict[str, Any]) -> str:
    """The summary as one CloudWatch embedded-metric-format log line."""
    metrics = {
        "WarmTargets": ("targets", "Count"),
        "WarmInstancesReached": ("instances_reached", "Count"),
        "WarmColdStarts": ("cold_starts", "Count"),
        "WarmRestores": ("restores", "Count"),
        "WarmUnverified": ("unverified", "Count"),
        "WarmErrors": ("errors", "Count"),
        "WarmThrottles": ("throttled", "Count"),
        "WarmDuration": ("duration_ms", "Milliseconds"),
    }
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["function"]],
                    "Metrics": [
                        {"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()
                    ],
                }
            ],
        },
        "message": "warm run",
        **summary,
        **{name: summary[key] for name, (key, _) in metrics.items()},
    }
    return json.dumps(document, separators=(",", ":"))


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point: warm the alias named by FUNCTION_NAME / FUNCTION_QUALIFIER.

    FUNCTION_TIMEOUT_S is the target's timeout (infra/warming.py sets it).
    """
    concurrency, hold_ms = parse_warmer_input(event)
    version = parse_prewarm_version(event)
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    budget_s = remaining_ms() / 1000 if callable(remaining_ms) else DEFAULT_BUDGET_S
    function_name = os.environ["FUNCTION_NAME"]
    endpoint_url = os.environ.get("LAMBDA_ENDPOINT_URL") or None
    readiness = None
    if version is not None:
        readiness = wait_until_active(
            version_state_client(endpoint_url),
            function_name,
            version,
            min(ACTIVE_WAIT_S, budget_s - WAVE_RESERVE_S),
        )
        budget_s -= readiness["waited_s"]
    summary = warm(
        function_name,
        os.environ.get("FUNCTION_QUALIFIER", ALIAS),
        concurrency,
        hold_ms,
        # Not Active: no budget, so no wave is sent, and the summary says why below.
        budget_s=budget_s if readiness is None or readiness["active"] else 0.0,
        function_timeout_s=_function_timeout_s(os.environ.get("FUNCTION_TIMEOUT_S")),
        endpoint_url=endpoint_url,
    )
    if readiness is not None:
        summary["version_state"] = readiness
        if not readiness["active"]:
            summary["error_details"] = [not_active_message(function_name, readiness)]
    print(emf_line(summary), flush=True)
    return summary
