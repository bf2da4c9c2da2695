"""`lukewarm report`: REPORT lines read in both of Lambda's formats, the one aggregation,
Logs Insights through botocore's Stubber (running, complete, failed, timed out,
overflowing), and the command line's refusals."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra import telemetry
from lukewarm import report
from lukewarm.cost import load_prices
from lukewarm.localstack.logs import LogGroups
from lukewarm.report import (
    INSIGHTS_QUERY,
    InsightsSource,
    LogEvent,
    ReportError,
    collect,
    parse_report,
    summarise,
)
from tests.conftest import ROOT

FUNCTION = "/lukewarm/prod/service"
WARMER = "/lukewarm/prod/warming"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# As AWS's Lambda guide prints them (request ids shortened by AWS's own "xmpl").
TEXT_COLD = (
    "REPORT RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac\tDuration: 170.19 ms\t"
    "Billed Duration: 1029 ms\tMemory Size: 1769 MB\tMax Memory Used: 402 MB\t"
    "Init Duration: 858.44 ms\t"
)
TEXT_RESTORE = (
    "REPORT RequestId: 2f3ad2e6-xmpl-4b4f-8a5b-1234567890ab\tDuration: 20.00 ms\t"
    "Billed Duration: 20 ms\tMemory Size: 1769 MB\tMax Memory Used: 300 MB\t"
    "Restore Duration: 474.16 ms\tBilled Restore Duration: 212 ms\t"
)
TEXT_TIMEOUT = (
    "REPORT RequestId: 5e8a3e55-xmpl-4b1c-8d3a-abcdefabcdef\tDuration: 30000.00 ms\t"
    "Billed Duration: 30000 ms\tMemory Size: 1769 MB\tMax Memory Used: 500 MB\t"
    "Status: timeout"
)


def platform_report(request_id: str, duration: float, **extra: Any) -> str:
    metrics = {
        "durationMs": duration,
        "billedDurationMs": math.ceil(duration + extra.get("initDurationMs", 0)),
        "memorySizeMB": 1024,
        "maxMemoryUsedMB": 300,
        **extra,
    }
    return json.dumps(
        {
            "time": "2026-12-01T10:00:00.000Z",
            "type": "platform.report",
            "record": {"requestId": request_id, "metrics": metrics, "status": "success"},
        }
    )


def app_line(message: str, request_id: str, **extra: Any) -> str:
    return json.dumps(
        {"level": "INFO", "message": message, "function_request_id": request_id, **extra}
    )


def warm_run(targets: int, reached: int, cold: int = 0, errors: int = 0) -> str:
    return json.dumps(
        {
            "_aws": {"CloudWatchMetrics": []},
            "message": "warm run",
            "targets": targets,
            "instances_reached": reached,
            "cold_starts": cold,
            "restores": 0,
            "errors": errors,
        }
    )


def test_text_report_lines_as_aws_writes_them() -> None:
    cold = parse_report(TEXT_COLD, 5)
    assert cold == report.PlatformReport(
        request_id="c793869b-ee49-115b-a5b6-4fd21e8dedac",
        timestamp_ms=5,
        duration_ms=170.19,
        billed_ms=1029,
        memory_mb=1769,
        init_ms=858.44,
    )
    assert cold.kind == "cold"
    restored = parse_report(TEXT_RESTORE, 0)
    assert restored is not None and restored.kind == "restored"
    assert restored.restore_ms == 474.16 and restored.init_ms is None
    timed_out = parse_report(TEXT_TIMEOUT, 0)
    assert timed_out is not None and timed_out.status == "timeout" and timed_out.kind == "warm"
    assert parse_report("START RequestId: abc Version: 1", 0) is None
    assert parse_report("REPORT RequestId: abc\tDuration: soon", 0) is None


def test_json_report_lines_as_aws_writes_them() -> None:
    line = platform_report("r-1", 12.5, initDurationMs=800.0)
    parsed = parse_report(line, 7)
    assert parsed is not None
    assert (parsed.request_id, parsed.duration_ms, parsed.init_ms, parsed.kind) == (
        "r-1",
        12.5,
        800.0,
        "cold",
    )
    assert parse_report(json.dumps({"type": "platform.report", "record": {}}), 0) is None
    assert parse_report(app_line("captioned", "r-1"), 0) is None


def test_the_local_stacks_lines_read_back_in_both_formats(tmp_path: Path) -> None:
    for log_format in ("Text", "JSON"):
        path = tmp_path / f"{log_format}.jsonl"
        logs = LogGroups(path, log_format=log_format, memory_mb=2048)
        logs.report("i-1", "r-1", duration_ms=10.004, max_memory_mb=99, init_ms=500.5)
        logs.report("i-2", "r-2", duration_ms=3.2, max_memory_mb=99, restore_ms=40.0)
        logs.report("i-1", "r-3", duration_ms=1.0, max_memory_mb=99, status="timeout")
        logs.close()
        events = list(report.local_events(path, 0))
        parsed = [parse_report(event.message, event.timestamp_ms) for event in events]
        assert [(p.request_id, p.kind, p.status) for p in parsed if p] == [
            ("r-1", "cold", "success"),
            ("r-2", "restored", "success"),
            ("r-3", "warm", "timeout"),
        ], log_format
        assert parsed[0] is not None and parsed[0].billed_ms == 511
        assert parsed[0].memory_mb == 2048


def events_of(*messages: tuple[str, str]) -> list[LogEvent]:
    return [
        LogEvent(1_000 * index, group, message) for index, (group, message) in enumerate(messages)
    ]


def test_one_aggregation_counts_requests_apart_from_warm_ups() -> None:
    records = collect(
        events_of(
            (FUNCTION, platform_report("a", 100.0, initDurationMs=900.0)),
            (FUNCTION, app_line("captioned", "a")),
            (FUNCTION, platform_report("b", 50.0)),
            (FUNCTION, app_line("captioned", "b")),
            (FUNCTION, platform_report("c", 5.0)),
            (FUNCTION, app_line("refused", "c", code="unsupported_media_type")),
            (FUNCTION, platform_report("d", 20.0, restoreDurationMs=400.0)),
            (FUNCTION, app_line("request failed", "d")),
            # A warm-up that found a cold instance: the warmer's job, not a user's wait.
            (FUNCTION, platform_report("w", 1.0, initDurationMs=700.0)),
            (FUNCTION, app_line("warmed", "w")),
            (WARMER, warm_run(2, 1, cold=1)),
            (WARMER, warm_run(2, 2, errors=1)),
        )
    )
    figures = summarise(records, None, None)

    assert figures["invocations"] == 5
    assert figures["requests"] == 4
    assert figures["warm_up_invocations"] == 1
    assert figures["captions"] == 2
    assert figures["cold_starts"] == 1
    assert figures["restores"] == 1
    assert figures["cold_start_rate_percent"] == 50.0
    assert figures["warm_up_cold_starts"] == 1
    assert figures["init_ms"] == {"count": 2, "p50": 700.0, "p90": 900.0, "p99": 900.0}
    assert figures["restore_ms"] == {"count": 1, "p50": 400.0}
    assert figures["warm_runs"] == {
        "runs": 2,
        "asked_for": 4,
        "reached": 3,
        "runs_reaching_all": 1,
        "runs_with_errors": 1,
    }
    assert figures["errors"] == {"internal_error": 1, "unsupported_media_type": 1}
    # What each request waited for in Lambda: 5, 50, 420 (restore), 1000 (init).
    assert figures["latency_ms"] == {"p50": 50.0, "p99": 1000.0}
    billed = (1000 + 50 + 5 + 20 + 701) / 1000  # GB-s at 1024 MB
    assert figures["billed_gb_seconds"] == round(billed, 3)


def test_the_cold_start_rate_is_the_one_definitions() -> None:
    assert telemetry.cold_start_rate(1, 4) == 25.0
    assert telemetry.cold_start_rate(0, 0) is None
    assert telemetry.start_kind(cold_start=True, restored=False) == "cold"
    assert telemetry.platform_start_kind(None, 12.0) == "restored"
    assert telemetry.platform_start_kind(None, None) == "warm"


def test_platform_errors_without_an_application_line_are_counted_by_type() -> None:
    records = collect(events_of((FUNCTION, TEXT_TIMEOUT), (FUNCTION, TEXT_COLD)))
    assert summarise(records, None, None)["errors"] == {"timeout": 1}


def test_actual_cost_beside_the_estimate_for_the_same_traffic() -> None:
    records = collect(
        events_of(
            (FUNCTION, platform_report("a", 1000.0, initDurationMs=1000.0)),
            (FUNCTION, platform_report("b", 1000.0)),
        )
    )
    prices = load_prices()
    figures = summarise(records, report.Pricing("us-east-1", "x86_64"), prices)
    cost = figures["cost"]
    lam = prices["regions"]["us-east-1"]["lambda"]["x86_64"]
    # Billed 2,000 + 1,000 ms at 1 GB; two requests; two HTTP API requests.
    assert cost["actual"] == [
        {"item": "Lambda duration, init included", "usd": round(3.0 * lam["gb_second"], 8)},
        {"item": "Lambda requests", "usd": round(2 * 0.2 / 1e6, 8)},
        {"item": "API Gateway (HTTP API)", "usd": round(2 * 1.0 / 1e6, 8)},
    ]
    estimate = {item["item"]: item["usd"] for item in cost["estimate"]}
    # lukewarm cost's model: 2 requests x 1 s x 1 GB, and half of them paying a 1 s init.
    assert estimate["Lambda compute"] == round(2.0 * lam["gb_second"], 8)
    assert estimate["Lambda init (billed cold starts)"] == round(1.0 * lam["gb_second"], 8)
    assert cost["actual_usd"] == pytest.approx(cost["estimate_usd"], abs=1e-8)
    with pytest.raises(ReportError, match="no prices for mars-north-1"):
        summarise(records, report.Pricing("mars-north-1", "x86_64"), prices)


# --- Logs Insights, stubbed --------------------------------------------------------------


def logs_client() -> Any:
    return boto3.client(
        "logs", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def row(timestamp: str, group: str, message: str) -> list[dict[str, str]]:
    return [
        {"field": "@timestamp", "value": timestamp},
        {"field": "@message", "value": message},
        {"field": "@log", "value": f"123456789012:{group}"},
    ]


def results(
    status: str, rows: list[list[dict[str, str]]] | None = None, matched: float | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {"status": status, "results": rows or []}
    if status == "Complete":
        count = float(len(rows or []) if matched is None else matched)
        answer["statistics"] = {
            "recordsMatched": count,
            "recordsScanned": count * 3,
            "bytesScanned": count * 300,
        }
    return answer


def expect_query(stubber: Stubber, start: int, end: int, query_id: str) -> None:
    stubber.add_response(
        "start_query",
        {"queryId": query_id},
        {
            "logGroupNames": [FUNCTION, WARMER],
            "startTime": start,
            "endTime": end,
            "queryString": INSIGHTS_QUERY,
            "limit": 10_000,
        },
    )


def test_a_running_query_is_polled_until_complete() -> None:
    client = logs_client()
    slept: list[float] = []
    source = InsightsSource(client, [FUNCTION, WARMER], sleep=slept.append)
    with Stubber(client) as stubber:
        expect_query(stubber, 100, 200, "q-1")
        stubber.add_response("get_query_results", results("Scheduled"), {"queryId": "q-1"})
        stubber.add_response("get_query_results", results("Running"), {"queryId": "q-1"})
        stubber.add_response(
            "get_query_results",
            results(
                "Complete",
                [
                    row("2026-12-01 10:00:00.250", FUNCTION, TEXT_COLD),
                    row("2026-12-01 10:00:01.000", WARMER, warm_run(1, 1)),
                ],
            ),
            {"queryId": "q-1"},
        )
        events = source.events(100, 200)
        stubber.assert_no_pending_responses()
    assert slept == [1.0, 1.0]
    assert events == [
        LogEvent(1796119200250, FUNCTION, TEXT_COLD),
        LogEvent(1796119201000, WARMER, warm_run(1, 1)),
    ]


@pytest.mark.parametrize("status", ["Failed", "Timeout", "Cancelled"])
def test_a_query_that_ends_badly_says_so(status: str) -> None:
    client = logs_client()
    source = InsightsSource(client, [FUNCTION, WARMER], sleep=lambda _: None)
    with Stubber(client) as stubber:
        expect_query(stubber, 0, 10, "q-9")
        stubber.add_response("get_query_results", results(status), {"queryId": "q-9"})
        with pytest.raises(ReportError) as raised:
            source.events(0, 10)
    assert str(raised.value) == (
        f"the Logs Insights query q-9 ended {status} "
        f"(log groups {FUNCTION}, {WARMER}); try a shorter --since"
    )


def test_a_query_that_runs_too_long_is_stopped() -> None:
    client = logs_client()
    source = InsightsSource(
        client, [FUNCTION, WARMER], timeout_s=2, poll_interval_s=1, sleep=lambda _: None
    )
    with Stubber(client) as stubber:
        expect_query(stubber, 0, 10, "q-2")
        for _ in range(3):
            stubber.add_response("get_query_results", results("Running"), {"queryId": "q-2"})
        stubber.add_response("stop_query", {"success": True}, {"queryId": "q-2"})
        with pytest.raises(ReportError, match="q-2 did not finish within 2 s"):
            source.events(0, 10)
        stubber.assert_no_pending_responses()


def test_a_refused_query_names_the_reason() -> None:
    client = logs_client()
    source = InsightsSource(client, [FUNCTION, WARMER])
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "start_query",
            service_error_code="ResourceNotFoundException",
            service_message="Log group '/lukewarm/prod/warming' does not exist",
        )
        with pytest.raises(ReportError) as raised:
            source.events(0, 10)
    assert str(raised.value) == (
        "Logs Insights refused the query: ResourceNotFoundException: "
        "Log group '/lukewarm/prod/warming' does not exist"
    )


def test_a_window_with_more_matches_than_one_query_returns_is_split() -> None:
    client = logs_client()
    source = InsightsSource(client, [FUNCTION, WARMER], sleep=lambda _: None)
    first = row("2026-12-01 10:00:00.000", FUNCTION, TEXT_COLD)
    second = row("2026-12-01 11:00:00.000", FUNCTION, TEXT_RESTORE)
    with Stubber(client) as stubber:
        expect_query(stubber, 0, 100, "whole")
        stubber.add_response(
            "get_query_results", results("Complete", [first], matched=2), {"queryId": "whole"}
        )
        expect_query(stubber, 0, 50, "early")
        stubber.add_response(
            "get_query_results", results("Complete", [first]), {"queryId": "early"}
        )
        expect_query(stubber, 50, 100, "late")
        stubber.add_response(
            "get_query_results", results("Complete", [first, second]), {"queryId": "late"}
        )
        events = source.events(0, 100)
    assert [event.message for event in events] == [TEXT_COLD, TEXT_RESTORE]
    assert source.queries == 3 and source.truncated == []


def test_past_the_query_budget_the_report_says_it_is_incomplete(
    tmp_path: Path, monkeypatch
) -> None:
    client = logs_client()
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: client)
    monkeypatch.setattr(report, "MAX_QUERIES", 1)
    since = timedelta(days=1)
    start, end = int((NOW - since).timestamp()), int(NOW.timestamp())
    with Stubber(client) as stubber:
        expect_query(stubber, start, end, "q")
        stubber.add_response(
            "get_query_results",
            results("Complete", [row("2026-12-01 10:00:00.000", FUNCTION, TEXT_COLD)], matched=9),
            {"queryId": "q"},
        )
        args = argparse.Namespace(stack="prod", local=None, since=since, region="eu-central-1")
        records, where = report.gather(args, NOW)
    assert where["incomplete"] == ["2026-11-30 12:00 to 2026-12-01 12:00"]
    assert len(records.reports) == 1


# --- the command line --------------------------------------------------------------------


def lukewarm_report(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lukewarm", "report", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_source_the_report_asks_for_one() -> None:
    finished = lukewarm_report()
    assert finished.returncode == 1
    assert finished.stderr == (
        "lukewarm report: name the deployed stack (--stack NAME), or read the local one (--local)\n"
    )


def test_a_missing_or_foreign_log_file_is_refused(tmp_path: Path) -> None:
    missing = lukewarm_report("--local", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 1
    assert "none.jsonl: no such file; start the local stack (`make serve`)" in missing.stderr
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"timestamp": 1}\n')
    refused = lukewarm_report("--local", str(foreign))
    assert refused.returncode == 1
    assert refused.stderr.endswith(
        "foreign.jsonl:1: not a log event (a line of `lukewarm serve --log-file`)\n"
    )
    assert "Traceback" not in missing.stderr + refused.stderr


def test_a_bad_span_is_refused_by_the_parser() -> None:
    finished = lukewarm_report("--local", "--since", "3 days")
    assert finished.returncode == 2
    assert "'3 days' is not a time span such as 30m, 12h, 7d or 2w" in finished.stderr


def test_json_and_plot_from_a_local_log(tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    logs = LogGroups(path, log_format="JSON", memory_mb=1024)
    logs.report("i-1", "r-1", duration_ms=100.0, max_memory_mb=99, init_ms=900.0)
    logs.report("i-1", "r-2", duration_ms=50.0, max_memory_mb=99)
    logs.warmer(warm_run(1, 1))
    logs.close()
    picture = tmp_path / "report.png"

    finished = lukewarm_report(
        "--local", str(path), "--since", "1h", "--json", "--plot", str(picture)
    )
    assert finished.returncode == 0, finished.stderr
    figures = json.loads(finished.stdout)
    assert figures["requests"] == 2 and figures["cold_starts"] == 1
    assert figures["cold_start_rate_percent"] == 50.0
    assert figures["warm_runs"]["runs"] == 1
    assert picture.read_bytes().startswith(b"\x89PNG")

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    nothing = lukewarm_report("--local", str(empty), "--plot", str(picture))
    assert nothing.returncode == 1
    assert nothing.stderr == "lukewarm report: no requests in the period: nothing to plot\n"
