"""What `make bench-hf` reports from its measurements, and what its processes measure."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import hf, reference

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = {
    "cold_s": 9.0,
    "warm_ms": 2500.0,
    "max_rss_mb": 1800.0,
    "size_mb": 1900.0,
    "cold_cpu_s": 8.0,
    "warm_cpu_ms": 2400.0,
}


def lukewarm(**changes: Any) -> dict[str, Any]:
    figures = {
        "cold_s": 1.5,
        "warm_ms": 500.0,
        "max_rss_mb": 600.0,
        "size_mb": 450.0,
        "cold_cpu_s": 1.2,
        "warm_cpu_ms": 480.0,
        "import_s": 0.3,
        "load_s": 0.6,
        "first_caption_s": 0.6,
        "encode_ms": 380.0,
        "import_rss_mb": 60.0,
        "weights_mb": 380.0,
        "dists_mb": {"onnxruntime": 80.0, "numpy": 71.0, "pillow": 22.0},
        "files_mb": 277.0,
        "steps": 16,
        "versions": {"torch": None, "transformers": None, "onnxruntime": "1.32.0"},
    }
    return {**figures, **changes}


def test_ratio_lines_are_reference_over_lukewarm() -> None:
    assert hf.ratios(REFERENCE, lukewarm()) == "cold=6.0 warm=5.0 rss=3.0 size=4.2"


def test_no_floor_is_printed_when_every_target_is_met() -> None:
    assert hf.floors(REFERENCE, lukewarm(), hf.TARGETS["onnx-int8"]) == ""


def test_each_missed_target_names_what_blocks_it_against_what_it_allows() -> None:
    heavy = lukewarm(max_rss_mb=1500.0, import_rss_mb=60.0, weights_mb=1300.0, size_mb=1300.0)
    floors = hf.floors(REFERENCE, heavy, hf.TARGETS["onnx"])

    # rss: 1,800 MB / 1.3x allows 1,385 MB; the runtime 60 MB + the graphs 1,300 MB + 140.
    assert "peak RSS: the runtime once imported 60 MB + the model files 1,300 MB + 140 MB" in floors
    assert "= 1,500 MB, against 1,385 MB for 1.3x" in floors
    # size: 1,900 MB / 1.7x allows 1,118 MB; the largest dependencies are named.
    assert "installed size: dependencies 173 MB (onnxruntime 80, numpy 71, pillow 22)" in floors
    assert "against 1,118 MB for 1.7x" in floors
    assert "cold start" not in floors and "warm caption" not in floors


def test_a_time_met_by_wall_clock_but_not_by_cpu_time_is_missed() -> None:
    # A busy neighbour slowed the reference's wall time: only CPU time shows the miss.
    busy = {**REFERENCE, "warm_ms": 9000.0}
    floors = hf.floors(busy, lukewarm(warm_cpu_ms=1500.0), hf.TARGETS["onnx"])

    assert floors.startswith("warm caption: the image encoder alone 380 ms + 120 ms decoding")
    assert "(18.0x by wall time, 1.6x by CPU time)" in floors


def test_the_report_says_what_each_side_ran_and_whether_it_fits_the_default_memory() -> None:
    figures = {
        "reference": lukewarm(
            **REFERENCE, versions={"torch": "2.13.0+cpu", "transformers": "4.57.6"}
        ),
        "onnx": lukewarm(max_rss_mb=1900.0),
        "onnx-int8": lukewarm(),
    }
    args = argparse.Namespace(steps=16)
    report = hf.family_report("vit-gpt2", figures, args)

    assert "reference (torch 2.13.0+cpu, transformers 4.57.6)" in report
    assert "onnx (onnxruntime 1.32.0, no torch)" in report
    assert "1,900 MB (60 MB once the runtime is imported), which does NOT fit" in report
    assert "| peak RSS | 1,800 MB | 1,900 MB (0.9x, ≥ 1.3x missed) | 600 MB (3.0x, ≥ 3x met) |" in (
        report
    )


def test_the_reference_is_transformers_4_on_cpu_only_torch_with_the_functions_pins() -> None:
    wheel = Path("/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    torch, rest = hf.reference_commands(wheel)

    assert torch == [str(wheel)]
    assert rest[0].startswith("transformers==4.")
    pins = (ROOT / "function" / "requirements-onnx.txt").read_text()
    assert all(pin in pins for pin in rest[1:]) and len(rest) == 3
    assert hf.reference_commands(None)[0][:2] == [
        "--index-url",
        "https://download.pytorch.org/whl/cpu",
    ]


def test_the_lukewarm_child_decodes_exactly_the_steps_asked(tmp_path: Path) -> None:
    """A tiny import with end of sentence suppressed: every caption is 6 steps long, and
    the child counts them (the bench refuses sides whose counts differ)."""
    from toolkit.hub import import_model
    from toolkit.hub.random import random_model

    source = random_model("vit-gpt2", tmp_path / "source", num_beams=2, max_length=7, min_length=7)
    import_model(str(source), tmp_path / "onnx")
    env = {**os.environ, **reference.ONE_THREAD, "PYTHONPATH": str(ROOT / "function")}
    image = ROOT / "data" / "photos" / "coffee.png"
    command = [sys.executable, str(hf.CHILD), "lukewarm", str(tmp_path / "onnx"), str(image)]
    command += ["--family", "vit-gpt2", "--beam", "2", "--steps", "6", "--warm", "2"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.splitlines()[-1])

    assert result["steps"] == [6, 6, 6]
    assert result["torch"] is None and result["transformers"] is None
    assert result["max_rss_mb"] >= result["import_rss_mb"] > 0
    assert len(result["warm_ms"]) == 2


def test_the_results_say_when_at_which_commit_and_with_which_command(monkeypatch) -> None:
    monkeypatch.setenv("LUKEWARM_TORCH_WHEEL", "/wheels/torch.whl")
    started = time.strptime("2026-12-01 18:54", "%Y-%m-%d %H:%M")
    header = hf.run_header(started, ["--runs", "5"])

    assert header.startswith("# make bench-hf, 2026-12-01 18:54 UTC\n\nAt ")
    assert 'LUKEWARM_TORCH_WHEEL=/wheels/torch.whl make bench-hf ARGS="--runs 5"`' in header
    command = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    assert f"At {commit.stdout.strip()}" in header


def test_the_built_models_are_keyed_on_files_that_exist() -> None:
    """The caches of built models are keyed on their sources' bytes: a source moved away
    (toolkit/export.py was lukewarm/export.py) failed every run before it measured anything."""
    missing = [name for name in hf.BUILT_FROM if not (hf.ROOT / name).is_file()]
    assert missing == []
    assert len(hf._source_digest()) == len(reference.exporter_digest()) == 32
