"""`lukewarm cost` against what a month of traffic really does: what a schedule covers,
what provisioned concurrency serves, what the throttle refuses, and times from `make bench`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lukewarm import measured, traffic
from lukewarm.__main__ import main

QUIET = ["--no-free-tier", "--region", "us-east-1", "--memory", "1024", "--duration", "1"]


def cost(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["cost", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def comparison(report: dict) -> dict[str, dict]:
    return {row["scenario"]: row for row in report["comparison"]}


def items(report: dict) -> dict[str, float]:
    return {line["item"]: line["usd"] for line in report["line_items"]}


def test_a_schedule_that_never_fires_warms_nothing(capsys) -> None:
    """The issue's case: 0 runs used to price all 10,000 cold starts away."""
    report = cost(
        capsys, *QUIET, "--warm-schedule", "at(2020-01-01T00:00:00)", "--init-seconds", "2",
        "--cold-fraction", "1",
    )  # fmt: skip
    rows = comparison(report)
    assert report["inputs"]["warm_schedules"][0]["runs_per_month"] == 0
    assert report["warming"]["warmed_share_of_month"] == 0
    assert rows["warmer"]["cold_starts_per_month"] == 10_000
    assert rows["warmer"]["cold_starts_per_month"] == rows["no warming"]["cold_starts_per_month"]
    assert items(report)["Lambda init (billed cold starts)"] == pytest.approx(
        10_000 * 2 * 0.0000166667, abs=1e-6
    )


def test_a_schedule_that_fires_five_times_a_month_covers_five_idle_spans(capsys) -> None:
    report = cost(
        capsys, *QUIET, "--warm-schedule", "cron(0 12 1,7,13,19,25 * ? *)",
        "--init-seconds", "2", "--cold-fraction", "1",
    )  # fmt: skip
    # Each run keeps its instance warm for the assumed 10 idle minutes: 5 x 600 s a month.
    assert report["inputs"]["warm_schedules"][0]["runs_per_month"] == 5
    assert report["warming"]["warmed_share_of_month"] == round(5 * 600 / 2_592_000, 4)
    assert report["warming"]["cold_starts"] >= 9_980  # nearly every request still cold


def test_the_default_warmer_covers_the_month_but_not_recycling(capsys) -> None:
    report = cost(capsys, *QUIET, "--warm-schedule", "rate(5 minutes)", "--init-seconds", "2")
    warming = report["warming"]
    assert warming["warmed_share_of_month"] >= 0.9998  # from the first run, 5 min in
    # Recycled every 2 h (assumed): 360 recycles, of which users meet those that happen
    # more than the next request's arrival before the next run.
    assert 100 < warming["cold_starts"] < 360
    assert warming["recycled_share"] > 0
    assert report["assumptions"]["environment_lifetime_s"] == traffic.ASSUMED_LIFETIME_S
    assert "assumptions, not measurements" in report["assumptions"]["note"]


def test_requests_beyond_the_warmed_instances_meet_cold_starts(capsys) -> None:
    busy = cost(
        capsys, *QUIET, "--requests", "2592000", "--duration", "2", "--cold-fraction", "1",
        "--warm-schedule", "rate(5 minutes)", "--warm-concurrency", "1",
    )  # fmt: skip
    # 1 request a second, 2 s each: two busy on average, so most arrivals find the one
    # warmed instance taken (P(K >= 1) = 1 - e^-2).
    assert busy["traffic"]["busy_instances"] == pytest.approx(2.0)
    assert busy["warming"]["beyond_warmed_share"] == pytest.approx(0.8647, abs=1e-4)


def test_provisioned_instances_serve_what_they_can_and_the_rest_is_on_demand(capsys) -> None:
    """docs/deploy.md's busiest month: 25,920,000 one-second requests keep ten instances busy;
    one provisioned instance serves about a tenth of the compute, not all of it."""
    report = cost(
        capsys, "--requests", "25920000", "--duration", "1", "--memory", "2048",
        "--region", "us-east-1", "--no-free-tier", "--no-warming", "--provisioned", "1",
        "--init-seconds", "0",
    )  # fmt: skip
    lines = items(report)
    assert report["traffic"]["busy_instances"] == pytest.approx(10.0)
    share = traffic.expected_min(1, 10.0) / 10.0
    compute_gbs = 25_920_000 * 1 * 2
    assert lines[f"Lambda compute on provisioned instances ({share:.0%})"] == pytest.approx(
        compute_gbs * share * 0.0000097222, abs=1e-6
    )
    assert lines["Lambda compute"] == pytest.approx(
        compute_gbs * (1 - share) * 0.0000166667, abs=1e-6
    )


def test_traffic_above_the_throttle_is_refused_not_priced(capsys) -> None:
    report = cost(
        capsys, *QUIET, "--requests", "30000000", "--throttle-rate", "10", "--no-warming",
        "--init-seconds", "0",
    )  # fmt: skip
    assert report["traffic"]["capacity"] == 25_920_000
    assert report["traffic"]["refused"] == 4_080_000
    assert items(report)["Lambda requests"] == pytest.approx(25_920_000 * 0.2e-6, abs=1e-6)

    assert main(["cost", *QUIET, "--requests", "30000000", "--throttle-rate", "10"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "refused 4,080,000 requests a month: above the stack's 25,920,000" in out


def write_bench(path: Path, section: str = "variants", **figures: float) -> None:
    """A `make bench` results file; `section` "runtimes" is how files written before the
    bench named its columns variants keep their figures."""
    path.write_text(
        json.dumps(
            {
                "date": "2026-12-01",
                "commit": "abc1234567",
                "command": "make bench",
                "machine": "2 CPUs, load average 0.5, one thread",
                "model_dir": "function/model",
                section: {
                    "onnx": {
                        "runtime": "onnx",
                        "init_s": 1.0,
                        "first_request_s": 0.3,
                        "cold_cpu_share": 0.9,
                        "warm_s": 0.2,
                        "warm_cpu_share": 0.8,
                        **figures,
                    }
                },
            }
        )
    )


def test_times_come_from_the_last_bench_at_the_stacks_memory(capsys, tmp_path, monkeypatch) -> None:
    results = tmp_path / "coldstart.json"
    write_bench(results)
    monkeypatch.setattr(measured, "RESULTS", results)

    report = cost(capsys, "--memory", "1024", "--no-warming")

    stretch = 1769 / 1024  # 1,024 MB gets 0.58 of the vCPU one thread stood for
    inputs = report["inputs"]
    assert inputs["duration_s"] == pytest.approx(0.2 * 0.8 * stretch)
    # The init's CPU time, and what the first caption took beyond a warm one.
    assert inputs["init_s"] == pytest.approx((1.0 + 0.3 - 0.2 * 0.8 / 0.9) * 0.9 * stretch)
    source = inputs["sources"]["duration_s"]
    assert source.startswith("make bench of 2026-12-01 (commit abc1234567, `make bench`")
    assert "x1.73 at 1024 MB" in source
    assert report["init_usd_per_cold_start"] == pytest.approx(
        inputs["init_s"] * 1.0 * 0.0000166667, abs=1e-9
    )


def test_above_one_vcpu_no_speed_up_is_assumed(tmp_path) -> None:
    results = tmp_path / "coldstart.json"
    write_bench(results)
    at_3008 = measured.for_stack("onnx", "model", 3008, results)
    at_1769 = measured.for_stack("onnx", "model", 1769, results)
    assert at_3008 is not None and at_1769 is not None
    assert at_3008.duration_s == at_1769.duration_s == pytest.approx(0.16)


def test_results_written_before_the_variants_were_named_so_still_price(tmp_path) -> None:
    results = tmp_path / "coldstart.json"
    write_bench(results, section="runtimes")
    before = measured.for_stack("onnx", "model", 1769, results)
    write_bench(results)
    after = measured.for_stack("onnx", "model", 1769, results)
    assert before is not None and before == after
    assert before.duration_s == pytest.approx(0.16)


def test_results_with_no_figures_per_variant_fall_back_to_the_default(tmp_path) -> None:
    results = tmp_path / "coldstart.json"
    write_bench(results, section="something else")
    assert measured.for_stack("onnx", "model", 1769, results) is None
    document = json.loads(results.read_text())
    results.write_text(json.dumps({**document, "variants": ["onnx"]}))
    assert measured.for_stack("onnx", "model", 1769, results) is None


def test_another_models_figures_are_not_used(capsys, tmp_path, monkeypatch) -> None:
    results = tmp_path / "coldstart.json"
    write_bench(results)
    monkeypatch.setattr(measured, "RESULTS", results)
    assert measured.for_stack("onnx", "models/blip", 1769, results) is None
    assert measured.for_stack("torch", "model", 1769, results) is None
    monkeypatch.setattr(measured, "RESULTS", tmp_path / "missing.json")
    report = cost(capsys, "--no-warming")
    assert report["inputs"]["duration_s"] == 1.0
    assert report["inputs"]["sources"]["duration_s"].startswith("default: no make bench figures")


def test_the_committed_bench_results_price_the_default_stack(capsys) -> None:
    document = measured.load()
    assert document is not None, "bench/results/coldstart.json: run make bench"
    report = cost(capsys)
    assert report["inputs"]["sources"]["init_s"].startswith(
        f"make bench of {document['date']} (commit {document['commit']}"
    )
    assert report["inputs"]["init_s"] > 0


def test_the_human_output_shows_the_figures_their_date_and_the_init_charge(capsys) -> None:
    assert main(["cost"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    document = measured.load()
    assert document is not None
    assert f"request time from: make bench of {document['date']}" in out
    assert f"cold-start time from: make bench of {document['date']}" in out
    assert "a cold start adds" in out and " each);" in out
    assert (
        "assumption: Lambda keeps an idle instance 10 min and recycles each after 2 h"
        " (not documented by AWS, not measured)" in out
    )


def test_the_comparison_shows_what_start_ups_cost_in_each_strategy(capsys) -> None:
    """What warming saves in dollars, beside what it saves in cold starts."""
    report = cost(capsys, *QUIET, "--init-seconds", "2", "--cold-fraction", "0.5")
    rows = comparison(report)
    per_start = 2 * 1.0 * 0.0000166667  # 2 s at 1 GB
    assert report["init_usd_per_cold_start"] == pytest.approx(per_start, abs=1e-9)
    assert rows["no warming"]["start_ups_usd"] == pytest.approx(5000 * per_start, abs=1e-6)
    # SnapStart's new instances are restores of memory + /tmp (1.5 GB), not inits.
    assert rows["SnapStart"]["start_ups_usd"] == pytest.approx(5000 * 1.5 * 0.0001397998, abs=1e-6)
    assert rows["warmer"]["start_ups_usd"] < rows["no warming"]["start_ups_usd"]
