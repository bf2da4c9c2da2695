"""`make bench`: one column per runtime, each measured in processes that really ran it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench import coldstart


def test_each_runtime_column_comes_from_a_function_that_ran_that_runtime(
    tiny_model_dir: Path, capsys, tmp_path
) -> None:
    results = tmp_path / "coldstart.json"
    flags = ["--model-dir", str(tiny_model_dir), "--runs", "1", "--calls", "2"]
    flags += ["--results", str(results)]
    assert coldstart.main([*flags, "--runtime", "torch", "--runtime", "onnx"]) == 0

    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.strip().startswith("torch"))
    assert header.split() == ["torch", "onnx", "reference"]
    reported = next(line for line in lines if line.startswith("runtime the function reported"))
    assert reported.split()[-2:] == ["torch", "onnx"]
    photo, largest = (
        next(line for line in lines if line.startswith(label))
        for label in ("peak RSS, photo", "peak RSS, then a ")
    )
    # Decoding the most pixels accepted needs memory on top, however it is shrunk.
    for before, after in zip(photo.split()[3::2], largest.split()[7::2], strict=True):
        assert float(after) > float(before)

    # The medians `lukewarm cost` prices from, dated, with where they came from.
    written = json.loads(results.read_text())
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", written["date"])
    assert written["command"].startswith("make bench ARGS='--model-dir ")
    assert written["commit"]
    assert set(written["runtimes"]) == {"torch", "onnx"}
    for runtime, figures in written["runtimes"].items():
        assert figures["runtime"] == runtime
        assert 0 < figures["warm_s"] < figures["init_s"] + figures["first_request_s"]
        assert 0 < figures["cold_cpu_share"] <= 1 and 0 < figures["warm_cpu_share"] <= 1
