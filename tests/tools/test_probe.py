"""`lukewarm probe`: a compressed experiment, its report and plot, Ctrl-C, failures."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lukewarm.__main__ import main
from lukewarm.probe import (
    Sample,
    classify,
    derive_threshold,
    output_paths,
    percentile,
    plan,
)

PNG = b"\x89PNG\r\n\x1a\n"
FAST = ["--gap-min", "0.05", "--gap-max", "0.1", "--seed", "1"]


def sample(latency_ms: float | None, cold: bool = False, error: str | None = None) -> Sample:
    return Sample(
        index=0,
        sent_at="",
        offset_s=0,
        gap_s=0,
        latency_ms=latency_ms,
        status=200,
        cold_start=cold,
        error=error,
    )


def test_derived_threshold_is_a_factor_over_the_warm_cluster() -> None:
    samples = [
        sample(30_000, cold=True),
        sample(1000),
        sample(1100),
        sample(1200),
        sample(4000),
        sample(None, error="boom"),
    ]
    # faster half of the non-cold [1000, 1100, 1200, 4000] is [1000, 1100]: median 1050
    assert derive_threshold(samples, factor=1.5) == pytest.approx(1575)
    classify(samples, derive_threshold(samples))
    assert [s.kind for s in samples] == ["cold", "warm", "warm", "warm", "luke-warm", "error"]


def test_jitter_on_fast_answers_is_not_luke_warm() -> None:
    samples = [sample(50), sample(52), sample(78), sample(200)]
    # 1.5 x 51 ms would call 78 ms luke-warm; the threshold is at least median + 100 ms
    assert derive_threshold(samples) == pytest.approx(151)
    classify(samples, derive_threshold(samples))
    assert [s.kind for s in samples] == ["warm", "warm", "warm", "luke-warm"]


def test_no_threshold_without_warm_requests() -> None:
    assert derive_threshold([sample(9000, cold=True)]) is None


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 95) == 10
    assert percentile([0, 100], 95) == 95


def test_out_is_a_directory_or_a_prefix(tmp_path: Path) -> None:
    assert output_paths(f"{tmp_path}/") == (tmp_path / "report.json", tmp_path / "report.png")
    assert output_paths(str(tmp_path)) == (tmp_path / "report.json", tmp_path / "report.png")
    assert output_paths(str(tmp_path / "run1")) == (tmp_path / "run1.json", tmp_path / "run1.png")


def test_short_probe_classifies_reports_and_plots(fake_api, tmp_path, capsys) -> None:
    out = tmp_path / "probe/"
    code = main(
        [
            "probe",
            fake_api.url("probe"),
            "--count",
            "4",
            *FAST,
            "--lukewarm-threshold",
            "400",
            "--out",
            f"{out}/",
        ]
    )
    stdout = capsys.readouterr().out
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.png").read_bytes().startswith(PNG)
    # the fake API says cold on its first answer and is slow (0.6 s) on its third
    assert [r["kind"] for r in report["requests"]] == ["cold", "warm", "luke-warm", "warm"]
    assert {r["instance"] for r in report["requests"]} == {"fake-1"}
    assert report["requests"][0]["model"] == {"name": "fake", "version": "0"}
    assert report["requests"][0]["timing_ms"] == {"preprocess": 1.0, "encode": 2.0, "decode": 3.0}
    assert all(0.05 <= r["gap_s"] <= 0.1 for r in report["requests"][1:])
    assert report["lukewarm_threshold_ms"] == 400
    assert report["summary"]["warm"]["count"] == 2
    assert report["summary"]["luke-warm"]["p50_ms"] >= 600
    assert report["interrupted"] is False
    assert set(report["cost_inputs"]) == {
        "duration_s",
        "warm_duration_s",
        "overall_duration_s",
        "cold_fraction",
        "init_s",
    }
    assert report["cost_inputs"]["cold_fraction"] == 0.25
    for word in ("cold", "luke-warm", "warm", "p50", "p95", "max", str(out / "report.json")):
        assert word in stdout

    # the report is what `lukewarm cost --probe-report` prices
    assert main(["cost", "--probe-report", str(out / "report.json"), "--json"]) == 0
    inputs = json.loads(capsys.readouterr().out)["inputs"]
    assert inputs["duration_s"] == report["cost_inputs"]["duration_s"]
    assert inputs["cold_fraction"] == 0.25


def test_duration_mode_stops_in_time(fake_api, tmp_path, capsys) -> None:
    import matplotlib.pyplot  # noqa: F401 -- imported before the clock starts: not the probe's time

    started = time.monotonic()
    code = main(
        ["probe", fake_api.url("ok"), "--duration", "0.6", *FAST, "--out", str(tmp_path / "d")]
    )
    capsys.readouterr()
    assert code == 0
    assert time.monotonic() - started < 15  # a 0.6 s probe, not one that runs on
    report = json.loads((tmp_path / "d.json").read_text())
    assert 2 <= len(report["requests"]) <= 12
    assert report["requests"][-1]["offset_s"] <= 0.6


def test_server_errors_are_recorded_not_fatal(fake_api, tmp_path, capsys) -> None:
    code = main(["probe", fake_api.url("fail"), "--count", "2", *FAST, "--out", f"{tmp_path}/"])
    out = capsys.readouterr().out
    assert code == 1  # nothing was answered
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["kind"] for r in report["requests"]] == ["error", "error"]
    assert report["requests"][0]["status"] == 500
    assert "model exploded" in report["requests"][0]["error"]
    assert "error" in out
    assert (tmp_path / "report.png").read_bytes().startswith(PNG)


def test_unreachable_server_stops_at_once_without_a_report(closed_port_url, tmp_path, capsys):
    code = main(["probe", closed_port_url, "--count", "5", "--out", f"{tmp_path}/"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("lukewarm probe: cannot reach")
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gap-min", "5", "--gap-max", "1"], "--gap-min 5 is larger than --gap-max 1"),
        (["--image", "/nonexistent.png"], "/nonexistent.png: no such file"),
        (["--out", "/proc/probe/"], "cannot write to /proc/probe: "),
    ],
)
def test_bad_settings_are_one_line(capsys, argv, message) -> None:
    assert main(["probe", "http://127.0.0.1:9/", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lukewarm probe: {message}")
    assert err.count("\n") == 1


def test_says_how_long_it_will_run_before_the_first_request(closed_port_url, tmp_path, capsys):
    # a bare probe: the default 20 requests after gaps of 1 s to 15 minutes
    assert main(["probe", closed_port_url, "--out", f"{tmp_path}/"]) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("lukewarm probe: 20 requests, each after a random gap of 1-900 s")
    assert "expect about 2 h 23 min (at most 4 h 45 min)" in first
    assert plan(None, 540, 5, 75) == (
        "probing for 9 min: about 14 requests, each after a random gap of 5-75 s"
    )


def test_count_and_duration_exclude_each_other(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["probe", "http://127.0.0.1:9/", "--count", "3", "--duration", "5"])
    assert "not allowed with argument" in capsys.readouterr().err


def interrupted_probe(
    fake_api, mode: str, count: int, out: Path, *, after: int, presses: int = 1
) -> tuple[int, bytes, bytes]:
    """`lukewarm probe` of the fake API's `mode` route, sent Ctrl-C `presses` times once it
    has sent `after` requests: its exit code, standard output and standard error."""
    before = len(fake_api.received)
    command = [
        sys.executable, "-m", "lukewarm", "probe", fake_api.url(mode),
        "--count", str(count), *FAST, "--out", f"{out}/",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(fake_api.received) < before + after and time.monotonic() < deadline:
        time.sleep(0.02)
    for _ in range(presses):
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr


def test_ctrl_c_keeps_what_was_measured(fake_api, tmp_path) -> None:
    code, stdout, stderr = interrupted_probe(fake_api, "ok", 1000, tmp_path, after=3)
    assert code == 130, stderr.decode()
    assert b"Traceback" not in stderr
    assert b"interrupted after" in stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["interrupted"] is True
    assert 3 <= len(report["requests"]) < 1000
    assert (tmp_path / "report.png").read_bytes().startswith(PNG)


def test_probe_the_local_stack(local_stack, tmp_path, capsys) -> None:
    code = main(["probe", local_stack.url, "--count", "3", *FAST, "--out", f"{tmp_path}/"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    answered = report["requests"]
    assert [r["error"] for r in answered] == [None, None, None]
    # The server's own cold-start flag decides which requests the probe calls cold.
    assert [r["kind"] == "cold" for r in answered] == [r["cold_start"] for r in answered]
    assert all(r["timing_ms"]["total"] <= r["latency_ms"] for r in answered)
    assert all(r["instance"] for r in answered)
    kinds = {r["kind"] for r in answered}
    assert all(report["summary"][kind]["server_p50_ms"] > 0 for kind in kinds)
    assert (tmp_path / "report.png").read_bytes().startswith(PNG)
    assert "p95" in out


def test_ctrl_c_keeps_the_answer_in_flight_and_a_second_stops_at_once(fake_api, tmp_path):
    """The first Ctrl-C lets the request being answered finish (the slow route takes 2 s)
    and keeps it; pressed twice, the probe stops without waiting for it."""

    code, _, stderr = interrupted_probe(fake_api, "slow", 5, tmp_path / "once", after=1)
    assert code == 130, stderr.decode()
    answered = json.loads((tmp_path / "once" / "report.json").read_text())["requests"]
    assert [(r["status"], r["latency_ms"] >= 1500) for r in answered] == [(200, True)]

    code, _, stderr = interrupted_probe(fake_api, "slow", 5, tmp_path / "twice", after=1, presses=2)
    assert code == 130, stderr.decode()
    assert b"Traceback" not in stderr
    assert json.loads((tmp_path / "twice" / "report.json").read_text())["requests"] == []
