"""An export that could serve NaN: each file's size is checked at load, its hash by the image
build's check, and a model whose output on a blank image is not finite is refused at init.
Unreadable JSON in a model directory is the model-format error, never a raw exception."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from captioner import ModelFormatError, load_captioner
from captioner.config import read_config
from tests.conftest import DEMO_MODEL_DIR, FUNCTION_DIR

EXPORT_FILES = {"encoder.onnx", "encoder.onnx.data", "decoder_step.onnx", "decoder_step.onnx.data"}


def copied(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    return copy


def build_check(model: Path) -> subprocess.CompletedProcess[str]:
    """What the onnx build stage runs: `python -m captioner.exported model`, stdlib only."""
    command = [sys.executable, "-S", "-m", "captioner.exported", str(model)]
    options: dict[str, Any] = {"cwd": FUNCTION_DIR, "env": {}, "capture_output": True}
    return subprocess.run(command, text=True, check=False, **options)


@pytest.mark.parametrize("model_dir", ["tiny", "demo"])
def test_the_manifest_records_each_export_file_s_size_and_hash(
    tiny_model_dir: Path, model_dir: str
) -> None:
    """The exporter writes them; the committed demo model carries them too."""
    onnx = (tiny_model_dir if model_dir == "tiny" else DEMO_MODEL_DIR) / "onnx"
    manifest = json.loads((onnx / "manifest.json").read_text())
    assert set(manifest["files"]) == EXPORT_FILES
    for name, record in manifest["files"].items():
        data = (onnx / name).read_bytes()
        assert record == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_weights_of_nan_at_the_same_size_are_refused_at_init(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # It loaded, and answered 200 with "caption": "".
    model = copied(tiny_model_dir, tmp_path)
    data = model / "onnx" / "decoder_step.onnx.data"
    size = data.stat().st_size
    data.write_bytes(np.full(size // 4, np.nan, dtype=np.float32).tobytes() + bytes(size % 4))
    with pytest.raises(ModelFormatError, match=r"not finite on a blank image.*lukewarm export"):
        load_captioner(model, "onnx")
    failed = build_check(model)
    assert failed.returncode == 1
    assert "decoder_step.onnx.data" in failed.stderr and "sha256" in failed.stderr


def test_flipped_bytes_are_found_by_the_image_build_check(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    model = copied(tiny_model_dir, tmp_path)
    assert build_check(model).returncode == 0
    data = model / "onnx" / "encoder.onnx.data"
    weights = bytearray(data.read_bytes())
    weights[len(weights) // 2] ^= 0x10
    data.write_bytes(weights)
    failed = build_check(model)
    assert failed.returncode == 1
    assert "encoder.onnx.data" in failed.stderr and "sha256" in failed.stderr
    assert f"lukewarm export {model}" in failed.stderr


@pytest.mark.parametrize("change", ["longer", "shorter", "missing"])
def test_an_export_file_of_another_size_is_refused_at_load(
    tiny_model_dir: Path, tmp_path: Path, change: str
) -> None:
    model = copied(tiny_model_dir, tmp_path)
    data = model / "onnx" / "decoder_step.onnx.data"
    if change == "longer":
        data.write_bytes(data.read_bytes() + bytes(4096))
        words = r"decoder_step.onnx.data is \d[\d,]* bytes; the manifest records"
    elif change == "shorter":
        data.write_bytes(data.read_bytes()[:-4096])
        words = r"decoder_step.onnx.data is \d[\d,]* bytes; the manifest records"
    else:
        data.unlink()
        words = r"decoder_step.onnx.data is missing"
    with pytest.raises(ModelFormatError, match=words + r".*lukewarm export"):
        load_captioner(model, "onnx")


def test_a_manifest_without_file_records_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = copied(tiny_model_dir, tmp_path)
    path = model / "onnx" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["files"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="lukewarm export"):
        load_captioner(model, "onnx")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("config.json", b"[" * 100_000 + b"]" * 100_000),
        ("config.json", b'{"name": "caf\xe9"}'),
        ("vocab.json", b"[" * 100_000 + b"]" * 100_000),
        ("vocab.json", b'["\xff"]'),
        ("onnx/manifest.json", b"[" * 100_000 + b"]" * 100_000),
        ("onnx/manifest.json", b'{"format": "\xff"}'),
    ],
    ids=[
        "config nested",
        "config not UTF-8",
        "vocab nested",
        "vocab not UTF-8",
        "manifest nested",
        "manifest not UTF-8",
    ],
)
def test_unreadable_json_is_the_model_format_error(
    tiny_model_dir: Path, tmp_path: Path, name: str, content: bytes
) -> None:
    # RecursionError and UnicodeDecodeError escaped before.
    model = copied(tiny_model_dir, tmp_path)
    (model / name).write_bytes(content)
    with pytest.raises(ModelFormatError, match=re.escape(Path(name).name)):
        load_captioner(model, "onnx")
    if name == "config.json":
        with pytest.raises(ModelFormatError, match=r"config\.json"):
            read_config(model)


def test_torch_weights_of_nan_are_refused_at_init_too(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The torch runtime reads weights.safetensors with no manifest: same check, on them."""
    model = copied(tiny_model_dir, tmp_path)
    weights = model / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")  # the tensors, after safetensors' header
    count = (len(data) - start) // 4
    data[start : start + count * 4] = np.full(count, np.nan, dtype=np.float32).tobytes()
    weights.write_bytes(data)
    with pytest.raises(ModelFormatError, match=r"not finite on a blank image"):
        load_captioner(model, "torch")
