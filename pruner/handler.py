"""The version pruner Lambda: keep the bill of the captioner's old versions bounded.

Every deploy publishes a version of the captioning function, and a version published
under SnapStart keeps a snapshot that is billed until the version is deleted (AWS deletes
idle snapshots only for Java). Run once per deploy, after the `live` alias has moved, this
deletes all but the newest `keep` versions, always keeping the one `live` points at. The
deploy passes that version in the event, so the pruner needs no permission to read the
alias. Lambda itself refuses to delete a version another alias points at: such a version
is reported and left.

Housekeeping never fails a deploy (`lambda.Invocation` fails the update whenever the
invoked function returns an error): AWS errors are retried for a bounded time (on a first
deploy the pruner's IAM policy is seconds old, and IAM is eventually consistent), then
reported in the summary, and the handler returns. Standard library, boto3 and `contract`
only, so it deploys as a small zip.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from contract import parse_pruner_input

# How long AWS errors are retried before the pruner reports and returns. Its own timeout is
# 60 s (infra/versions.py); a fresh IAM policy usually takes effect within seconds.
RETRY_BUDGET_S = 40.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 8.0
# Answers that no retry changes: the version is in use or gone, or the request is wrong.
FINAL_ERRORS = frozenset(
    {"ResourceConflictException", "ResourceNotFoundException", "InvalidParameterValueException"}
)

T = TypeVar("T")


class PruneError(Exception):
    """An AWS call still failing when the retry budget ran out: what to report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def error_code(error: Exception) -> str:
    """A short name for an AWS error: its code, or the botocore exception's class."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


class Retrying:
    """Calls AWS, retrying what may pass (denied by a young policy, throttled, 5xx, network)
    until a deadline shared by every call of one run."""

    def __init__(
        self,
        budget_s: float,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.deadline = self.clock() + budget_s

    def __call__(self, call: Callable[[], T]) -> T:
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                return call()
            except (ClientError, BotoCoreError) as error:
                if error_code(error) in FINAL_ERRORS:
                    raise
                if self.clock() + backoff > self.deadline:
                    raise PruneError(error_code(error), str(error)) from error
                self.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)


def published_versions(client: Any, function_name: str, retrying: Retrying) -> list[int]:
    """Every published version (all pages; `$LATEST` is not one), oldest first."""
    versions: list[int] = []
    marker: str | None = None
    while True:
        request: dict[str, Any] = {"FunctionName": function_name}
        if marker:
            request["Marker"] = marker
        page = retrying(functools.partial(client.list_versions_by_function, **request))
        versions.extend(
            int(version["Version"])
            for version in page.get("Versions", [])
            if version["Version"].isdigit()
        )
        marker = page.get("NextMarker")
        if not marker:
            return sorted(versions)


def prune(
    client: Any, function_name: str, live: str, keep: int, retrying: Retrying
) -> dict[str, Any]:
    """Delete the function's published versions beyond the newest `keep` and `live`.

    Never raises for AWS's answers: each published version ends in exactly one of `kept`
    (by the rule), `deleted` or `refused` (with Lambda's reason), and a listing that never
    succeeded is reported under `error`.
    """
    summary: dict[str, Any] = {"live": live, "kept": [], "deleted": [], "refused": []}
    try:
        published = published_versions(client, function_name, retrying)
    except Exception as error:  # reported: the deploy goes on
        summary["error"] = f"could not list the versions: {error}"
        return summary
    kept = set(published[-keep:]) | ({int(live)} if live.isdigit() else set())
    summary["kept"] = [str(version) for version in published if version in kept]
    for version in (v for v in published if v not in kept):
        try:
            retrying(
                functools.partial(
                    client.delete_function, FunctionName=function_name, Qualifier=str(version)
                )
            )
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                summary["deleted"].append(str(version))  # already gone: what was wanted
            else:
                summary["refused"].append({"version": str(version), "reason": error_code(error)})
        except PruneError as error:
            summary["refused"].append({"version": str(version), "reason": error.code})
        except Exception as error:  # the versions done so far stay reported
            summary["refused"].append({"version": str(version), "reason": type(error).__name__})
        else:
            summary["deleted"].append(str(version))
    return summary


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point: prune FUNCTION_NAME's versions; report, never raise."""
    try:
        keep, live = parse_pruner_input(event)
    except ValueError as error:
        summary: dict[str, Any] = {"error": str(error)}
    else:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        budget_s = RETRY_BUDGET_S
        if callable(remaining_ms):
            budget_s = min(budget_s, max(0.0, remaining_ms() / 1000 - 10))
        # The SDK tries once per call: Retrying owns the schedule and its bound.
        client = boto3.client(
            "lambda", config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
        )
        try:
            summary = {
                "keep": keep,
                **prune(client, os.environ["FUNCTION_NAME"], live, keep, Retrying(budget_s)),
            }
        except Exception as error:  # housekeeping reports, never fails a deploy
            summary = {"keep": keep, "live": live, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps({"message": "pruned old versions", **summary}), flush=True)
    return summary
