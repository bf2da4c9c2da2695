"""`lukewarm export MODEL_DIR [--quantize {none,int8}] [--calibration DIR]`: the ONNX
export the function runs, made by torch from the model directory's weights.

The export is derived, deterministic and fingerprinted (see `captioner.exported`): it
lands in `MODEL_DIR/onnx/` next to the weights it was made from, written to a temporary
directory first and renamed into place. `lukewarm convert` and `make demo-model` run it.

- fp32 (the default): the encoder (with the decoder's per-image half) and the decoder
  step, exported by torch's TorchScript exporter, then optimised once by ONNX Runtime at
  its extended level, which is the same on every CPU, and saved with their weights in a
  page-aligned file beside each graph, which ONNX Runtime maps into memory.
- int8: the encoder quantized statically (QDQ, int8 weights per channel) with
  calibration images: generated scenes, or the photos in `--calibration DIR` for a model
  that captions anything else; the decoder step's matrix products quantized dynamically.
  Weights use 7 bits (`reduce_range`): CPUs with AVX2 but no VNNI (this kind of machine;
  Lambda's x86_64 as far as AWS documents) multiply u8 by s8 in pairs summed into 16
  bits, which full-range weights can saturate. The export prints how often the int8
  captions equal the fp32 ones.
"""

# torch, onnx and ONNX Runtime's quantization load only when an export runs.

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from captioner import ModelFormatError
from captioner.exported import (
    DATA_SUFFIX,
    ENCODER_FILE,
    EXPORT_DIR,
    EXPORT_FORMAT,
    MANIFEST_FILE,
    QUANTIZE_CHOICES,
    STEP_FILE,
    Manifest,
    export_files,
    fingerprint,
    source_digests,
)
from toolkit.alike import Agreement, compare_captions

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image
    from torch import Tensor, nn

    from captioner import ModelConfig
    from captioner.model import CaptionModel
    from captioner.ort import OrtCaptioner
    from captioner.pytorch import Captioner

OPSET = 17
CALIBRATION_SCENES = 32
TORCH_CHECKS = 8
"""Images the fp32 export captions alongside torch (torch is the slow side of this)."""
INT8_CHECKS = 64
"""Images the int8 export captions alongside fp32."""
TOLERANCE = 1e-2
"""Largest difference of an fp32 graph's output from torch's, relative to that output's
largest value. Float sums in another order differ by about 1e-6 on trained weights and
by up to 2e-3 on untrained ones, whose activations reach 1e4; a wrong graph by far more."""
# Scenes of the evaluate split under seeds that `make evaluate` (1000003) never uses.
CALIBRATION_SEED = 17
CHECK_SEED = 18
DEMO_MODEL_NAME = "lukewarm-shapes"
"""`toolkit.train.MODEL_NAME`: the one model that generated scenes calibrate well."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class ExportError(Exception):
    """A model directory that cannot be exported, and why."""


@dataclass(frozen=True)
class ExportReport:
    model_dir: Path
    quantize: str
    files: dict[str, int]
    """Bytes of each file written under `model_dir/onnx/`."""
    seconds: float
    max_difference: float
    """Largest difference of the fp32 export's outputs from torch's on test inputs,
    relative to each output's largest value (see `TOLERANCE`)."""
    versus_torch: Agreement
    """The fp32 export's captions against torch's."""
    versus_fp32: Agreement | None = None
    """For int8: its captions against the fp32 export's."""
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        total = sum(self.files.values()) / 1e6
        kinds = "fp32" if self.quantize == "none" else self.quantize
        lines = [
            f"Exported {self.model_dir} to {self.model_dir / EXPORT_DIR}/ ({kinds}, "
            f"{total:.1f} MB: {', '.join(self.files)}) in {self.seconds:.1f} s",
            f"  fp32 against torch: {self.versus_torch}; largest relative output "
            f"difference {self.max_difference:.1e}",
        ]
        if self.versus_fp32 is not None:
            lines.append(f"  {kinds} against fp32: {self.versus_fp32}")
        lines += [f"  note: {note}" for note in self.notes]
        return lines


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model_dir", type=Path, metavar="MODEL_DIR", help="the model directory to export"
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        default="none",
        help="int8: quantized encoder and decoder step; smaller and faster, captions can "
        "differ (the export prints how often); default %(default)s",
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="DIR",
        help="images like the ones the model will caption, to calibrate int8 "
        "(default: generated scenes, which suit only the demo model)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        report = export_model(args.model_dir, quantize=args.quantize, calibration=args.calibration)
    except ExportError as error:
        print(f"lukewarm export: {error}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


def export_model(
    model_dir: str | Path,
    *,
    quantize: str = "none",
    calibration: Path | None = None,
    checks: int = TORCH_CHECKS,
) -> ExportReport:
    """Export `model_dir` to `model_dir/onnx/` (replacing any export there) and compare
    its captions with torch's on `checks` images; for int8, also with fp32's on
    `INT8_CHECKS` images (or the calibration photos)."""

    started = time.perf_counter()
    model_dir = Path(model_dir)
    if quantize not in QUANTIZE_CHOICES:
        raise ExportError(f"quantize {quantize!r} is not one of {', '.join(QUANTIZE_CHOICES)}")
    if calibration is not None and quantize == "none":
        raise ExportError("--calibration only applies to --quantize int8")
    try:
        captioner = _torch_fp32(model_dir)
        sources = source_digests(model_dir)
    except ModelFormatError as error:
        raise ExportError(f"cannot read {model_dir}: {error}") from None
    check_images, calibration_images, notes = _images(captioner, quantize, calibration, checks)
    settings = {"format": EXPORT_FORMAT, "quantize": quantize, "opset": OPSET}
    parent = model_dir.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.exporting-", dir=parent))
    try:
        raw, fp32_dir = staging / "raw", staging / "fp32"
        feeds, expected = export_graphs(captioner, model_dir, raw, check_images[:2])
        fp32_dir.mkdir()
        for name in (ENCODER_FILE, STEP_FILE):
            optimise(raw / name, fp32_dir / name)
        max_difference = _difference(fp32_dir, feeds, expected)
        if max_difference > TOLERANCE:
            raise ExportError(
                f"the exported graphs differ from torch by up to {max_difference:.1%} of an "
                "output: not written (please report this with the model's config.json)"
            )
        fp32 = _ort_captioner(captioner, fp32_dir, "none")
        versus_torch = agreement(captioner, fp32, check_images[:checks])
        versus_fp32 = None
        out = fp32_dir
        if quantize == "int8":
            out = staging / "int8"
            _quantize(raw, out, calibration_images, captioner)
            versus_fp32 = agreement(fp32, _ort_captioner(captioner, out, quantize), check_images)
        manifest = Manifest(
            quantize=quantize,
            fingerprint=fingerprint(sources, settings),
            sources=sources,
            settings=settings,
            agreement={} if versus_fp32 is None else {"versus_fp32": versus_fp32.to_dict()},
            files=export_files(out),
        )
        _write_manifest(out, manifest)
        files = {path.name: path.stat().st_size for path in sorted(out.iterdir())}
        replace_export(model_dir / EXPORT_DIR, out)
    except OSError as error:
        raise ExportError(f"could not write {model_dir / EXPORT_DIR}: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportReport(
        model_dir=model_dir,
        quantize=quantize,
        files=files,
        seconds=time.perf_counter() - started,
        max_difference=max_difference,
        versus_torch=versus_torch,
        versus_fp32=versus_fp32,
        notes=notes,
    )


def agreement(
    reference: Captioner | OrtCaptioner,
    other: Captioner | OrtCaptioner,
    images: list[Image.Image],
    *,
    beam: int = 3,
    batch_size: int = 16,
) -> Agreement:
    """Compare the top captions of `other` with those of `reference` on `images`."""
    expected: list[str] = []
    got: list[str] = []
    for first in range(0, len(images), batch_size):
        batch = images[first : first + batch_size]
        expected += [c.caption for c in reference.caption_batch(batch, beam=beam)]
        got += [c.caption for c in other.caption_batch(batch, beam=beam)]
    return compare_captions(expected, got)


# --- The graphs -------------------------------------------------------------------------


def _grid_pool(size: int, grid: int) -> nn.Module:
    """`nn.AdaptiveAvgPool2d(grid)` for a square input of side `size`, as ONNX can take it.

    The exporter refuses adaptive pooling to a grid larger than its input (ResNet-101 at
    256 px: 8x8 to 14x14). Each output cell averages the same input cells as torch's,
    written as a product with a constant averaging matrix on each side: the same sums in
    another order, so equal to torch's up to float rounding (about 1e-7 relative).
    """
    import torch
    from torch import nn

    if size == grid:
        return nn.Identity()
    weights = torch.zeros(grid, size)
    for i in range(grid):
        low, high = (i * size) // grid, -((-(i + 1) * size) // grid)
        weights[i, low:high] = 1.0 / (high - low)

    class GridPool(nn.Module):
        rows: Tensor
        columns: Tensor

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("rows", weights)
            self.register_buffer("columns", weights.t().contiguous())

        def forward(self, features: Tensor) -> Tensor:
            return self.rows @ features @ self.columns

    return GridPool()


def _torch_fp32(model_dir: Path) -> Captioner:
    """The torch runtime on the model directory, fp32 even if `config.json` asks torch to
    quantize its decoder at load: what the fp32 export is compared with."""
    from dataclasses import replace

    from captioner.pytorch import Captioner

    loaded = Captioner.load(model_dir)
    if loaded.config.quantize == "none":
        return loaded
    model = _plain_model(loaded, model_dir)
    return Captioner(replace(loaded.config, quantize="none"), loaded.vocabulary, model)


def _plain_model(captioner: Captioner, model_dir: Path) -> CaptionModel:
    """The model as defined, in fp32: not the captioner's, whose decoder is repacked for
    torch (or quantized, with `quantize: int8-dynamic`)."""
    from captioner.config import WEIGHTS_FILE
    from captioner.pytorch import build_model, load_weights

    model = build_model(captioner.config, len(captioner.vocabulary))
    load_weights(model, model_dir / WEIGHTS_FILE)
    return model.eval().requires_grad_(False)


def _graphs(model: CaptionModel, config: ModelConfig) -> tuple[nn.Module, nn.Module]:
    """The two exported modules, around `model`'s own: per image, and per decoding step.
    The image graph pools with `_grid_pool` (adaptive pooling as two matrix products, which
    export everywhere) where the encoder's `forward` pools adaptively; the rest is the
    model's own `Encoder.grid`, `Decoder.init_state` and `Attention.project`."""
    import torch
    from torch import nn

    decoder = model.decoder
    size = config.preprocess.image_size
    with torch.inference_mode():
        trunk = model.encoder.resnet(torch.zeros(1, 3, size, size)).shape[-1]
    grid = config.encoder.encoded_size

    class ImageGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model.encoder
            self.pool = _grid_pool(trunk, grid)
            self.decoder = decoder

        def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            features = self.encoder.grid(self.pool(self.encoder.resnet(images)))
            hidden, cell = self.decoder.init_state(features)
            return features, self.decoder.attention.project(features), hidden, cell

    class StepGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.decoder = decoder

        def forward(
            self, words: Tensor, hidden: Tensor, cell: Tensor, features: Tensor, projected: Tensor
        ) -> tuple[Tensor, Tensor, Tensor]:
            logits, (hidden, cell), _ = self.decoder.step(
                words, (hidden, cell), features, projected
            )
            return torch.log_softmax(logits, dim=1), hidden, cell

    return ImageGraph().eval(), StepGraph().eval()


IMAGE_INPUTS = ["images"]
IMAGE_OUTPUTS = ["features", "projected", "hidden", "cell"]
STEP_INPUTS = ["words", "hidden", "cell", "features", "projected"]
STEP_OUTPUTS = ["log_probs", "next_hidden", "next_cell"]


def export_graphs(
    captioner: Captioner, model_dir: Path, out: Path, images: list[Image.Image]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Export both graphs to `out` as torch writes them. Returns test inputs (images, and
    a first decoding step from them) and what the model's own torch modules make of
    them, which the exported graphs must reproduce."""
    import torch

    from captioner.preprocess import to_tensor

    out.mkdir(parents=True)
    model = _plain_model(captioner, model_dir)
    image_graph, step_graph = _graphs(model, captioner.config)
    batch = torch.stack([to_tensor(image, captioner.config.preprocess) for image in images])
    with torch.inference_mode():
        features = model.encoder(batch)
        hidden, cell = model.decoder.init_state(features)
        encoded = (features, model.decoder.attention.project(features), hidden, cell)
        words = torch.full((len(images),), captioner.vocabulary.start, dtype=torch.long)
        step_inputs = (words, hidden, cell, features, encoded[1])
        logits, state, _ = model.decoder.step(words, (hidden, cell), features, encoded[1])
        stepped = (torch.log_softmax(logits, dim=1), *state)
    # Inference uses the fused transformer kernel, which ONNX has no operator for.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        export_graph(
            image_graph,
            (batch,),
            out / ENCODER_FILE,
            {name: {0: "images"} for name in IMAGE_INPUTS},
            {name: {0: "images"} for name in IMAGE_OUTPUTS},
        )
        export_graph(
            step_graph,
            step_inputs,
            out / STEP_FILE,
            {name: {0: "beams"} for name in STEP_INPUTS},
            {name: {0: "beams"} for name in STEP_OUTPUTS},
        )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    feeds = [tensor.numpy() for tensor in (batch, *step_inputs)]
    return feeds, [tensor.numpy() for tensor in (*encoded, *stepped)]


def _difference(directory: Path, feeds: list[np.ndarray], expected: list[np.ndarray]) -> float:
    """The largest difference of an exported graph's output from torch's, relative to the
    output's largest value (or absolute, for outputs below one)."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    image_session = ort.InferenceSession(str(directory / ENCODER_FILE), options)
    step_session = ort.InferenceSession(str(directory / STEP_FILE), options)
    got = image_session.run(None, {"images": feeds[0]})
    got += step_session.run(None, dict(zip(STEP_INPUTS, feeds[1:], strict=True)))
    return max(
        float(np.abs(a - b).max()) / max(1.0, float(np.abs(b).max()))
        for a, b in zip(got, expected, strict=True)
    )


def export_graph(
    graph: nn.Module,
    inputs: tuple[Tensor, ...],
    path: Path,
    inputs_axes: dict[str, dict[int, str]],
    outputs_axes: dict[str, dict[int, str]],
) -> None:
    """Trace `graph` on `inputs` to `path` with the TorchScript exporter at `OPSET`: the
    names and dynamic axes of its inputs and outputs, in order, are the model format's.
    (`dynamo=False` needs only the `onnx` package; the new exporter needs `onnxscript`.)"""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            graph,
            inputs,
            path,
            dynamo=False,
            opset_version=OPSET,
            input_names=list(inputs_axes),
            output_names=list(outputs_axes),
            dynamic_axes=inputs_axes | outputs_axes,
        )


def optimise(source: Path, target: Path) -> None:
    """Save `source` as ONNX Runtime's extended level leaves it: constants folded,
    batch norms folded into convolutions, activations and attention fused. Nothing at
    that level depends on the CPU (the layout transforms of the next level do), so the
    function need not redo it at every cold start.

    The weights go to `target` plus `DATA_SUFFIX`, each large one at a page boundary:
    ONNX Runtime then maps them into memory where a graph file's own weights are read,
    parsed and copied (ResNet-101: 0.40 to 0.07 CPU seconds for both sessions)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", target.name + DATA_SUFFIX
    )
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def _quantize(raw: Path, out: Path, calibration: list[Image.Image], captioner: Captioner) -> None:
    """Quantize the graphs torch wrote to `raw` into `out`, optimised like fp32's."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from captioner.preprocess import to_array

    out.mkdir(parents=True)
    work = out / "work"
    work.mkdir()

    class Scenes(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[dict[str, np.ndarray]] = (
                {"images": to_array(image, captioner.config.preprocess)[None]}
                for image in calibration
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    # Quantization wants the graph before ONNX Runtime's fusions, with shapes inferred.
    for name in (ENCODER_FILE, STEP_FILE):
        quant_pre_process(str(raw / name), str(work / name), skip_symbolic_shape=True)
    # The quantizer logs a warning for every 1-D weight it leaves per-tensor (layer norms).
    logging.disable(logging.WARNING)
    try:
        quantize_static(
            str(work / ENCODER_FILE),
            str(work / f"q-{ENCODER_FILE}"),
            Scenes(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
        )
        quantize_dynamic(
            str(work / STEP_FILE),
            str(work / f"q-{STEP_FILE}"),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            op_types_to_quantize=["MatMul", "Gemm"],
        )
    finally:
        logging.disable(logging.NOTSET)
    for name in (ENCODER_FILE, STEP_FILE):
        optimise(work / f"q-{name}", out / name)
    shutil.rmtree(work)


def _ort_captioner(captioner: Captioner, directory: Path, quantize: str) -> OrtCaptioner:
    import onnxruntime as ort

    from captioner.ort import OrtCaptioner, session_options

    options = session_options(threads=1)
    sessions = [
        ort.InferenceSession(str(directory / name), options, providers=["CPUExecutionProvider"])
        for name in (ENCODER_FILE, STEP_FILE)
    ]
    manifest = Manifest(quantize, "", {}, {}, {})
    return OrtCaptioner(captioner.config, captioner.vocabulary, manifest, *sessions)


def _write_manifest(out: Path, manifest: Manifest) -> None:
    (out / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")


def replace_export(target: Path, staged: Path) -> None:
    """Move `staged` to `target`; an export already there is swapped out, not merged."""
    retired = target.parent / f".{target.name}.replaced-{os.getpid()}"
    for path in staged.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    staged.chmod(0o755)
    if target.exists():
        target.rename(retired)
    staged.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def _images(
    captioner: Captioner, quantize: str, calibration: Path | None, checks: int
) -> tuple[list[Image.Image], list[Image.Image], list[str]]:
    """Images to compare the export on, images to calibrate int8 with, and notes."""
    if quantize == "none":
        return check_scenes(CHECK_SEED, checks), [], []
    if calibration is not None:
        photos = folder_images(calibration)
        return photos[: max(checks, INT8_CHECKS)], photos, []
    notes = []
    if captioner.config.name != DEMO_MODEL_NAME:
        notes.append(
            "int8 was calibrated on generated scenes; for a model that captions photos, "
            "pass --calibration DIR with photos like the ones it will see"
        )
    checked = check_scenes(CHECK_SEED, max(checks, INT8_CHECKS))
    return checked, check_scenes(CALIBRATION_SEED, CALIBRATION_SCENES), notes


def check_scenes(seed: int, count: int) -> list[Image.Image]:
    from toolkit.scenes import make_scene

    return [make_scene("evaluate", seed, i).image for i in range(count)]


def folder_images(folder: Path) -> list[Image.Image]:
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        raise ExportError(f"--calibration {folder} is not a directory")
    images = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as error:
            raise ExportError(f"calibration image {path} is unreadable: {error}") from None
    if not images:
        raise ExportError(f"--calibration {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return images
