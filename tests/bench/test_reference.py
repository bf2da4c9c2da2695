"""The reference benchmark's machinery on a small model: the original's, torch's and ONNX
Runtime's child processes compute the same caption when they decode the same steps
greedily, and report what the table needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import torch
from PIL import Image

from bench import reference
from bench.original.models import DecoderWithAttention, Encoder
from toolkit.convert import convert, write_model

STEPS = 6


def _child(mode: str, model: Path, image: Path, pythonpath: Path, *options: str) -> dict:
    command = [sys.executable, str(reference.CHILD), mode, str(model), str(image), *options]
    command += ["--beam", "1", "--steps", str(STEPS), "--warm", "1"]
    env = {**os.environ, **reference.ONE_THREAD, "PYTHONPATH": str(pythonpath)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_both_runtimes_caption_alike_and_report_their_figures(
    tmp_path: Path, photos: dict[str, Path]
) -> None:
    torch.manual_seed(0)
    words = ["<pad>", *(f"w{i}" for i in range(30)), "<unk>", "<start>", "<end>"]
    word_map = {w: i for i, w in enumerate(words)}
    encoder = Encoder(4, backbone="resnet18")
    decoder = DecoderWithAttention(16, 16, 32, len(words), encoder_dim=512)
    with torch.no_grad():
        decoder.fc.bias[word_map["<end>"]] = -1e4  # as the benchmark: no early end
    joblib.dump(
        {"encoder": encoder, "decoder": decoder, "word_map": word_map}, tmp_path / "m.joblib"
    )
    conversion = convert(
        encoder, decoder, word_map, name="t", version="0", encoded_size=4, max_length=STEPS - 1
    )
    write_model(tmp_path / "lukewarm", conversion)
    image = tmp_path / "photo.png"  # already at the input size: both see the same pixels
    Image.open(photos["coffee"]).convert("RGB").resize((256, 256)).save(image)

    original = _child("original", tmp_path / "m.joblib", image, reference.ROOT)
    function = reference.ROOT / "function"
    lukewarm = _child("lukewarm", tmp_path / "lukewarm", image, function, "--runtime", "torch")
    onnx = _child("lukewarm", tmp_path / "lukewarm", image, function, "--runtime", "onnx")

    # Greedy, as the benchmark's check: the same words, but lukewarm's last step can only
    # end the caption, while the original's adds a word.
    assert len(original["caption"].split()) == STEPS
    assert original["caption"].split()[:-1] == lukewarm["caption"].split()
    assert onnx["caption"] == lukewarm["caption"]
    assert (lukewarm["runtime"], onnx["runtime"]) == ("torch", "onnx")
    assert onnx["torch"] is None and onnx["onnxruntime"]  # never imported torch
    for result in (original, lukewarm, onnx):
        assert min(result["import_s"], result["load_s"], result["first_caption_s"]) > 0
        assert len(result["warm_ms"]) == 1 and 0 < result["encode_ms"][0] < result["warm_ms"][0]
        # A real reading (the interpreter alone is about 10 MB; a runtime and NumPy add 35+;
        # a fresh virtualenv's onnx side read 48 MB), below the peak.
        assert 25 < result["import_rss_mb"] < result["max_rss_mb"]
