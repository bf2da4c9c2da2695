"""`make bench`: one column per variant (a model directory and the runtime it loads on),
each measured in processes that really ran it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import coldstart


def test_each_variant_column_comes_from_a_function_that_ran_its_runtime(
    tiny_model_dir: Path, capsys, tmp_path
) -> None:
    results = tmp_path / "coldstart.json"
    flags = ["--model-dir", str(tiny_model_dir), "--runs", "1", "--calls", "2"]
    flags += ["--results", str(results)]
    assert coldstart.main([*flags, "--variant", "torch", "--variant", "onnx"]) == 0

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
    assert lines[-2].endswith("warm: 2 calls in one fresh process per variant")

    # The medians `lukewarm cost` prices from, dated, with where they came from.
    written = json.loads(results.read_text())
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", written["date"])
    assert written["command"].startswith("make bench ARGS='--model-dir ")
    assert written["commit"]
    assert written["command"].endswith("--variant torch --variant onnx'")
    assert set(written["variants"]) == {"torch", "onnx"}
    for variant, figures in written["variants"].items():
        assert figures["runtime"] == coldstart.VARIANTS[variant] == variant
        assert 0 < figures["warm_s"] < figures["init_s"] + figures["first_request_s"]
        assert 0 < figures["cold_cpu_share"] <= 1 and 0 < figures["warm_cpu_share"] <= 1


def test_help_offers_the_variants_by_name(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        coldstart.main(["--help"])
    assert exited.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "--variant {onnx,onnx-int8,torch}" in usage
    assert "measure this variant: a model directory and the runtime it loads on" in usage


def test_an_unknown_variant_is_refused_naming_the_choices(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        coldstart.main(["--variant", "tensorflow"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --variant: invalid choice: 'tensorflow'" in error
    assert "Traceback" not in error


def test_the_old_flag_is_refused_with_the_new_one_spelled_out(capsys) -> None:
    """`--runtime onnx-int8` asked for a variant (onnx-int8 runs on the onnx runtime)."""
    with pytest.raises(SystemExit) as exited:
        coldstart.main(["--runtime", "onnx-int8", "--runtime", "torch"])
    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.endswith(
        "--runtime is now --variant (one of onnx, onnx-int8, torch): "
        "--variant onnx-int8 --variant torch"
    )
