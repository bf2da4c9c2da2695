"""`lukewarm import` measures what the model needs from Lambda and keeps it in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from captioner.images import ImageTooLarge, decode_image
from toolkit.hub import import_model
from toolkit.hub.need import LARGEST, largest_png
from toolkit.hub.random import random_model


def test_the_measured_image_is_the_largest_the_function_accepts(tmp_path: Path) -> None:
    width, height = LARGEST
    accepted = largest_png(tmp_path / "largest.png")
    # Accepted, and shrunk while decoded as any large photo is.
    assert min(decode_image(accepted.read_bytes(), min_size=224).size) >= 224
    for bigger in ((width + 1, height), (width, height + 1)):
        with pytest.raises(ImageTooLarge):
            decode_image(largest_png(tmp_path / "bigger.png", bigger).read_bytes())


def test_the_import_records_peak_memory_and_times_in_the_manifest(tmp_path: Path) -> None:
    source = random_model("blip", tmp_path / "source")
    report = import_model(str(source), tmp_path / "blip")

    manifest = json.loads((tmp_path / "blip" / "onnx" / "manifest.json").read_text())
    measured = manifest["measured"]
    # The decoded largest image alone is 128 MiB: the peak is above it, whatever the model.
    assert measured["peak_rss_mb"] > 128
    assert measured["init_s"] > 0 and measured["caption_s"] > 0
    assert measured["image"].startswith(f"{LARGEST[0]}x{LARGEST[1]} RGB PNG")
    assert measured["threads"] == 1
    assert report.measured == measured
    line = next(line for line in report.lines() if "peak RSS" in line)
    assert f"peak RSS {measured['peak_rss_mb']:,} MB on the largest accepted image" in line
    assert "give it lukewarm:memorySize" in line
