"""End to end: known traffic through `lukewarm serve` (cold, warm, warm runs, refusals), then
`lukewarm report --local` on the log file it wrote, whose figures must equal what happened.

What happened is taken from the client's side and the stack's own output, never from the log
file the report reads: each request's answer and the stack's access line (cold or warm), and
the warmer's run summaries the stack prints."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT
from tests.localstack.conftest import http

PHOTO = (ROOT / "data" / "photos" / "coffee.png").read_bytes()
WARM_RUN = re.compile(r"warm run \((?P<reason>[^)]*\)?)\): (?P<summary>\{.*\})$", re.MULTILINE)


def test_report_local_counts_what_the_traffic_did(local_stack_factory, tiny_model_dir: Path):
    # At x60 the default rate(5 minutes) warms every 5 s, and an instance idle for 2 s is
    # reclaimed: requests 3 s after the last one find no instance and start one (cold).
    stack = local_stack_factory(model_dir=tiny_model_dir, time_scale=60, idle_timeout=120)
    started = time.monotonic()
    deadline = started + 30
    while "warm run (start)" not in stack.log():
        assert time.monotonic() < deadline, stack.log()
        time.sleep(0.05)

    def caption() -> dict:
        answer = http(stack.url + "caption", data=PHOTO, headers={"Content-Type": "image/png"})
        assert answer.status == 200, answer.body
        return answer.json()

    answers = [caption(), caption()]
    time.sleep(3.0)
    answers += [caption(), caption(), caption()]
    refusals = [
        http(stack.url + "caption", data=b"hello", headers={"Content-Type": "text/plain"}),
        http(stack.url + "caption", data=b"{", headers={"Content-Type": "application/json"}),
        http(stack.url + "nowhere"),
    ]
    health = http(stack.url + "health")
    # Two scheduled warm runs after the one at start.
    while len(WARM_RUN.findall(stack.log())) < 3:
        assert time.monotonic() < started + 60, stack.log()
        time.sleep(0.1)
    stack.stop()

    assert [answer.status for answer in refusals] == [415, 400, 404]
    assert health.status == 200
    runs = [json.loads(match["summary"]) for match in WARM_RUN.finditer(stack.log())]
    requests = [line for line in stack.request_lines() if not line.startswith("INVOKE")]
    assert len(requests) == len(answers) + len(refusals) + 1
    cold_requests = [line for line in requests if line.split()[3] == "cold"]
    # The function's own answers agree with the stack's access lines.
    assert sum(answer["cold_start"] for answer in answers) == sum(
        line.startswith("POST /caption 200 cold") for line in requests
    )
    # The traffic had what the report must tell apart.
    assert cold_requests and len(cold_requests) < len(requests)
    assert len(runs) >= 3

    finished = subprocess.run(
        [sys.executable, "-m", "lukewarm", "report", "--local", str(stack.events_path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    figures = json.loads(finished.stdout)

    warm_ups = sum(run["invokes"] for run in runs)
    assert figures["requests"] == len(requests)
    assert figures["warm_up_invocations"] == warm_ups
    assert figures["invocations"] == len(requests) + warm_ups
    assert figures["captions"] == len(answers)
    assert figures["cold_starts"] == len(cold_requests)
    assert figures["restores"] == 0
    assert figures["cold_start_rate_percent"] == round(100 * len(cold_requests) / len(requests), 2)
    assert figures["warm_up_cold_starts"] == sum(run["cold_starts"] for run in runs)
    assert figures["init_ms"]["count"] == len(cold_requests) + figures["warm_up_cold_starts"]
    assert figures["warm_runs"] == {
        "runs": len(runs),
        "asked_for": sum(run["targets"] for run in runs),
        "reached": sum(run["instances_reached"] for run in runs),
        "runs_reaching_all": sum(run["instances_reached"] >= run["targets"] for run in runs),
        "runs_with_errors": sum(bool(run["errors"]) for run in runs),
    }
    assert figures["errors"] == {"bad_request": 1, "not_found": 1, "unsupported_media_type": 1}
    init_p50 = figures["init_ms"]["p50"]
    assert init_p50 is not None and init_p50 > 0
    assert 0 < figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]
    assert figures["billed_gb_seconds"] > 0
    assert figures["cost"]["actual_usd"] > 0 and figures["cost"]["estimate_usd"] > 0
