"""What `make bench-reference` reports from its measurements: ratios, targets and floors."""

from __future__ import annotations

from typing import Any

import pytest

from bench import reference

ORIGINAL = {
    "cold_s": 8.0,
    "warm_ms": 2000.0,
    "max_rss_mb": 1200.0,
    "size_mb": 5000.0,
    "cold_cpu_s": 7.5,
    "warm_cpu_ms": 1900.0,
}


def lukewarm(**changes: float) -> dict[str, Any]:
    figures = {
        "cold_s": 1.0,
        "warm_ms": 400.0,
        "max_rss_mb": 300.0,
        "size_mb": 250.0,
        "cold_cpu_s": 1.0,
        "warm_cpu_ms": 380.0,
        "import_s": 0.2,
        "load_s": 0.5,
        "encode_ms": 300.0,
        "import_rss_mb": 40.0,
        "weights_mb": 180.0,
    }
    return {**figures, **changes}


def test_ratio_lines_are_original_over_lukewarm() -> None:
    assert reference._ratios(ORIGINAL, lukewarm()) == "cold=8.0 warm=5.0 rss=4.0 size=20.0"
    assert reference._ratios(ORIGINAL, lukewarm(), cpu=True) == "cold=7.5 warm=5.0"


def test_the_variant_of_the_default_runtime_comes_first() -> None:
    assert reference.variant_order("onnx") == ["onnx", "onnx-int8", "torch"]
    assert reference.variant_order("torch") == ["torch", "onnx", "onnx-int8"]
    assert reference.variant_order(reference.default_runtime())[0] == "onnx"


def test_help_says_the_columns_are_variants_and_names_the_ratio_lines_so(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        reference.main(["--help"])
    assert exited.value.code == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "the original 2022 design against lukewarm's variants, side by side" in usage
    assert "--runs RUNS fresh processes per variant" in usage
    assert "one `ratios[VARIANT]:` line per variant" in usage
    assert "RUNTIME]" not in usage


def test_no_floor_is_printed_when_every_target_is_met() -> None:
    assert reference.floors(ORIGINAL, lukewarm(), reference.TARGETS["onnx"]) == ""


def test_each_missed_target_names_what_blocks_it_against_what_it_allows() -> None:
    slow = lukewarm(cold_s=2.0, warm_ms=800.0, encode_ms=700.0, load_s=0.9)
    floors = reference.floors(ORIGINAL, slow, reference.TARGETS["onnx"])

    # cold: 8.0 s / 5x allows 1.60 s (7.5 s of CPU / 5x: 1.50 s); imports + load + one
    # encoder pass = 0.2 + 0.9 + 0.7
    assert "cold start: imports 0.20 s + model load 0.90 s + one encoder pass 0.70 s" in floors
    assert "= 1.80 s, against 1.60 s (1.50 s of CPU) for 5x (4.0x by wall time" in floors
    # warm: 2,000 ms / 3.5x allows 571 ms; the encoder alone takes 700
    assert "700 ms, against 571 ms (543 ms of CPU) for 3.5x (2.5x by wall time" in floors
    assert "peak RSS" not in floors
    assert "installed size" not in floors


def test_a_target_met_by_wall_time_but_not_by_cpu_time_is_missed() -> None:
    # A busy neighbour slowed the original's wall time: only CPU time shows the miss.
    busy = {**ORIGINAL, "cold_s": 20.0}
    floors = reference.floors(busy, lukewarm(cold_cpu_s=1.6), reference.TARGETS["onnx"])

    assert floors.startswith("cold start: ")
    assert "(20.0x by wall time, 4.7x by CPU time)" in floors


def test_a_missed_size_names_the_largest_dependencies() -> None:
    heavy = lukewarm(
        size_mb=436.0, files_mb=240.0, dists_mb={"onnxruntime": 80.0, "numpy": 71.0, "b": 45.0}
    )
    floors = reference.floors(ORIGINAL, heavy, reference.TARGETS["onnx"])

    # 5,000 MB / 15x allows 333 MB
    assert floors == (
        "installed size: dependencies 196 MB (onnxruntime 80, numpy 71, b 45) + model files "
        "240 MB, against 333 MB for 15x"
    )


def test_int8_has_no_size_target_and_its_own_memory_target() -> None:
    heavy = lukewarm(max_rss_mb=400.0, size_mb=2000.0)
    floors = reference.floors(ORIGINAL, heavy, reference.TARGETS["onnx-int8"])

    # 1,200 MB / 4x allows 300 MB; the runtime (40) and the model files (180) take 220
    assert "peak RSS: the runtime once imported 40 MB + the model files 180 MB = 220 MB" in floors
    assert "against 300 MB for 4x" in floors
    assert "installed size" not in floors
