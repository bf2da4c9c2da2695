"""An imported Hub model's `config.json`: its family, source, preprocessing, generation
rules and cache shape, read and validated.

Standard library only, like `config.py`: the image's build check and the tools read it
without NumPy, ONNX Runtime or torch. `lukewarm import` writes it (`toolkit.hub`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contract import HUB_MODEL_FORMAT as HUB_FORMAT

from .config import CONFIG_FILE, ModelFormatError, read_json

TOKENIZER_FILE = "tokenizer.json"
HUB_FAMILIES = ("vit-gpt2", "blip")
RESAMPLING = ("nearest", "lanczos", "bilinear", "bicubic", "box", "hamming")
"""Pillow's resampling filters by number (`PIL.Image.Resampling`), as image processors
name them in `preprocessor_config.json`'s `resample`."""


@dataclass(frozen=True)
class HubPreprocess:
    """transformers' image processor, as `preprocessor_config.json` sets it: resize to
    height x width with a Pillow filter, rescale, normalise."""

    height: int
    width: int
    resample: str
    rescale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def image_size(self) -> int:
        """The larger side of the model's input: images are decoded to at least this."""
        return max(self.height, self.width)


@dataclass(frozen=True)
class HubGeneration:
    """The model's generation config, as its `generate` applies it."""

    prompt: tuple[int, ...]
    end: int
    pad: int
    num_beams: int
    max_length: int
    """Most tokens of a caption, prompt included (transformers' meaning)."""
    length_penalty: float
    early_stopping: bool | str
    no_repeat_ngram_size: int
    min_length: int


@dataclass(frozen=True)
class HubCache:
    """The decoder's key/value cache: (rows, layers, heads, positions, head_size)."""

    layers: int
    heads: int
    head_size: int
    vocab_size: int
    max_positions: int


@dataclass(frozen=True)
class HubConfig:
    family: str
    source: str
    """The Hub id (or the local directory) it was imported from."""
    revision: str
    """The Hub commit it was imported at (`local` for a directory outside the Hub cache)."""
    architecture: str
    preprocess: HubPreprocess
    generation: HubGeneration
    cache: HubCache

    def __post_init__(self) -> None:
        problems = []
        if self.family not in HUB_FAMILIES:
            problems.append(f"family {self.family!r} is not one of {', '.join(HUB_FAMILIES)}")
        if self.preprocess.resample not in RESAMPLING:
            problems.append(f"preprocess.resample {self.preprocess.resample!r} is unknown")
        if len(self.generation.prompt) != 1:
            # The step graph is fed one token a step from an empty cache: a longer prompt
            # would need a prefill step, which neither family's `generate` uses.
            problems.append(f"generation.prompt {list(self.generation.prompt)} is not one token")
        if self.generation.early_stopping not in (True, False, "never"):
            problems.append(
                f"generation.early_stopping {self.generation.early_stopping!r} is not "
                "true, false or never"
            )
        if not 1 <= self.generation.num_beams <= 10:
            problems.append(f"generation.num_beams {self.generation.num_beams} is not 1-10")
        if (
            not len(self.generation.prompt)
            < self.generation.max_length
            <= (self.cache.max_positions)
        ):
            problems.append(
                f"generation.max_length {self.generation.max_length} does not fit the "
                f"prompt and {self.cache.max_positions} positions"
            )
        if problems:
            raise ModelFormatError("config.json: " + "; ".join(problems))

    @property
    def name(self) -> str:
        return self.source

    @property
    def version(self) -> str:
        return self.revision

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HubConfig:
        if data.get("format") != HUB_FORMAT:
            raise ModelFormatError(f"format is {data.get('format')!r}, expected {HUB_FORMAT!r}")
        try:
            pre = dict(data["preprocess"])
            gen = dict(data["generation"])
            return cls(
                family=str(data["family"]),
                source=str(data["source"]),
                revision=str(data["revision"]),
                architecture=str(data["architecture"]),
                preprocess=HubPreprocess(
                    height=int(pre["height"]),
                    width=int(pre["width"]),
                    resample=str(pre["resample"]),
                    rescale=float(pre["rescale"]),
                    mean=_triple(pre["mean"]),
                    std=_triple(pre["std"]),
                ),
                generation=HubGeneration(
                    prompt=tuple(int(t) for t in gen["prompt"]),
                    end=int(gen["end"]),
                    pad=int(gen["pad"]),
                    num_beams=int(gen["num_beams"]),
                    max_length=int(gen["max_length"]),
                    length_penalty=float(gen["length_penalty"]),
                    early_stopping=gen["early_stopping"],
                    no_repeat_ngram_size=int(gen["no_repeat_ngram_size"]),
                    min_length=int(gen["min_length"]),
                ),
                cache=HubCache(**{k: int(v) for k, v in dict(data["cache"]).items()}),
            )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, ModelFormatError):
                raise
            raise ModelFormatError(f"config.json: {error!r}") from error

    def to_dict(self) -> dict[str, Any]:
        data = {"format": HUB_FORMAT, **asdict(self)}
        data["preprocess"]["mean"] = list(self.preprocess.mean)
        data["preprocess"]["std"] = list(self.preprocess.std)
        data["generation"]["prompt"] = list(self.generation.prompt)
        return data


def _triple(values: Any) -> tuple[float, float, float]:
    first, second, third = (float(v) for v in values)
    return first, second, third


def is_hub_model(model_dir: Path) -> bool:
    """Whether `model_dir` holds an imported Hub model (not a Show-Attend-Tell one)."""
    try:
        data = read_json(Path(model_dir) / CONFIG_FILE)
    except ModelFormatError:  # not one: the family's own reader says why
        return False
    return isinstance(data, dict) and data.get("format") == HUB_FORMAT


def read_hub_config(model_dir: Path) -> HubConfig:
    data = read_json(Path(model_dir) / CONFIG_FILE)
    if not isinstance(data, dict):
        raise ModelFormatError(f"{model_dir / CONFIG_FILE} is not a JSON object")
    return HubConfig.from_dict(data)


def import_command(config: HubConfig, model_dir: Path) -> str:
    """The command that (re)writes `model_dir` from the model's source."""
    revision = "" if config.revision == "local" else f" --revision {config.revision}"
    return f"lukewarm import {config.source} {model_dir}{revision}"
