"""Imported Hub captioners (ViT-GPT2, BLIP) on ONNX Runtime, NumPy, Pillow and
`tokenizers`: never torch or transformers.

The encoder session runs once per image and gives every decoder layer's cross-attention
keys and values; the step session runs once per token over the beams' key/value cache,
which `HubDecoding.reorder` moves with the beams. The one beam search (`search.py`)
drives it under the model's own generation config (`hub_config.HubGeneration`), as
transformers' `generate` would.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from tokenizers import Tokenizer

from .config import ModelFormatError
from .exported import Manifest, read_manifest, refresh_hint
from .hub_config import TOKENIZER_FILE, HubConfig, HubPreprocess, read_hub_config
from .ort import NumpyDecoding, all_finite, load_sessions, refuse_unless_finite
from .search import Caption, Generation, Hypothesis, search, stage_timing, to_caption


def to_pixels(image: Image.Image, config: HubPreprocess) -> np.ndarray:
    """transformers' image processor (its Pillow backend, to float rounding): resize with
    the model's filter, rescale, normalise; a (3, height, width) float32 array."""
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {image.mode}")
    resample = Image.Resampling[config.resample.upper()]
    resized = image.resize((config.width, config.height), resample)
    pixels = np.asarray(resized, dtype=np.float32).transpose(2, 0, 1)
    pixels = pixels * np.float32(config.rescale)
    pixels -= np.asarray(config.mean, dtype=np.float32)[:, None, None]
    pixels /= np.asarray(config.std, dtype=np.float32)[:, None, None]
    return pixels


def generation_rules(config: HubConfig) -> Generation:
    """The model's generation config as the beam search's rules."""
    generation = config.generation
    early = generation.early_stopping
    return Generation(
        prompt=generation.prompt,
        end=generation.end,
        steps=generation.max_length - len(generation.prompt),
        at_limit="finish",
        length_penalty=generation.length_penalty,
        early_stopping="never" if early == "never" else bool(early),
        no_repeat_ngram_size=generation.no_repeat_ngram_size,
        min_length=generation.min_length,
    )


class HubDecoding(NumpyDecoding):
    """`search.Decoding` over an imported model's step session and key/value cache."""

    def __init__(
        self,
        session: ort.InferenceSession,
        cross: tuple[np.ndarray, np.ndarray],
        config: HubConfig,
        beam: int,
    ) -> None:
        self.session = session
        self.beam = beam
        # Cross-attention keys and values belong to the image: copied to its beams once,
        # never reordered (every beam of an image has the same).
        self.cross_keys, self.cross_values = (np.repeat(array, beam, axis=0) for array in cross)
        rows = self.cross_keys.shape[0]
        cache = config.cache
        empty = (rows, cache.layers, cache.heads, 0, cache.head_size)
        self.keys = np.zeros(empty, dtype=np.float32)
        self.values = np.zeros(empty, dtype=np.float32)
        self.position = len(config.generation.prompt) - 1
        self.log_probs = np.empty((0, 0), dtype=np.float32)
        self.vocab_size = cache.vocab_size

    def step(self, tokens: list[int]) -> None:
        rows = len(tokens)
        self.log_probs, self.keys, self.values = self.session.run(
            None,
            {
                "tokens": np.asarray(tokens, dtype=np.int64),
                "positions": np.full(rows, self.position, dtype=np.int64),
                "past_keys": self.keys,
                "past_values": self.values,
                "cross_keys": self.cross_keys,
                "cross_values": self.cross_values,
            },
        )
        self.position += 1

    def reorder(self, rows: list[int]) -> None:
        self.keys = self.keys[rows]
        self.values = self.values[rows]


class HubCaptioner:
    """A loaded import: what the handler keeps for the life of an instance."""

    def __init__(
        self,
        config: HubConfig,
        tokenizer: Tokenizer,
        manifest: Manifest,
        encoder: ort.InferenceSession,
        step: ort.InferenceSession,
    ) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.encoder = encoder
        self.step = step
        self.rules = generation_rules(config)

    @classmethod
    def load(cls, model_dir: str | Path, *, threads: int | None = None) -> HubCaptioner:
        model_dir = Path(model_dir)
        config = read_hub_config(model_dir)
        manifest = read_manifest(model_dir)
        try:
            tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        except Exception as error:  # tokenizers raises its own untyped errors
            raise ModelFormatError(
                f"{model_dir / TOKENIZER_FILE} cannot be read ({str(error).splitlines()[0]}): "
                f"{refresh_hint(model_dir)}"
            ) from None
        sessions = load_sessions(model_dir, threads)
        return refuse_unless_finite(cls(config, tokenizer, manifest, *sessions), model_dir)

    def finite_on_blank(self) -> bool:
        """Whether the encoder and one decoder step give finite numbers for a black image
        (as `OrtCaptioner.finite_on_blank`: weights of NaN load, run, and caption nothing)."""
        preprocess = self.config.preprocess
        blank = to_pixels(Image.new("RGB", (preprocess.width, preprocess.height)), preprocess)
        keys, values = self.encoder.run(None, {"pixel_values": blank[None]})
        decoding = HubDecoding(self.step, (keys, values), self.config, beam=1)
        decoding.step([self.config.generation.prompt[-1]])
        return all_finite(keys, values, decoding.log_probs, decoding.keys, decoding.values)

    @property
    def info(self) -> dict[str, str]:
        """The answer's `model`: the Hub source and the revision it was imported at."""
        return {
            "name": self.config.source,
            "version": self.config.revision,
            "runtime": self.manifest.runtime,
        }

    @property
    def max_steps(self) -> int:
        """The most decoding steps a caption takes: `max_length` less the prompt."""
        return self.rules.steps

    @property
    def default_beam(self) -> int:
        return self.config.generation.num_beams

    def decode(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True)).strip()

    def caption(
        self, image: Image.Image, *, beam: int | None = None, alternatives: int = 0
    ) -> Caption:
        """Caption one RGB image; `beam` overrides the model's `num_beams`."""
        return self.caption_batch([image], beam=beam, alternatives=alternatives)[0]

    def generate(self, images: list[Image.Image], *, beam: int | None = None) -> list[list[int]]:
        """The best caption's token ids per image, prompt first, as transformers'
        `generate` returns them (without its padding)."""
        return [
            [*self.config.generation.prompt, *hypotheses[0].words]
            + ([self.config.generation.end] if self._ended(hypotheses[0].words) else [])
            for hypotheses in self._search(images, beam or self.default_beam)[0]
        ]

    def caption_batch(
        self, images: list[Image.Image], *, beam: int | None = None, alternatives: int = 0
    ) -> list[Caption]:
        width = max(beam or self.default_beam, alternatives + 1)
        results, timing = self._search(images, width)
        return [
            to_caption(hypotheses, self.decode, alternatives=alternatives, timing_ms=timing)
            for hypotheses in results
        ]

    def _search(
        self, images: list[Image.Image], width: int
    ) -> tuple[list[list[Hypothesis]], dict[str, float]]:
        started = time.perf_counter()
        batch = np.stack([to_pixels(image, self.config.preprocess) for image in images])
        preprocessed = time.perf_counter()
        keys, values = self.encoder.run(None, {"pixel_values": batch})
        encoded = time.perf_counter()
        decoding = HubDecoding(self.step, (keys, values), self.config, width)
        results = search(decoding, self.rules, batch=len(images), beam=width)
        decoded = time.perf_counter()
        return results, stage_timing(started, preprocessed, encoded, decoded)

    def _ended(self, words: tuple[int, ...]) -> bool:
        """Whether a finished caption ended with the end token (not at the length limit)."""
        return len(self.config.generation.prompt) + len(words) < self.config.generation.max_length
