"""`lukewarm import`: a Hub captioner to a model directory the function serves torch-free.

The source is resolved (a Hub id through `huggingface_hub` and its cache, or a local
directory in the Hub's layout), checked (safetensors unless pickles are trusted; a
supported architecture), loaded with transformers, and exported with the machinery of
`lukewarm export`: torch's TorchScript exporter, ONNX Runtime's extended optimisation
saved once, weights in a page-aligned file beside each graph. Everything is written to
a temporary directory beside OUT_DIR and renamed into place, so a failed import leaves
the old directory as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from captioner.config import CONFIG_FILE, ModelFormatError, read_json
from captioner.exported import (
    DATA_SUFFIX,
    ENCODER_FILE,
    EXPORT_DIR,
    HUB_EXPORT_FORMAT,
    HUB_SOURCE_FILES,
    MANIFEST_FILE,
    STEP_FILE,
    Manifest,
    export_files,
    file_digest,
    fingerprint,
    source_digests,
)
from captioner.hub_config import (
    RESAMPLING,
    TOKENIZER_FILE,
    HubCache,
    HubConfig,
    HubGeneration,
    HubPreprocess,
)
from infra.settings import memory_floor

# `lukewarm export`'s machinery (optimising and saving a graph, replacing a directory,
# calibration images, caption agreement), shared rather than copied.
from toolkit import export as sat_export

from .families import ENCODER_INPUTS, ENCODER_OUTPUTS, STEP_INPUTS, STEP_OUTPUTS, Family, family_for
from .need import MeasureError, measure

if TYPE_CHECKING:
    from PIL import Image

    from captioner.hub import HubCaptioner

TOLERANCE = 1e-3
"""Largest difference of an exported graph's output from torch's, relative to the
output's largest value."""
QUANTIZE_CHOICES = ("none", "int8")
PICKLE_FILE = "pytorch_model.bin"
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]
"""What a download fetches: configs, tokenizer files and safetensors weights."""
LAYOUT = (
    "config.json, model.safetensors, the tokenizer files, preprocessor_config.json and "
    "generation_config.json"
)
UNSUPPORTED_GENERATION = {
    "do_sample": False,
    "repetition_penalty": 1.0,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "num_beam_groups": 1,
    "diversity_penalty": 0.0,
    "exponential_decay_length_penalty": None,
    "encoder_no_repeat_ngram_size": 0,
    "min_new_tokens": None,
    "sequence_bias": None,
    "renormalize_logits": False,
}
"""Generation settings lukewarm does not reproduce, with the value that means unused."""


class HubImportError(Exception):
    """A source that cannot be imported, and why (one line, for people)."""


@dataclass(frozen=True)
class Source:
    path: Path
    """The directory holding the model's files."""
    name: str
    """The Hub id, or the directory's name."""
    revision: str
    """The Hub commit, or `local`."""


@dataclass(frozen=True)
class ImportReport:
    out_dir: Path
    family: str
    source: str
    revision: str
    quantize: str
    files: dict[str, int]
    seconds: float
    max_difference: float
    agreement: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        total = sum(self.files.values()) / 1e6
        kind = "fp32" if self.quantize == "none" else self.quantize
        lines = [
            f"Imported {self.source} at {self.revision} ({self.family}) to {self.out_dir}/ "
            f"({kind}, {total:.1f} MB: {', '.join(self.files)}) in {self.seconds:.1f} s",
            f"  graphs against transformers: largest relative output difference "
            f"{self.max_difference:.1e}",
        ]
        if self.agreement:
            a = self.agreement
            lines.append(
                f"  {kind} against fp32: top caption identical on {a['identical']}/{a['images']} "
                f"calibration images, {a['word_share']:.1%} of words"
            )
        if self.measured:
            m = self.measured
            lines.append(
                f"  measured on one thread: peak RSS {m['peak_rss_mb']:,} MB on the largest "
                f"accepted image; {m['init_s']:.2f} s to load, {m['caption_s']:.2f} s a caption "
                f"(CPU time); "
                f"give it lukewarm:memorySize {memory_floor(m['peak_rss_mb'])} MB or more"
            )
        lines += [f"  note: {note}" for note in self.notes]
        return lines


# --- Resolving the source -------------------------------------------------------------------


def resolve(source: str, revision: str | None, *, trust_pickle: bool) -> Source:
    """The local directory of `source`: itself, or its Hub snapshot (downloaded if needed)."""
    path = Path(source).expanduser()
    if path.is_dir():
        if revision is not None:
            raise HubImportError(f"--revision applies to a Hub id, not the directory {source}")
        parts = path.resolve().parts
        # A directory inside the Hub cache: models--org--name/snapshots/<commit>.
        if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
            return Source(path, parts[-3].removeprefix("models--").replace("--", "/"), parts[-1])
        return Source(path, str(path), "local")
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise HubImportError(f"{source} is neither a directory nor a Hub id (organisation/name)")
    return _download(source, revision, trust_pickle=trust_pickle)


def _download(repo: str, revision: str | None, *, trust_pickle: bool) -> Source:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    patterns = HUB_FILES + ([PICKLE_FILE] if trust_pickle else [])
    try:
        folder = snapshot_download(repo, revision=revision, allow_patterns=patterns)
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise HubImportError(f"{repo}: {str(error).splitlines()[0]}") from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        if os.environ.get("HF_HUB_OFFLINE"):
            reason = "HF_HUB_OFFLINE is set and it is not in the Hub cache"
        else:
            reason = f"no network? {type(error).__name__}"
        raise HubImportError(
            f"cannot fetch {repo} ({reason}): with HF_HUB_OFFLINE=1 a model already in the "
            f"Hub cache imports without a network, or pass a local directory in the Hub's "
            f"layout ({LAYOUT})"
        ) from None
    path = Path(folder)
    return Source(path, repo, path.name)


# --- Reading the model ----------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise HubImportError(f"{path} is missing (a Hub model directory holds {LAYOUT})")
    try:
        data = read_json(path)
    except ModelFormatError as error:
        raise HubImportError(str(error)) from None
    if not isinstance(data, dict):
        raise HubImportError(f"{path} is not a JSON object")
    return data


def check_source(source: Source, *, trust_pickle: bool) -> tuple[Family, str]:
    """The source's family and the digest of its weights; refuses pickles unless trusted."""
    try:
        family = family_for(_read_json(source.path / CONFIG_FILE))
    except ValueError as error:
        raise HubImportError(str(error)) from None
    weights = [source.path / name for name in SAFETENSORS_FILES if (source.path / name).exists()]
    if not weights:
        pickled = source.path / PICKLE_FILE
        if not pickled.exists():
            raise HubImportError(f"{source.path} has no weights (model.safetensors)")
        if not trust_pickle:
            raise HubImportError(
                f"{source.name} has only pickled weights ({PICKLE_FILE}): loading a pickle "
                "can run any code its author put in it. If you trust it, run again with "
                "--trust-pickle; or use a revision with model.safetensors"
            )
        weights = [pickled]
    if weights[0].name.endswith(".index.json"):
        index = _read_json(weights[0])
        shards = sorted(set(index.get("weight_map", {}).values()))
        weights += [source.path / shard for shard in shards]
    digest = hashlib.sha256()
    for path in weights:
        digest.update(f"{path.name}:{file_digest(path)}\n".encode())
    return family, digest.hexdigest()


def _load(source: Source, family: Family, *, trust_pickle: bool) -> Any:
    import transformers

    model_class = getattr(transformers, family.model_class)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_class.from_pretrained(
            source.path,
            attn_implementation="eager",
            dtype="float32",
            local_files_only=True,
            use_safetensors=None if trust_pickle else True,
        )
    return model.eval().requires_grad_(False)


def preprocess_settings(source: Source, family: Family) -> HubPreprocess:
    """The image processor's resize, rescale and normalisation, defaults resolved by
    transformers' own processor class."""
    from transformers import AutoImageProcessor

    try:
        processor = AutoImageProcessor.from_pretrained(source.path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise HubImportError(
            f"{source.path}: no usable preprocessor_config.json ({error})"
        ) from None
    settings = processor.to_dict()
    size = settings.get("size") or {}
    if not {"height", "width"} <= set(size):
        raise HubImportError(f"{source.name}'s image processor resizes to {size}, not a fixed size")
    for flag in ("do_resize", "do_rescale", "do_normalize"):
        if settings.get(flag) is False:
            raise HubImportError(f"{source.name}'s image processor sets {flag} false")
    for flag in ("do_center_crop", "do_pad"):
        if settings.get(flag):
            raise HubImportError(
                f"{source.name}'s image processor sets {flag}, which lukewarm does not reproduce"
            )
    resample = int(settings.get("resample", 2))
    return HubPreprocess(
        height=int(size["height"]),
        width=int(size["width"]),
        resample=RESAMPLING[resample],
        rescale=float(settings.get("rescale_factor", 1 / 255)),
        mean=tuple(float(v) for v in settings["image_mean"]),  # type: ignore[arg-type]
        std=tuple(float(v) for v in settings["image_std"]),  # type: ignore[arg-type]
    )


def generation_settings(model: Any, family: Family, name: str) -> HubGeneration:
    """The model's generation config (its `generation_config.json`, else derived from its
    config), refused where it asks for what lukewarm does not reproduce."""
    config = model.generation_config
    unused = [
        key
        for key, neutral in UNSUPPORTED_GENERATION.items()
        if getattr(config, key, neutral) not in (neutral, None) and key != "do_sample"
    ]
    if unused:
        raise HubImportError(
            f"{name}'s generation config sets {', '.join(unused)}, which lukewarm does not apply"
        )
    tokens = family.special_tokens(model)
    prompt = (tokens["prompt"],)
    max_length = config.max_length or 20
    if config.max_new_tokens is not None:
        max_length = len(prompt) + int(config.max_new_tokens)
    early = config.early_stopping
    return HubGeneration(
        prompt=prompt,
        end=tokens["end"],
        pad=tokens["pad"],
        num_beams=int(config.num_beams or 1),
        max_length=int(max_length),
        length_penalty=float(config.length_penalty if config.length_penalty is not None else 1.0),
        early_stopping="never" if early == "never" else bool(early),
        no_repeat_ngram_size=int(config.no_repeat_ngram_size or 0),
        min_length=int(config.min_length or 0),
    )


def _tokenizer_json(source: Source) -> str:
    """The source's `tokenizer.json`, or the one transformers builds from its other
    tokenizer files."""
    if (source.path / TOKENIZER_FILE).exists():
        return (source.path / TOKENIZER_FILE).read_text()
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, local_files_only=True)
        return str(tokenizer.backend_tokenizer.to_str())
    except (OSError, ValueError, AttributeError) as error:
        raise HubImportError(
            f"{source.path} has no tokenizer lukewarm can read ({error})"
        ) from None


# --- Export ---------------------------------------------------------------------------------


def _export(
    model: Any, family: Family, preprocess: HubPreprocess, out: Path
) -> tuple[HubCache, float]:
    """Both graphs to `out` (optimised, weights beside each), and their largest
    difference from the torch modules on a test input."""
    import numpy as np
    import onnxruntime as ort
    import torch

    encoder, step, shape = family.graphs(model)
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(2, 3, preprocess.height, preprocess.width, generator=generator)
    with torch.inference_mode():
        cross = encoder(pixels)
        rows, positions = 2, 3
        past = tuple(
            torch.randn(
                rows, shape.layers, shape.heads, positions, shape.head_size, generator=generator
            )
            for _ in range(2)
        )
        tokens = torch.randint(0, shape.vocab_size, (rows,), generator=generator)
        step_inputs = (tokens, torch.full((rows,), positions), *past, *cross)
        stepped = step(*step_inputs)
    raw = out / "raw"
    raw.mkdir(parents=True)
    rows_axis = {0: "rows"}
    cache_axes = {0: "rows", 3: "positions"}
    step_axes = (rows_axis, rows_axis, cache_axes, cache_axes, rows_axis, rows_axis)
    with warnings.catch_warnings():
        # transformers' modules warn while traced (Python control flow, constant shapes).
        warnings.simplefilter("ignore")
        sat_export.export_graph(
            encoder,
            (pixels,),
            raw / ENCODER_FILE,
            {name: {0: "images"} for name in ENCODER_INPUTS},
            {name: {0: "images"} for name in ENCODER_OUTPUTS},
        )
        sat_export.export_graph(
            step,
            step_inputs,
            raw / STEP_FILE,
            dict(zip(STEP_INPUTS, step_axes, strict=True)),
            dict(zip(STEP_OUTPUTS, (rows_axis, cache_axes, cache_axes), strict=True)),
        )
    fp32 = out / "fp32"
    fp32.mkdir()
    for name in (ENCODER_FILE, STEP_FILE):
        sat_export.optimise(raw / name, fp32 / name)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    got = ort.InferenceSession(str(fp32 / ENCODER_FILE), options).run(
        None, {"pixel_values": pixels.numpy()}
    )
    feeds = dict(zip(STEP_INPUTS, (t.numpy() for t in step_inputs), strict=True))
    got += ort.InferenceSession(str(fp32 / STEP_FILE), options).run(None, feeds)
    expected = [t.numpy() for t in (*cross, *stepped)]
    difference = max(
        float(np.abs(a - b).max()) / max(1.0, float(np.abs(b).max()))
        for a, b in zip(got, expected, strict=True)
    )
    cache = HubCache(
        layers=shape.layers,
        heads=shape.heads,
        head_size=shape.head_size,
        vocab_size=shape.vocab_size,
        max_positions=shape.max_positions,
    )
    return cache, difference


def _quantize(raw: Path, out: Path) -> None:
    """Both graphs with int8 matrix products (dynamic: activations scaled per run, weights
    per channel in 7 bits for AVX2 CPUs without VNNI, as `lukewarm export`'s int8)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out.mkdir()
    work = out / "work"
    work.mkdir()
    logging.disable(logging.WARNING)
    try:
        for name in (ENCODER_FILE, STEP_FILE):
            quant_pre_process(str(raw / name), str(work / name), skip_symbolic_shape=True)
            quantize_dynamic(
                str(work / name),
                str(work / f"q-{name}"),
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
                op_types_to_quantize=["MatMul", "Gemm"],
            )
            sat_export.optimise(work / f"q-{name}", out / name)
    finally:
        logging.disable(logging.NOTSET)
    shutil.rmtree(work)


def _calibration_images(calibration: Path | None) -> tuple[list[Image.Image], list[str]]:
    if calibration is not None:
        try:
            return sat_export.folder_images(calibration), []
        except sat_export.ExportError as error:
            raise HubImportError(str(error)) from None
    note = (
        "int8 was compared with fp32 on generated scenes; judge it on real weights with "
        "--calibration DIR holding photos like the ones it will caption"
    )
    return sat_export.check_scenes(sat_export.CHECK_SEED, 16), [note]


def _agreement(fp32: HubCaptioner, int8: HubCaptioner, images: list[Image.Image]) -> dict[str, Any]:
    return sat_export.agreement(fp32, int8, images, beam=fp32.default_beam).to_dict()  # type: ignore[arg-type]


def _captioner(directory: Path, config: HubConfig, tokenizer: str, quantize: str) -> HubCaptioner:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from captioner.hub import HubCaptioner
    from captioner.ort import session_options

    options = session_options(threads=1)
    sessions = [
        ort.InferenceSession(str(directory / name), options, providers=["CPUExecutionProvider"])
        for name in (ENCODER_FILE, STEP_FILE)
    ]
    manifest = Manifest(quantize, "", {}, {}, {}, export_format=HUB_EXPORT_FORMAT)
    return HubCaptioner(config, Tokenizer.from_str(tokenizer), manifest, *sessions)


def import_model(
    source: str,
    out_dir: str | Path,
    *,
    quantize: str = "none",
    calibration: Path | None = None,
    revision: str | None = None,
    trust_pickle: bool = False,
) -> ImportReport:
    """Import `source` (a Hub id or a local directory in the Hub's layout) to `out_dir`,
    replacing what is there only once the whole new directory is written."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if quantize not in QUANTIZE_CHOICES:
        raise HubImportError(f"quantize {quantize!r} is not one of {', '.join(QUANTIZE_CHOICES)}")
    if calibration is not None and quantize == "none":
        raise HubImportError("--calibration only applies to --quantize int8")
    _check_out_dir(out_dir)
    resolved = resolve(source, revision, trust_pickle=trust_pickle)
    family, weights_digest = check_source(resolved, trust_pickle=trust_pickle)
    images, notes = _calibration_images(calibration) if quantize == "int8" else ([], [])
    model = _load(resolved, family, trust_pickle=trust_pickle)
    preprocess = preprocess_settings(resolved, family)
    generation = generation_settings(model, family, resolved.name)
    if getattr(model.generation_config, "do_sample", False):
        notes.append("the model's generation config samples; lukewarm searches (greedy or beam)")
    tokenizer = _tokenizer_json(resolved)

    out_dir.resolve().parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}.importing-", dir=out_dir.resolve().parent)
    )
    try:
        work = staging / "work"
        cache, difference = _export(model, family, preprocess, work)
        if difference > TOLERANCE:
            raise HubImportError(
                f"the exported graphs differ from transformers by up to {difference:.1%} of an "
                "output: not written (please report this with the model's config.json)"
            )
        config = HubConfig(
            family=family.name,
            source=resolved.name,
            revision=resolved.revision,
            architecture=family.model_class,
            preprocess=preprocess,
            generation=generation,
            cache=cache,
        )
        target = staging / "model"
        (target / EXPORT_DIR).mkdir(parents=True)
        (target / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        (target / TOKENIZER_FILE).write_text(tokenizer)
        graphs = work / "fp32"
        agreement: dict[str, Any] = {}
        if quantize == "int8":
            graphs = work / "int8"
            _quantize(work / "raw", graphs)
            fp32 = _captioner(work / "fp32", config, tokenizer, "none")
            agreement = _agreement(fp32, _captioner(graphs, config, tokenizer, quantize), images)
        for name in (ENCODER_FILE, STEP_FILE):
            for file in (name, name + DATA_SUFFIX):
                shutil.move(graphs / file, target / EXPORT_DIR / file)
        manifest = _manifest(target, quantize, weights_digest, agreement)
        measured = _write_manifest(target, manifest, staging)
        _replace_dir(out_dir, target)
    except (OSError, ModelFormatError) as error:
        raise HubImportError(f"could not write {out_dir}: {error}") from None
    except MeasureError as error:
        raise HubImportError(f"{out_dir} not written: {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ImportReport(
        out_dir=out_dir,
        family=family.name,
        source=resolved.name,
        revision=resolved.revision,
        quantize=quantize,
        files={name: record.bytes for name, record in manifest.files.items()},
        seconds=time.perf_counter() - started,
        max_difference=difference,
        agreement=agreement,
        notes=notes,
        measured=measured,
    )


def _manifest(
    target: Path, quantize: str, weights_digest: str, agreement: dict[str, Any]
) -> Manifest:
    """The manifest of the directory written at `target`: its fingerprint, every export
    file's size and digest, int8's agreement with fp32."""
    settings = {
        "format": HUB_EXPORT_FORMAT,
        "quantize": quantize,
        "opset": sat_export.OPSET,
        "weights": weights_digest,
    }
    sources = source_digests(target, HUB_SOURCE_FILES)
    files = export_files(target / EXPORT_DIR)
    return Manifest(
        quantize=quantize,
        fingerprint=fingerprint(sources, settings),
        sources=sources,
        settings=settings,
        agreement={"versus_fp32": agreement} if agreement else {},
        files=files,
        export_format=HUB_EXPORT_FORMAT,
    )


def _write_manifest(target: Path, manifest: Manifest, work: Path) -> dict[str, Any]:
    """Write the manifest, then what the model needs from Lambda, measured on the directory
    as written (loading checks the manifest, so it must be there first), into it."""
    manifest_file = target / EXPORT_DIR / MANIFEST_FILE
    manifest_file.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    measured = measure(target, work)
    manifest_file.write_text(
        json.dumps({**manifest.to_dict(), "measured": measured}, indent=2) + "\n"
    )
    return measured


def _check_out_dir(out_dir: Path) -> None:
    """OUT_DIR may be new, empty, or an earlier import (which the import replaces);
    anything else, such as a Show-Attend-Tell model directory, is never overwritten."""
    from captioner.hub_config import is_hub_model

    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise HubImportError(f"{out_dir} exists and is not a directory")
    if any(out_dir.iterdir()) and not is_hub_model(out_dir):
        raise HubImportError(
            f"{out_dir} holds something other than an earlier `lukewarm import`: choose "
            "another OUT_DIR (such as function/models/NAME) or remove it first"
        )


def _replace_dir(target: Path, staged: Path) -> None:
    """Move `staged` to `target`; a directory already there is swapped out, not merged.
    Files readable by all: the image runs the function as a non-root user."""
    sat_export.replace_export(target, staged)
