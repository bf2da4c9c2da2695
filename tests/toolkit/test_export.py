"""`lukewarm export`: what it writes, that it is deterministic and atomic, the pooling it
exports in place of torch's, int8 with its agreement, and the mistakes it refuses."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from captioner import CaptionModel, ModelConfig, Vocabulary, load_captioner, save_model
from captioner.config import SPECIAL_TOKENS, DecoderConfig, EncoderConfig, PreprocessConfig
from lukewarm.__main__ import main
from toolkit import export
from toolkit.scenes import make_scene

EXPORT_FILES = [
    "decoder_step.onnx",
    "decoder_step.onnx.data",
    "encoder.onnx",
    "encoder.onnx.data",
    "manifest.json",
]


def _copy(model_dir: Path, tmp_path: Path, name: str = "model") -> Path:
    copy = tmp_path / name
    shutil.copytree(model_dir, copy)
    return copy


def test_export_writes_a_fingerprinted_export_and_reports_its_agreement(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    shutil.rmtree(model / "onnx")
    assert main(["export", str(model)]) == 0
    printed = capsys.readouterr().out
    assert f"Exported {model} to {model}/onnx/ (fp32" in printed
    assert "fp32 against torch: top caption identical on 8/8 images, 100.0% of words" in printed
    assert sorted(p.name for p in (model / "onnx").iterdir()) == EXPORT_FILES
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging left behind
    manifest = json.loads((model / "onnx" / "manifest.json").read_text())
    assert manifest["quantize"] == "none"
    assert set(manifest["sources"]) == {"config.json", "vocab.json", "weights.safetensors"}
    # The same sources and settings give the same bytes: the committed export can be checked.
    for name in EXPORT_FILES:
        assert (model / "onnx" / name).read_bytes() == (tiny_model_dir / "onnx" / name).read_bytes()


def test_export_refreshes_a_stale_export(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    config = json.loads((model / "config.json").read_text())
    config["version"] = "1"
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(Exception, match="stale"):
        load_captioner(model, "onnx")
    export.export_model(model, checks=2)
    assert load_captioner(model, "onnx").info == {
        "name": "tiny-random",
        "version": "1",
        "runtime": "onnx",
    }


def test_a_failed_export_leaves_the_previous_one_in_place(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    before = {name: (model / "onnx" / name).read_bytes() for name in EXPORT_FILES}

    def disk_full(source: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "optimise", disk_full)
    with pytest.raises(export.ExportError, match="No space left on device"):
        export.export_model(model, checks=2)
    assert {name: (model / "onnx" / name).read_bytes() for name in EXPORT_FILES} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize(("size", "grid"), [(8, 14), (4, 14), (10, 10), (5, 7)])
def test_the_exported_pooling_is_torch_s_adaptive_pooling(size: int, grid: int) -> None:
    """Enlarging (ResNet-101 at 256 px: 8x8 to 14x14), keeping and shrinking the grid;
    the same averages, summed in another order."""
    torch.manual_seed(size)
    features = torch.randn(2, 3, size, size)
    pooled = export._grid_pool(size, grid)(features)
    torch.testing.assert_close(pooled, nn.AdaptiveAvgPool2d(grid)(features), rtol=1e-6, atol=1e-6)


def _enlarged_model(model_dir: Path) -> Path:
    """The reference Show-Attend-Tell layout in miniature: a 4x4 trunk output pooled up
    to a 14x14 grid, which torch's exporter refuses as adaptive pooling."""
    torch.manual_seed(5)
    config = ModelConfig(
        name="enlarged",
        version="1",
        encoder=EncoderConfig(backbone="resnet18", stages=3, encoded_size=14),
        decoder=DecoderConfig(embed_dim=8, attention_dim=8, decoder_dim=16, dropout=0.0),
        preprocess=PreprocessConfig(image_size=64),
        max_length=6,
    )
    vocabulary = Vocabulary((*SPECIAL_TOKENS, "red", "blue", "circle", "square"))
    model = CaptionModel(config.encoder, config.decoder, len(vocabulary)).eval()
    save_model(model_dir, config, vocabulary, model)
    return model_dir


def test_a_grid_larger_than_the_trunk_output_exports_and_matches_torch(tmp_path: Path) -> None:
    report = export.export_model(_enlarged_model(tmp_path / "model"), checks=4)
    assert report.max_difference < 1e-4
    assert report.versus_torch.identical == 4


def test_graphs_that_do_not_compute_torch_s_numbers_are_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _enlarged_model(tmp_path / "model")
    pooling = export._grid_pool

    class Doubled(nn.Module):
        def __init__(self, size: int, grid: int) -> None:
            super().__init__()
            self.pool = pooling(size, grid)

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return 2 * self.pool(features)

    monkeypatch.setattr(export, "_grid_pool", Doubled)
    with pytest.raises(export.ExportError, match=r"differ from torch by up to .*not written"):
        export.export_model(model, checks=2)
    assert not (model / "onnx").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_int8_export_calibrates_on_a_folder_and_reports_agreement_with_fp32(
    tiny_model_dir: Path, tmp_path: Path, photos: dict[str, Path], capsys
) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    folder = tmp_path / "calibration"
    folder.mkdir()
    for path in photos.values():
        shutil.copy(path, folder / path.name)
    (folder / "README.txt").write_text("not an image, skipped")
    argv = ["export", str(model), "--quantize", "int8", "--calibration", str(folder)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "(int8," in printed
    assert re.search(
        rf"int8 against fp32: top caption identical on \d/{len(photos)} images", printed
    )
    manifest = json.loads((model / "onnx" / "manifest.json").read_text())
    assert manifest["quantize"] == "int8"
    assert manifest["agreement"]["versus_fp32"]["images"] == len(photos)
    captioner = load_captioner(model, "onnx")
    assert captioner.info["runtime"] == "onnx-int8"
    fp32_bytes = sum((tiny_model_dir / "onnx" / n).stat().st_size for n in EXPORT_FILES)
    int8_bytes = sum((model / "onnx" / n).stat().st_size for n in EXPORT_FILES)
    assert int8_bytes < fp32_bytes / 2
    assert captioner.caption(Image.open(photos["coffee"]).convert("RGB")).caption


def test_the_demo_model_in_int8_still_captions_held_out_scenes(tmp_path: Path) -> None:
    """The int8 opt-in on the committed demo model, calibrated on generated scenes: its
    own agreement report, and the truth on held-out scenes."""
    from tests.conftest import DEMO_MODEL_DIR

    model = _copy(DEMO_MODEL_DIR, tmp_path)
    report = export.export_model(model, quantize="int8", checks=2)
    assert report.versus_fp32 is not None
    assert report.versus_fp32.identical >= 0.95 * report.versus_fp32.images
    scenes = [make_scene("evaluate", 1000003, i) for i in range(40)]
    captions = load_captioner(model, "onnx").caption_batch([s.image for s in scenes], beam=3)
    right = sum(c.caption == s.caption for c, s in zip(captions, scenes, strict=True))
    assert right >= 0.95 * len(scenes)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--calibration", "{tmp}"], "--calibration only applies to --quantize int8"),
        (["--quantize", "int8", "--calibration", "{tmp}/nowhere"], "is not a directory"),
        (["--quantize", "int8", "--calibration", "{tmp}/empty"], "holds no images"),
    ],
)
def test_export_mistakes_are_refused_with_a_reason(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "empty").mkdir()
    model = _copy(tiny_model_dir, tmp_path)
    before = (model / "onnx" / "manifest.json").read_bytes()
    assert main(["export", str(model), *(a.format(tmp=tmp_path) for a in argv)]) == 1
    assert message in capsys.readouterr().err
    assert (model / "onnx" / "manifest.json").read_bytes() == before


def test_a_directory_that_is_not_a_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path)]) == 1
    assert f"lukewarm export: cannot read {tmp_path}" in capsys.readouterr().err
