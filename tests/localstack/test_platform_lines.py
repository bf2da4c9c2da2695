"""The local stack's log file: the platform lines Lambda writes around every invocation, in
the Text and JSON log formats, and the warmer's summary in the warmer's group."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

from lukewarm.report import parse_report
from tests.localstack.conftest import FAKE_FUNCTION, http, invoke, lambda_client
from tests.localstack.test_snapstart import SNAPSTART_FUNCTION, wait_for_snapshot

UUID = r"[0-9a-f-]{8,}"


def events(stack: Any, group: str = "/lukewarm/local/service") -> list[dict[str, Any]]:
    lines = stack.events_path.read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event["logGroup"] == group]


def wait_for(stack: Any, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events(stack)
        if predicate(found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"not in the log file within {timeout} s:\n{events(stack)}")


def caption(stack: Any, query: str = "") -> Any:
    return http(stack.url + "caption" + query, data=b"x", headers={"Content-Type": "image/png"})


def platform(found: list[dict[str, Any]]) -> list[str]:
    """The platform messages only (the function's own lines are JSON with a `level`)."""
    return [
        event["message"]
        for event in found
        if re.match(r"(INIT_|START|END|REPORT|RESTORE_)", event["message"])
        or '"platform.' in event["message"]
    ]


def test_text_format_writes_start_end_report_and_init_duration_on_the_cold_one_only(
    local_stack_factory,
):
    stack = local_stack_factory(
        task_root=FAKE_FUNCTION, no_warmer=True, log_format="Text", timeout=1
    )
    first, second = caption(stack), caption(stack)
    timed_out = caption(stack, "?sleep=3")
    found = wait_for(stack, lambda found: len(platform(found)) >= 10)
    assert first.json()["cold_start"] is True
    assert second.json()["cold_start"] is False
    assert timed_out.status == 500

    lines = platform(found)
    assert re.fullmatch(r"INIT_START Runtime Version: \S+\tRuntime Version ARN: \S+", lines[0])
    assert [line.split(" ", 1)[0] for line in lines[1:]] == [
        "START", "END", "REPORT", "START", "END", "REPORT", "START", "END", "REPORT",
    ]  # fmt: skip
    for start, end, report in (lines[1:4], lines[4:7], lines[7:10]):
        request_id = re.fullmatch(rf"START RequestId: ({UUID}) Version: 1", start)[1]
        assert end == f"END RequestId: {request_id}"
        assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    cold, warm, timeout = (parse_report(line, 0) for line in lines[3::3])
    assert cold is not None and warm is not None and timeout is not None
    assert re.search(r"\tInit Duration: \d+\.\d\d ms\t$", lines[3])
    assert cold.init_ms is not None and cold.init_ms > 0
    # The line prints each figure to a hundredth; Lambda bills the unrounded sum, rounded up.
    shown = cold.duration_ms + cold.init_ms
    assert math.ceil(shown - 0.01) <= cold.billed_ms <= math.ceil(shown + 0.01)
    assert cold.memory_mb == 1769
    assert "Init Duration" not in lines[6]
    assert warm.init_ms is None and warm.kind == "warm" and cold.kind == "cold"
    assert timeout.status == "timeout" and timeout.duration_ms >= 1000
    assert lines[9].endswith("\tStatus: timeout\tError Type: Sandbox.Timedout\t")


def test_json_format_writes_platform_events_as_lambda_does(local_stack_factory):
    stack = local_stack_factory(task_root=FAKE_FUNCTION, no_warmer=True, log_format="JSON")
    caption(stack)
    caption(stack)
    found = wait_for(stack, lambda found: len(platform(found)) >= 6)

    documents = [json.loads(line) for line in platform(found)]
    assert [document["type"] for document in documents] == [
        "platform.initStart",
        "platform.initReport",
        "platform.start",
        "platform.report",
        "platform.start",
        "platform.report",
    ]
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["time"]) for d in documents
    )
    init_start, init_report, start, report, _, warm_report = documents
    assert init_start["record"]["initializationType"] == "on-demand"
    assert init_report["record"]["status"] == "success"
    assert report["record"]["requestId"] == start["record"]["requestId"]
    metrics = report["record"]["metrics"]
    assert set(metrics) == {
        "durationMs",
        "billedDurationMs",
        "memorySizeMB",
        "maxMemoryUsedMB",
        "initDurationMs",
    }
    assert metrics["initDurationMs"] == init_report["record"]["metrics"]["durationMs"]
    assert metrics["maxMemoryUsedMB"] > 0
    assert "initDurationMs" not in warm_report["record"]["metrics"]
    assert report["record"]["status"] == warm_report["record"]["status"] == "success"


def test_a_failed_init_writes_its_init_report_and_fails_the_invocation(
    local_stack_factory, tmp_path: Path
):
    (tmp_path / "app.py").write_text("raise ImportError('no such model')\n")
    stack = local_stack_factory(task_root=tmp_path, no_warmer=True, log_format="Text")
    answer = caption(stack)
    found = wait_for(stack, lambda found: any("REPORT" in line for line in platform(found)))
    assert answer.status == 500
    lines = platform(found)
    init_report = next(line for line in lines if line.startswith("INIT_REPORT"))
    assert re.fullmatch(
        r"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: error\t"
        r"Error Type: Runtime.ImportModuleError",
        init_report,
    )
    report = parse_report(lines[-1], 0)
    assert report is not None
    assert report.status == "error" and report.error_type == "Runtime.ImportModuleError"
    assert report.init_ms is None


def test_a_restore_writes_restore_lines_and_restore_duration_on_its_first_invocation(
    local_stack_factory,
):
    stack = local_stack_factory(
        task_root=SNAPSTART_FUNCTION, no_warmer=True, snapstart=True, log_format="Text"
    )
    wait_for_snapshot(stack)
    client = lambda_client(stack.invoke_endpoint)
    first = invoke(client, {"lukewarm": {"action": "warm", "hold_ms": 0}})[0]
    invoke(client, {"lukewarm": {"action": "warm", "hold_ms": 0}})
    found = wait_for(stack, lambda found: sum("REPORT" in x for x in platform(found)) >= 2)

    assert first["restored"] is True
    lines = platform(found)
    assert lines[0].startswith("RESTORE_START Runtime Version: ")
    assert re.fullmatch(r"RESTORE_REPORT Restore Duration: \d+\.\d\d ms", lines[1])
    reports = [parse_report(line, 0) for line in lines if line.startswith("REPORT")]
    assert reports[0] is not None and reports[1] is not None
    assert reports[0].kind == "restored" and reports[0].init_ms is None
    assert re.search(
        r"\tRestore Duration: [\d.]+ ms\tBilled Restore Duration: \d+ ms\t$", lines[-4]
    )
    assert reports[1].kind == "warm"


def test_the_warmers_summary_goes_to_the_warmers_group_as_emf(local_stack_factory):
    stack = local_stack_factory(task_root=FAKE_FUNCTION, time_scale=1)
    deadline = time.monotonic() + 20
    while not (warm := events(stack, "/lukewarm/local/warming")):
        assert time.monotonic() < deadline, stack.log()
        time.sleep(0.1)
    document = json.loads(warm[0]["message"])
    assert document["message"] == "warm run"
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "lukewarm"
    assert directive["Dimensions"] == [["function"]]
    assert document["function"] == "lukewarm:live"
    assert document["WarmTargets"] == document["targets"] == 1
