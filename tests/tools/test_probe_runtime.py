"""`lukewarm probe` says which model and runtime answered, from each response's `model`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lukewarm.__main__ import main
from lukewarm.probe import Sample, describe_model, served_by

# A function that answers like lukewarm's, with the runtime its instance was started with.
REPORTS_RUNTIME = """
import json, os

served = []

def handler(event, context):
    served.append(1)
    model = {"name": "fake", "version": "1", "runtime": os.environ["LUKEWARM_RUNTIME"]}
    body = {"caption": "a fake", "alternatives": [], "model": model, "timing_ms": {},
            "cold_start": len(served) == 1, "instance": "i-fake"}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}
"""


def answered(model: dict[str, str] | None) -> Sample:
    return Sample(index=0, sent_at="", offset_s=0, gap_s=0, latency_ms=10, status=200, model=model)


def test_each_model_and_runtime_that_answered_is_counted_in_order() -> None:
    old = {"name": "demo", "version": "2", "runtime": "torch"}
    new = {"name": "demo", "version": "2", "runtime": "onnx"}
    samples = [answered(old), answered(None), answered(old), answered(new), answered(new)]

    assert served_by(samples) == [{**old, "requests": 2}, {**new, "requests": 2}]
    assert describe_model(served_by(samples)[1]) == "demo 2 on onnx"


def test_a_function_that_does_not_report_its_runtime_is_described_by_its_model() -> None:
    (model,) = served_by([answered({"name": "demo", "version": "1"})])

    assert model["runtime"] is None
    assert describe_model(model) == "demo 1"


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_report_and_summary_name_the_runtime_the_stack_served(
    local_stack_factory, tmp_path: Path, capsys, runtime: str
) -> None:
    (tmp_path / "function").mkdir()
    (tmp_path / "function" / "app.py").write_text(REPORTS_RUNTIME)
    stack = local_stack_factory(task_root=tmp_path / "function", no_warmer=True, runtime=runtime)
    out = tmp_path / "probe"

    flags = ["--count", "2", "--gap-min", "0", "--gap-max", "0.05", "--out", f"{out}/"]
    code = main(["probe", stack.url, *flags])

    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["served_by"] == [
        {"name": "fake", "version": "1", "runtime": runtime, "requests": 2}
    ]
    assert f"served by: fake 1 on {runtime} (2 requests)" in capsys.readouterr().out
