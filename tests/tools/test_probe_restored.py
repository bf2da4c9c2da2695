"""`lukewarm probe` against a SnapStart function: restored requests are their own class."""

from __future__ import annotations

import pytest

from lukewarm.probe import Sample, classify, cost_inputs, derive_threshold, summarise


def answered(index: int, latency_ms: float, **flags: bool) -> Sample:
    return Sample(index, "t", float(index), 1.0, latency_ms, 200, **flags)


def test_restored_requests_are_classed_apart_and_counted_as_new_instances() -> None:
    samples = [
        answered(0, 900.0, restored=True),
        answered(1, 100.0),
        answered(2, 110.0),
        answered(3, 2500.0, cold_start=True),
        answered(4, 105.0),
    ]
    threshold = derive_threshold(samples)
    classify(samples, threshold)
    summary = summarise(samples)
    inputs = cost_inputs(samples)

    assert [s.kind for s in samples] == ["restored", "warm", "warm", "cold", "warm"]
    # A slow restore neither drags the warm threshold up nor reads as luke-warm.
    assert threshold == 202.5  # the faster half of the warm answers, + 100 ms
    assert summary["restored"]["count"] == 1 and summary["restored"]["p50_ms"] == 900.0
    # Both started an instance: `lukewarm cost --snapstart` prices those as restores.
    assert inputs["cold_fraction"] == 0.4


def test_the_probes_help_names_every_class_restored_included(capsys):
    from lukewarm.__main__ import main

    with pytest.raises(SystemExit):
        main(["probe", "--help"])

    out = capsys.readouterr().out
    assert "measure cold, restored, luke-warm and warm latency over time" in out
    for line in (
        "- cold: the response says `cold_start: true` (the instance loaded the model for it);",
        "- restored: the response says `restored: true` (SnapStart restored the instance for it);",
        "- luke-warm: not cold, but slower than the luke-warm threshold;",
        "- warm: the rest.",
    ):
        assert line in out.splitlines()
