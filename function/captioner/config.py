"""A model directory's `config.json` and `vocab.json`, read and validated.

Nothing here imports torch: the handler and the tools can read a model's name and
sizes without paying for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "lukewarm-captioner/1"
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "weights.safetensors"

SPECIAL_TOKENS = ("<pad>", "<start>", "<end>", "<unk>")

# torchvision's ResNet family: block type and blocks per stage.
BACKBONES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
QUANTIZE_MODES = ("none", "int8-dynamic")


class ModelFormatError(ValueError):
    """A model directory that lukewarm cannot load, with the reason."""


@dataclass(frozen=True)
class EncoderConfig:
    backbone: str = "resnet18"
    """A torchvision ResNet name (`resnet18` … `resnet152`)."""
    stages: int = 4
    """How many of the four residual stages to keep (fewer = smaller, coarser grid)."""
    encoded_size: int = 14
    """The encoder output is pooled to an `encoded_size` x `encoded_size` grid."""
    position_embedding: bool = False
    """Add a learned vector per grid cell to the encoder output, so that the attention
    can look for things by where they are (not in the tutorial's model)."""
    context_layers: int = 0
    """Transformer layers over the grid after the CNN (not in the tutorial's model): a
    cell then sees the whole image, which a caption needs to say how many shapes share
    its look and whether its group is the upper or the lower one."""

    @property
    def block(self) -> str:
        return BACKBONES[self.backbone][0]

    @property
    def layers(self) -> tuple[int, ...]:
        return BACKBONES[self.backbone][1][: self.stages]

    @property
    def channels(self) -> int:
        """Channels of the last kept stage: the encoder dimension the decoder attends over."""
        width = 64 * 2 ** (self.stages - 1)
        return width * (4 if self.block == "bottleneck" else 1)


@dataclass(frozen=True)
class DecoderConfig:
    embed_dim: int = 512
    attention_dim: int = 512
    decoder_dim: int = 512
    dropout: float = 0.5
    count_context: bool = False
    """Also give the LSTM a second context, the attended features summed with sigmoid
    rather than softmax weights. Softmax weights always sum to one, so that context
    looks the same for one matching shape or four; this one grows with how many cells
    match, which lets a caption say how many (not in the tutorial's model)."""


@dataclass(frozen=True)
class PreprocessConfig:
    image_size: int = 256
    """Images are resized (aspect ratio not kept, as in training) to this square."""
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    version: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    max_length: int = 24
    """Most words a caption may have (the `<end>` token not counted)."""
    quantize: str = "none"
    """`int8-dynamic` quantizes the decoder's linear layers at load: faster, slightly
    different output; opt-in per model and measured by `make bench-reference`."""

    def __post_init__(self) -> None:
        problems = []
        if self.encoder.backbone not in BACKBONES:
            problems.append(
                f"encoder.backbone {self.encoder.backbone!r} is not one of {sorted(BACKBONES)}"
            )
        if not 1 <= self.encoder.stages <= 4:
            problems.append(f"encoder.stages {self.encoder.stages} is not 1-4")
        if self.encoder.encoded_size < 1:
            problems.append("encoder.encoded_size must be at least 1")
        layers = self.encoder.context_layers
        if isinstance(layers, bool) or not isinstance(layers, int) or not 0 <= layers <= 8:
            problems.append(f"encoder.context_layers {self.encoder.context_layers!r} is not 0-8")
        for name, value in (
            ("encoder.position_embedding", self.encoder.position_embedding),
            ("decoder.count_context", self.decoder.count_context),
        ):
            if not isinstance(value, bool):
                problems.append(f"{name} {value!r} is not true or false")
        if self.preprocess.image_size < 32:
            problems.append("preprocess.image_size must be at least 32")
        if not 1 <= self.max_length <= 100:
            problems.append(f"max_length {self.max_length} is not 1-100")
        if self.quantize not in QUANTIZE_MODES:
            problems.append(f"quantize {self.quantize!r} is not one of {list(QUANTIZE_MODES)}")
        if problems:
            raise ModelFormatError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if data.get("format") != FORMAT:
            raise ModelFormatError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
        try:
            preprocess = dict(data.get("preprocess", {}))
            for key in ("mean", "std"):
                if key in preprocess:
                    preprocess[key] = tuple(float(v) for v in preprocess[key])
            return cls(
                name=str(data["name"]),
                version=str(data["version"]),
                encoder=EncoderConfig(**data.get("encoder", {})),
                decoder=DecoderConfig(**data.get("decoder", {})),
                preprocess=PreprocessConfig(**preprocess),
                max_length=int(data.get("max_length", 24)),
                quantize=str(data.get("quantize", "none")),
            )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, ModelFormatError):
                raise
            raise ModelFormatError(f"config.json: {error}") from error

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "encoder": vars(self.encoder),
            "decoder": vars(self.decoder),
            "preprocess": {
                "image_size": self.preprocess.image_size,
                "mean": list(self.preprocess.mean),
                "std": list(self.preprocess.std),
            },
            "max_length": self.max_length,
            "quantize": self.quantize,
        }


@dataclass(frozen=True)
class Vocabulary:
    """Words by id. Ids 0-3 are `<pad>`, `<start>`, `<end>`, `<unk>`."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if tuple(self.words[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ModelFormatError(f"vocab.json must start with {list(SPECIAL_TOKENS)}")
        if len(set(self.words)) != len(self.words):
            raise ModelFormatError("vocab.json has repeated words")

    pad = 0
    start = 1
    end = 2
    unk = 3

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str) -> list[int]:
        """Word ids of a caption, without `<start>` and `<end>`."""
        index = {word: i for i, word in enumerate(self.words)}
        return [index.get(word, self.unk) for word in caption.split()]

    def decode(self, ids: list[int]) -> str:
        """The caption for word ids, stopping at `<end>` and skipping other special tokens."""
        words = []
        for i in ids:
            if i == self.end:
                break
            if i >= len(SPECIAL_TOKENS):
                words.append(self.words[i])
        return " ".join(words)


def read_config(model_dir: Path) -> ModelConfig:
    return ModelConfig.from_dict(read_json(model_dir / CONFIG_FILE))


def read_vocabulary(model_dir: Path) -> Vocabulary:
    data = read_json(model_dir / VOCAB_FILE)
    if not isinstance(data, list) or not all(isinstance(w, str) for w in data):
        raise ModelFormatError("vocab.json must be a JSON list of words")
    return Vocabulary(tuple(data))


def write_model_files(model_dir: Path, config: ModelConfig, vocabulary: Vocabulary) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    (model_dir / VOCAB_FILE).write_text(json.dumps(list(vocabulary.words), indent=0) + "\n")


def read_json(path: Path) -> Any:
    """A model directory's JSON file (either family's); anything unreadable, nested too
    deeply or not UTF-8 is the model-format error, never a raw exception."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise ModelFormatError(f"{path} is missing") from error
    except OSError as error:
        raise ModelFormatError(f"{path} is unreadable: {error}") from None
    except RecursionError:
        raise ModelFormatError(f"{path} is not valid JSON: nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise ModelFormatError(f"{path} is not valid JSON: {error}") from None
