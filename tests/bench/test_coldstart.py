"""`make bench`: one column per runtime, each measured in processes that really ran it."""

from __future__ import annotations

from pathlib import Path

from bench import coldstart


def test_each_runtime_column_comes_from_a_function_that_ran_that_runtime(
    tiny_model_dir: Path, capsys
) -> None:
    flags = ["--model-dir", str(tiny_model_dir), "--runs", "1", "--calls", "2"]
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
