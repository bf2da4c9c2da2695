"""A model directory's ONNX export: where its files live, and whether it is current.

`lukewarm export DIR` writes `DIR/onnx/`: `encoder.onnx` (images to the encoder grid,
its attention projection and the decoder's initial state), `decoder_step.onnx` (one
decoding step: words and state to next-word log-probabilities and the new state), each
graph's weights beside it (`encoder.onnx.data`, `decoder_step.onnx.data`: page-aligned,
so that ONNX Runtime maps them into memory instead of reading and copying them) and
`manifest.json`, which records a fingerprint of what the export was made from:
`config.json`, `vocab.json`, `weights.safetensors` and the export's settings. The
weights stay the source of truth; an export whose fingerprint no longer matches them is
refused, never served. The manifest also records each export file's size and sha256:
loading checks the sizes (no reading), the image build's check the hashes, so a graph
or weights file changed in place (bytes flipped, NaN written over it) is never served.
An imported Hub model's export (`lukewarm import`, `HUB_EXPORT_FORMAT`) has the same
files, manifest and checks; it is made from `config.json`, `tokenizer.json` and the Hub
weights' digest instead.

Standard library only: the image build checks an export with it
(`python -m captioner.exported DIR`) before any runtime is installed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, ModelFormatError
from .hub_config import TOKENIZER_FILE, import_command, is_hub_model, read_hub_config

EXPORT_DIR = "onnx"
MANIFEST_FILE = "manifest.json"
ENCODER_FILE = "encoder.onnx"
STEP_FILE = "decoder_step.onnx"
DATA_SUFFIX = ".data"
"""A graph's weights are in the file of its name plus this suffix."""
EXPORT_FORMAT = "lukewarm-onnx/3"
"""Changes whenever the exported graphs change meaning: older exports become stale."""
SOURCE_FILES = (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE)
HUB_EXPORT_FORMAT = "lukewarm-hub-onnx/2"
"""An imported Hub model's export (`lukewarm import`): encoder to cross-attention keys
and values, decoder step over a key/value cache."""
HUB_SOURCE_FILES = (CONFIG_FILE, TOKENIZER_FILE)
"""What an imported directory's export depends on besides the Hub weights (whose
digest its settings record: they stay in the Hub cache)."""
QUANTIZE_CHOICES = ("none", "int8")


@dataclass(frozen=True)
class Manifest:
    quantize: str
    """`none` (fp32) or `int8` (static QDQ encoder, dynamically quantized decoder step)."""
    fingerprint: str
    sources: dict[str, str]
    """sha256 of each source file, by name."""
    settings: dict[str, Any]
    """What else the export depends on: format, quantization, opset, optimisation."""
    agreement: dict[str, Any]
    """For int8: how often its captions equal fp32's on the calibration check."""
    files: dict[str, ExportFile] = field(default_factory=dict)
    """Each file of the export but the manifest, by name (both families' exports)."""
    export_format: str = EXPORT_FORMAT
    """`EXPORT_FORMAT` (Show-Attend-Tell) or `HUB_EXPORT_FORMAT` (an import)."""

    @property
    def runtime(self) -> str:
        """The runtime's name in the function's answers: `onnx` or `onnx-int8`."""
        return "onnx" if self.quantize == "none" else f"onnx-{self.quantize}"

    def to_dict(self) -> dict[str, Any]:
        data = {
            "format": self.export_format,
            "quantize": self.quantize,
            "fingerprint": self.fingerprint,
            "sources": self.sources,
            "settings": self.settings,
            "agreement": self.agreement,
            "files": {
                name: {"bytes": record.bytes, "sha256": record.sha256}
                for name, record in sorted(self.files.items())
            },
        }
        return data


@dataclass(frozen=True)
class ExportFile:
    """What the manifest records of one export file."""

    bytes: int
    sha256: str


def export_files(directory: Path) -> dict[str, ExportFile]:
    """The size and sha256 of each file in an export directory but the manifest."""
    return {
        path.name: ExportFile(path.stat().st_size, file_digest(path))
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != MANIFEST_FILE
    }


def file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def source_files(model_dir: Path) -> tuple[str, ...]:
    """The files an export of `model_dir` is made from: a Hub import's or a
    Show-Attend-Tell model's."""
    return HUB_SOURCE_FILES if is_hub_model(model_dir) else SOURCE_FILES


def source_digests(model_dir: Path, names: tuple[str, ...] | None = None) -> dict[str, str]:
    """sha256 of each source file of a model directory; a missing one is an error."""
    digests = {}
    for name in names or source_files(model_dir):
        try:
            digests[name] = file_digest(model_dir / name)
        except FileNotFoundError:
            raise ModelFormatError(f"{model_dir / name} is missing") from None
    return digests


def fingerprint(sources: dict[str, str], settings: dict[str, Any]) -> str:
    """One hash of the source files' hashes and the export settings."""
    document = json.dumps({"sources": sources, "settings": settings}, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()


def refresh_hint(model_dir: Path) -> str:
    """The command that rewrites `model_dir`'s export, as advice."""
    if is_hub_model(model_dir):
        try:
            return f"run `{import_command(read_hub_config(model_dir), model_dir)}` to refresh it"
        except ModelFormatError:
            return f"run `lukewarm import SOURCE {model_dir}` again to refresh it"
    return f"run `lukewarm export {model_dir}` to refresh it"


def read_manifest(model_dir: Path) -> Manifest:
    """The export's manifest, checked against the source files in `model_dir`.

    `config.json` and `vocab.json` are always compared. `weights.safetensors` is
    compared when it is there: a deployed ONNX image leaves it out (it never reads it,
    and it is checked when the image is built), so loading there hashes no weights.
    """
    path = model_dir / EXPORT_DIR / MANIFEST_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ModelFormatError(
            f"{model_dir} has no ONNX export ({path} is missing): {refresh_hint(model_dir)}"
        ) from None
    except (OSError, ValueError, RecursionError) as error:  # ValueError: JSON, UTF-8
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise ModelFormatError(
            f"{path} is unreadable ({reason}): {refresh_hint(model_dir)}"
        ) from None
    expected = HUB_EXPORT_FORMAT if is_hub_model(model_dir) else EXPORT_FORMAT
    try:
        current = data["format"] == expected
        records = data["files"] if current else {}  # older formats recorded none
        files = {
            str(name): ExportFile(int(record["bytes"]), str(record["sha256"]))
            for name, record in records.items()
        }
        manifest = Manifest(
            quantize=str(data["quantize"]),
            fingerprint=str(data["fingerprint"]),
            sources={str(k): str(v) for k, v in data["sources"].items()},
            settings=dict(data["settings"]),
            agreement=dict(data.get("agreement", {})),
            files=files,
            export_format=str(data["format"]),
        )
    except (KeyError, TypeError, AttributeError, ValueError):
        raise ModelFormatError(
            f"{path} is not a lukewarm export manifest: {refresh_hint(model_dir)}"
        ) from None
    if not current or manifest.settings.get("format") != expected:
        raise ModelFormatError(
            f"{model_dir}'s ONNX export is of another format than {expected}: "
            f"{refresh_hint(model_dir)}"
        )
    if fingerprint(manifest.sources, manifest.settings) != manifest.fingerprint:
        raise ModelFormatError(f"{path} does not add up: {refresh_hint(model_dir)}")
    changed = []
    for name in HUB_SOURCE_FILES if expected == HUB_EXPORT_FORMAT else SOURCE_FILES:
        if name == WEIGHTS_FILE and not (model_dir / name).exists():
            continue
        try:
            digest = file_digest(model_dir / name)
        except FileNotFoundError:
            raise ModelFormatError(f"{model_dir / name} is missing") from None
        if digest != manifest.sources.get(name):
            changed.append(name)
    if changed:
        raise ModelFormatError(
            f"{model_dir}'s ONNX export is stale: {', '.join(changed)} changed since it was "
            f"made; {refresh_hint(model_dir)}"
        )
    check_files(model_dir, manifest, hashes=False)
    return manifest


def check_files(model_dir: Path, manifest: Manifest, *, hashes: bool) -> None:
    """Each export file is there at the size the manifest records (a stat, no reading)
    and, with `hashes`, has its sha256 (a read of every byte: the image build's check)."""
    directory = model_dir / EXPORT_DIR
    missing = {ENCODER_FILE, STEP_FILE} - set(manifest.files)
    if missing:
        raise ModelFormatError(
            f"{directory / MANIFEST_FILE} records no {', '.join(sorted(missing))}: "
            f"{refresh_hint(model_dir)}"
        )
    for name, record in sorted(manifest.files.items()):
        path = directory / name
        if Path(name).name != name:
            raise ModelFormatError(f"{directory / MANIFEST_FILE} names a file outside {directory}")
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ModelFormatError(f"{path} is missing: {refresh_hint(model_dir)}") from None
        if size != record.bytes:
            raise ModelFormatError(
                f"{path} is {size:,} bytes; the manifest records {record.bytes:,}: the export "
                f"was damaged or changed after it was made; {refresh_hint(model_dir)}"
            )
        if hashes and file_digest(path) != record.sha256:
            raise ModelFormatError(
                f"{path}'s sha256 is not the one the manifest records: the export was "
                f"damaged or changed after it was made; {refresh_hint(model_dir)}"
            )


def check_export(model_dir: Path) -> Manifest:
    """The image build's check of a model directory (either family's): its weights are
    there (Show-Attend-Tell's; an import's stay in the Hub cache), its export was made from
    its sources, and every export file is whole (raises `ModelFormatError` saying why
    not). `lukewarm serve` runs it
    too, before it says it is serving."""
    if not is_hub_model(model_dir) and not (model_dir / WEIGHTS_FILE).exists():
        raise ModelFormatError(f"{model_dir / WEIGHTS_FILE} is missing: nothing to check")
    manifest = read_manifest(model_dir)
    check_files(model_dir, manifest, hashes=True)
    return manifest


def main(argv: list[str]) -> int:
    """`python -m captioner.exported DIR`: exit 0 if DIR's export is current and every
    export file has the hash its manifest records, else say why."""
    if len(argv) != 1:
        print("usage: python -m captioner.exported MODEL_DIR", file=sys.stderr)
        return 2
    model_dir = Path(argv[0])
    try:
        manifest = check_export(model_dir)
    except ModelFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{model_dir}: {manifest.runtime} export is current ({manifest.fingerprint[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
