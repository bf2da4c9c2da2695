"""`lukewarm cost`: the write-up's bill, warming and provisioned concurrency, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lukewarm.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
WRITE_UP = [
    "--requests", "10000", "--duration", "10", "--memory", "1024",
    "--region", "eu-central-1", "--no-free-tier", "--no-warming",
]  # fmt: skip


def usd(value: float) -> object:
    """Dollars as the JSON carries them: rounded to a millionth."""
    return pytest.approx(value, abs=1e-6)


def cost(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["cost", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def items(report: dict) -> dict[str, float]:
    return {line["item"]: line["usd"] for line in report["line_items"]}


def test_reproduces_the_original_write_up(capsys) -> None:
    report = cost(capsys, *WRITE_UP, "--image-gb", "2", "--api", "rest")
    lines = items(report)
    assert round(lines["Lambda compute"] + lines["Lambda requests"], 2) == 1.67
    assert lines["Lambda compute"] == usd(10_000 * 10 * 0.0000166667)
    assert lines["Lambda requests"] == usd(0.002)
    assert lines["ECR image storage"] == usd(0.20)
    assert lines["API Gateway (REST API)"] < 0.04
    assert report["total_usd"] == usd(sum(lines.values()))


def test_json_shape(capsys) -> None:
    report = cost(capsys, *WRITE_UP)
    assert set(report) >= {"inputs", "line_items", "total_usd", "comparison", "prices"}
    assert all(set(line) == {"item", "usd"} for line in report["line_items"])
    assert [row["scenario"] for row in report["comparison"]] == [
        "no warming",
        "warmer",
        "SnapStart",
        "SnapStart + warmer",
        "provisioned concurrency",
    ]
    assert report["inputs"]["sources"]["memory_mb"] == "flag"


def test_billed_init_counts_only_cold_requests(capsys) -> None:
    report = cost(capsys, *WRITE_UP, "--init-seconds", "8", "--cold-fraction", "0.25")
    # 10,000 requests x 25 % cold x 8 s x 1 GB
    assert items(report)["Lambda init (billed cold starts)"] == usd(2500 * 8 * 0.0000166667)


def test_warmer_lines_follow_the_schedule(capsys) -> None:
    argv = [a for a in WRITE_UP if a != "--no-warming"]
    report = cost(
        capsys, *argv, "--warm-schedule", "rate(5 minutes)", "--warm-concurrency", "2",
        "--warm-hold-ms", "500", "--init-seconds", "8",
    )  # fmt: skip
    (window,) = report["inputs"]["warm_schedules"]
    assert window["runs_per_month"] == 8640  # 30 days of 5-minute runs
    lines = items(report)
    # 17,280 warm invokes of 0.5 s at 1 GB, plus their requests
    assert lines["Warm invokes (17,280 x 500 ms)"] == usd(
        17_280 * 0.5 * 0.0000166667 + 17_280 * 0.2e-6
    )
    assert lines["EventBridge Scheduler"] == usd(8640 / 1e6)
    # The init is billed for each instance started: by the warmer (2 at the month's first
    # run, then each recycled one unless a user got there first) and for users.
    warming = report["warming"]
    assert 2 < warming["warmer_starts"] <= 2 * (1 + 2_592_000 / 7200)
    assert warming["billed_inits"] == warming["warmer_starts"] + warming["cold_starts"]
    assert lines["Lambda init (billed cold starts)"] == pytest.approx(
        warming["billed_inits"] * 8 * 0.0000166667, rel=1e-3
    )


def test_business_hours_cron_in_a_timezone(capsys) -> None:
    report = cost(
        capsys, "--warm-schedule", "cron(0/5 8-18 ? * MON-FRI *)",
        "--warm-timezone", "Europe/Berlin",
    )  # fmt: skip
    # June 2026 has 22 weekdays; 11 hours x 12 runs each
    assert report["inputs"]["warm_schedules"][0]["runs_per_month"] == 22 * 11 * 12


def test_comparison_prices_each_way_of_keeping_warm(capsys) -> None:
    report = cost(capsys, *WRITE_UP, "--init-seconds", "8", "--cold-fraction", "0.5")
    rows = {row["scenario"]: row for row in report["comparison"]}
    assert rows["no warming"]["total_usd"] == usd(report["total_usd"])
    assert rows["no warming"]["cold_starts_per_month"] == 5000
    # Ten-second captions: 3.9 % of requests find the one warmed instance busy, and half of
    # the instances they need are cold; each recycle of the warmed one is met by a user
    # before the next warm run about 44 % of the time (2 h lifetime, assumed).
    assert rows["warmer"]["cold_starts_per_month"] == 348
    # one 1 GB instance for 30 days at $0.0000041667/GB-s, duration at the reduced price
    provisioned = 2_592_000 * 0.0000041667 + 100_000 * 0.0000097222
    assert rows["provisioned concurrency"]["total_usd"] > provisioned
    assert rows["provisioned concurrency"]["total_usd"] > rows["warmer"]["total_usd"]


def test_free_tier_covers_small_traffic_but_not_provisioned_concurrency(capsys) -> None:
    free = cost(capsys, "--requests", "10000", "--duration", "10", "--memory", "1024",
                "--no-warming")  # fmt: skip
    lines = items(free)
    assert lines["Free tier: Lambda"] == usd(
        -(
            lines["Lambda compute"]
            + lines["Lambda init (billed cold starts)"]
            + lines["Lambda requests"]
        )
    )
    provisioned = cost(capsys, "--memory", "1024", "--no-warming", "--provisioned", "1")
    assert "Free tier: Lambda" not in items(provisioned)


def test_probe_report_supplies_duration_and_cold_starts(capsys, tmp_path) -> None:
    report_path = tmp_path / "report.json"
    report_path.write_text(
        json.dumps({"cost_inputs": {"duration_s": 0.8, "init_s": 2.5, "cold_fraction": 0.2}})
    )
    report = cost(capsys, *WRITE_UP[:2], "--probe-report", str(report_path), "--no-warming")
    inputs = report["inputs"]
    assert (inputs["duration_s"], inputs["init_s"], inputs["cold_fraction"]) == (0.8, 2.5, 0.2)
    assert inputs["sources"]["duration_s"] == f"probe report {report_path}"


def test_a_probe_of_only_restored_requests_says_what_is_missing_and_how_to_give_it(
    capsys, tmp_path
) -> None:
    # Every request was restored (SnapStart, long gaps): none times a request by itself.
    report_path = tmp_path / "report.json"
    report_path.write_text(
        json.dumps({"cost_inputs": {"duration_s": None, "init_s": None, "cold_fraction": 1.0}})
    )

    assert main(["cost", "--probe-report", str(report_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"lukewarm cost: {report_path}: the probe report has no warm or luke-warm request to "
        "time a request by (every answered one was cold or restored, or none was answered): "
        "probe with shorter gaps, or pass --duration"
    )
    inputs = cost(capsys, "--probe-report", str(report_path), "--duration", "0.3")["inputs"]
    assert (inputs["duration_s"], inputs["cold_fraction"]) == (0.3, 1.0)
    assert inputs["sources"]["cold_fraction"] == f"probe report {report_path}"


def test_a_fractional_request_count_is_shown_as_given(capsys) -> None:
    assert main(["cost", "--requests", "2.5", "--no-free-tier", "--monitoring", "off"]) == 0

    assert capsys.readouterr().out.startswith("2.5 requests/month x ")


def test_stack_config_is_read_from_the_stack_file(capsys, tmp_path, monkeypatch) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    (tmp_path / "Pulumi.trial.yaml").write_text(
        "config:\n"
        "  lukewarm:memorySize: 3008\n"
        "  lukewarm:architecture: arm64\n"
        "  lukewarm:warmHoldMs: 800\n"
        "  lukewarm:warmSchedules:\n"
        "    - schedule: rate(10 minutes)\n"
        "      concurrency: 2\n"
    )
    monkeypatch.chdir(tmp_path)
    report = cost(capsys, "--stack", "trial")
    inputs = report["inputs"]
    assert (inputs["memory_mb"], inputs["architecture"], inputs["warm_hold_ms"]) == (
        3008,
        "arm64",
        800,
    )
    assert inputs["warm_schedules"] == [
        {"schedule": "rate(10 minutes)", "concurrency": 2, "timezone": "UTC",
         "runs_per_month": 4320, "hold_ms": 800},
    ]  # fmt: skip
    assert inputs["sources"]["memory_mb"] == "stack trial"
    # a flag still wins over the stack
    assert cost(capsys, "--stack", "trial", "--memory", "512")["inputs"]["memory_mb"] == 512


def test_stack_region_is_read_from_the_stack_file(capsys, tmp_path, monkeypatch) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-central-1\n")
    (tmp_path / "Pulumi.mars.yaml").write_text("config:\n  aws:region: mars-1\n")
    monkeypatch.chdir(tmp_path)
    inputs = cost(capsys, "--stack", "dev")["inputs"]
    assert inputs["region"] == "eu-central-1"
    assert inputs["sources"]["region"] == "stack dev"
    assert cost(capsys, "--stack", "dev", "--region", "us-east-1")["inputs"]["region"] == (
        "us-east-1"
    )
    assert cost(capsys)["inputs"]["region"] == "us-east-1"
    assert main(["cost", "--stack", "mars"]) == 2
    err = capsys.readouterr().err
    assert "aws:region mars-1 in Pulumi.mars.yaml" in err and "eu-central-1, us-east-1" in err


def test_human_output_is_a_table_with_a_total(capsys) -> None:
    assert main(["cost", *WRITE_UP, "--image-gb", "2", "--api", "rest"]) == 0
    out = capsys.readouterr().out
    assert "Lambda compute" in out and "$1.67" in out
    assert "ECR image storage" in out and "$0.20" in out
    assert "provisioned concurrency" in out
    assert "unverified" in out  # eu-central-1 has figures no stored source confirmed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--warm-schedule", "rate(5 minute)"], "--warm-schedule 'rate(5 minute)':"),
        (["--warm-schedule", "rate(5 minutes)", "--no-warming"], "contradict each other"),
        (["--stack", "nosuch"], "no stack file Pulumi.nosuch.yaml"),
        (["--probe-report", "/nonexistent/report.json"], "/nonexistent/report.json: no such file"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, argv, message) -> None:
    assert main(["cost", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("lukewarm cost: ") and message in err
    assert err.count("\n") == 1


def test_a_file_that_is_not_a_probe_report_is_refused(capsys, tmp_path) -> None:
    bogus = tmp_path / "notes.json"
    bogus.write_text("[1, 2, 3]")
    assert main(["cost", "--probe-report", str(bogus)]) == 2
    assert "not a probe report" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--memory", "64"], "64 must be from 128 to 10240"),
        (["--region", "mars-1"], "invalid choice: 'mars-1'"),
        (["--cold-fraction", "1.5"], "1.5 must be from 0 to 1"),
        (["--requests", "many"], "'many' is not a number"),
    ],
)
def test_bad_flags_are_refused_by_the_parser(capsys, argv, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["cost", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_free_tier_never_takes_the_bill_below_what_is_not_free(capsys) -> None:
    report = cost(capsys, "--requests", "100", "--warm-schedule", "rate(5 minutes)")
    lines = items(report)
    # Lambda (function and arm64 warmer), Scheduler and logs all fit in the free tier
    assert report["total_usd"] == usd(lines["ECR image storage"] + lines["API Gateway (HTTP API)"])


@pytest.mark.parametrize("concurrency", [1, 2, 3])
def test_warm_invokes_bill_the_hold_the_deployed_warmer_asks_for(capsys, concurrency) -> None:
    from contract import warmer_input

    argv = [a for a in WRITE_UP if a != "--no-warming"]
    report = cost(
        capsys, *argv, "--warm-schedule", "rate(5 minutes)",
        "--warm-concurrency", str(concurrency), "--warm-hold-ms", "500",
    )  # fmt: skip
    # infra/warming.py puts warmer_input's hold in every schedule's event; a lone warm-up
    # holds nothing, so the stack never bills its 500 ms.
    hold_s = warmer_input(concurrency, 500)["hold_ms"] / 1000
    invokes = 8640 * concurrency
    lines = items(report)
    assert lines[f"Warm invokes ({invokes:,} x {hold_s * 1000:g} ms)"] == usd(
        invokes * hold_s * 0.0000166667 + invokes * 0.2e-6
    )
    assert lines["Warmer function (8,640 runs)"] == usd(
        8640 * (hold_s + 0.15) * 0.125 * 0.0000133334 + 8640 * 0.2e-6
    )


def test_the_default_stack_bills_no_hold_for_its_lone_warm_up(capsys) -> None:
    report = cost(capsys, "--no-free-tier")
    (window,) = report["inputs"]["warm_schedules"]
    assert (window["concurrency"], window["hold_ms"]) == (1, 0)
    # 8,640 requests, no GB-seconds: the $0.146 of held time it once showed is gone.
    assert items(report)["Warm invokes (8,640 x 0 ms)"] == usd(8640 * 0.2e-6)


def test_snapstart_bills_a_cache_per_version_and_a_restore_per_new_instance(capsys) -> None:
    report = cost(
        capsys, *WRITE_UP, "--region", "us-east-1", "--snapstart", "--snapstart-versions", "2",
        "--init-seconds", "3", "--cold-fraction", "0.1",
    )  # fmt: skip
    lines = items(report)
    # Both weighed "by memory and disk" (the Price List): 1,024 MB + the 512 MB of /tmp.
    # 2 versions x 1.5 GB x 30 days cached; 1,000 new instances restore 1.5 GB each.
    assert lines["SnapStart cache (2 version(s) x 1536 MB, memory + /tmp)"] == usd(
        2 * 1.5 * 2_592_000 * 0.0000015046
    )
    assert lines["SnapStart restores (1,000 x 1536 MB)"] == usd(1000 * 1.5 * 0.0001397998)
    # a restore replaces the init: none is billed
    assert lines["Lambda init (billed cold starts)"] == 0
    assert "snapstart: " in " ".join(report["prices"]["unverified"])


def test_comparison_shows_restores_where_snapstart_replaces_cold_starts(capsys) -> None:
    report = cost(capsys, *WRITE_UP, "--init-seconds", "8", "--cold-fraction", "0.5")
    rows = {row["scenario"]: row for row in report["comparison"]}
    counts = {
        name: (row["cold_starts_per_month"], row["restores_per_month"])
        for name, row in rows.items()
    }
    assert counts["no warming"] == (5000, 0)
    assert counts["SnapStart"] == (0, 5000)
    # SnapStart restores what would have been cold, and what the warmer starts.
    assert counts["SnapStart + warmer"][0] == 0
    assert counts["SnapStart + warmer"][1] > counts["warmer"][0]
    cache = 1 * 1.5 * 2_592_000 * 0.0000015046  # the stack's 1 kept version, 1 GB + /tmp
    # SnapStart trades 5,000 billed 8 s inits for restores (1.5 GB each) and a cache
    no_warming_init = 5000 * 8 * 0.0000166667
    assert rows["SnapStart"]["total_usd"] == usd(
        rows["no warming"]["total_usd"] - no_warming_init + cache + 5000 * 1.5 * 0.0001397998
    )


def test_snapstart_with_provisioned_concurrency_is_refused(capsys) -> None:
    assert main(["cost", "--snapstart", "--provisioned", "1"]) == 2
    assert "cannot be used with provisioned concurrency" in capsys.readouterr().err


def test_monitoring_prices_the_dashboard_and_each_alarm_metric(capsys) -> None:
    off = items(cost(capsys, *WRITE_UP, "--monitoring", "off"))
    dashboard = items(cost(capsys, *WRITE_UP, "--monitoring", "dashboard"))
    alarms = cost(capsys, *WRITE_UP[:-1], "--monitoring", "alarms")
    assert not any(item.startswith("CloudWatch dashboard") for item in off)
    assert dashboard["CloudWatch dashboard"] == usd(3.00)
    assert set(dashboard) - set(off) == {"CloudWatch dashboard"}
    # The default warm window's alarms: four on the function and the API, and the warmer's
    # four, the cold-start rate reading seven metrics and warm reach two: 15 alarm metrics.
    assert alarms["inputs"]["alarm_metrics"] == 15
    assert items(alarms)["CloudWatch alarms (15 alarm metrics)"] == usd(1.50)


def test_the_free_tier_covers_one_dashboard_and_ten_alarm_metrics(capsys) -> None:
    lines = items(cost(capsys, "--monitoring", "alarms", "--no-warming"))
    assert lines["CloudWatch alarms (4 alarm metrics)"] == usd(0.40)
    assert lines["Free tier: CloudWatch dashboard and alarms"] == usd(-3.40)
    busy = items(cost(capsys, "--monitoring", "alarms", "--warm-schedule", "rate(1 minute)"))
    assert busy["Free tier: CloudWatch dashboard and alarms"] == usd(-4.00)
