"""The torch backend: a model directory's weights loaded into torch modules, and
captioning with them (what training, conversion and export use; opt-in in the function)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.overrides import TorchFunctionMode

from .beam import beam_search
from .config import (
    WEIGHTS_FILE,
    ModelConfig,
    ModelFormatError,
    Vocabulary,
    read_config,
    read_vocabulary,
    write_model_files,
)
from .model import CaptionModel, Decoder
from .packing import pack_decoder
from .preprocess import to_tensor
from .search import Caption, stage_timing, to_caption


class _SkipInit(TorchFunctionMode):
    """Makes every `torch.nn.init` function a no-op: the weights are about to be loaded.

    On the meta device most initialisers cost nothing anyway, but `nn.Embedding`'s
    `normal_` runs through a Python reference that imports `torch._dynamo`: seconds of
    cold start and tens of MB of memory, for numbers that would be thrown away.
    """

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Collection[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else (kwargs or {})["tensor"]
        return func(*args, **(kwargs or {}))


def build_model(config: ModelConfig, vocab_size: int) -> CaptionModel:
    """The model's modules, on the meta device: no memory, no random initialisation."""
    with torch.device("meta"), _SkipInit():
        return CaptionModel(config.encoder, config.decoder, vocab_size)


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a safetensors file into `model`, checking every name and shape first.

    safetensors holds tensors only: reading it cannot execute code.
    """
    try:
        state = load_file(path)
    except FileNotFoundError as error:
        raise ModelFormatError(f"{path} is missing") from error
    except (SafetensorError, OSError) as error:
        raise ModelFormatError(f"{path} is not a readable safetensors file: {error}") from error
    expected = model.state_dict()
    problems = [f"missing {name}" for name in expected.keys() - state.keys()]
    problems += [f"unexpected {name}" for name in state.keys() - expected.keys()]
    problems += [
        f"{name} has shape {tuple(state[name].shape)}, expected {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if problems:
        shown = "; ".join(sorted(problems)[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ModelFormatError(f"{path.name} does not fit config.json: {shown}{more}")
    model.load_state_dict(state, strict=True, assign=True)


def save_model(
    model_dir: Path, config: ModelConfig, vocabulary: Vocabulary, model: CaptionModel
) -> None:
    """Write a model directory. Weights go to a temporary file first, so a failed save
    never leaves a half-written model behind."""
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    partial = model_dir / (WEIGHTS_FILE + ".partial")
    save_file(state, partial, metadata={"format": "lukewarm-captioner/1"})
    # safetensors creates the file owner-only (0600); an image built from this directory
    # runs the function as a non-root user, which must be able to read it.
    partial.chmod(0o644)
    write_model_files(model_dir, config, vocabulary)
    partial.replace(model_dir / WEIGHTS_FILE)


def _quantize_decoder(decoder: nn.Module) -> nn.Module:
    """The decoder with int8 weights in its linear and LSTM layers, quantized at load.

    Each decoding step reads every decoder weight once for a handful of beams, so it is
    bound by memory traffic: a quarter of the bytes is most of the gain. The encoder's
    convolutions stay float (dynamic quantization does not cover them). torch marks
    `torch.ao.quantization` deprecated in favour of the separate torchao package but
    ships it; its warnings would otherwise repeat in every cold start's log.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor")
        return torch.ao.quantization.quantize_dynamic(
            decoder, {nn.Linear, nn.LSTMCell}, dtype=torch.qint8
        )


class Captioner:
    """A loaded model: the thing the handler keeps for the life of an instance."""

    default_beam = 3
    """The beam width when a request names none."""

    def __init__(self, config: ModelConfig, vocabulary: Vocabulary, model: CaptionModel) -> None:
        self.config = config
        self.vocabulary = vocabulary
        self.model = model.eval().requires_grad_(False)
        if config.quantize == "int8-dynamic":
            self.model.decoder = cast("Decoder", _quantize_decoder(self.model.decoder))
        else:
            self.model.decoder = pack_decoder(self.model.decoder)

    @classmethod
    def load(cls, model_dir: str | Path) -> Captioner:
        model_dir = Path(model_dir)
        config = read_config(model_dir)
        vocabulary = read_vocabulary(model_dir)
        model = build_model(config, len(vocabulary))
        load_weights(model, model_dir / WEIGHTS_FILE)
        captioner = cls(config, vocabulary, model)
        if not captioner.finite_on_blank():
            raise ModelFormatError(
                f"{model_dir / WEIGHTS_FILE} gives outputs that are not finite on a blank "
                "image (NaN or infinite weights)"
            )
        return captioner

    def finite_on_blank(self) -> bool:
        """Whether the encoder and one decoder step give finite numbers for a black image
        (as `OrtCaptioner.finite_on_blank`: weights of NaN run, and caption nothing)."""
        size = self.config.preprocess.image_size
        with torch.inference_mode():
            blank = to_tensor(Image.new("RGB", (size, size)), self.config.preprocess)[None]
            encoder_out = self.model.encoder(blank)
            decoder = self.model.decoder
            projected = decoder.attention.project(encoder_out)
            state = decoder.init_state(encoder_out)
            words = torch.tensor([self.vocabulary.start])
            logits, (hidden, cell), _ = decoder.step(words, state, encoder_out, projected)
            outputs = (encoder_out, projected, logits, hidden, cell)
            return all(bool(torch.isfinite(tensor).all()) for tensor in outputs)

    @property
    def max_steps(self) -> int:
        """The most decoding steps a caption takes: `max_length` words, then `<end>`."""
        return self.config.max_length + 1

    @property
    def info(self) -> dict[str, str]:
        return {"name": self.config.name, "version": self.config.version, "runtime": "torch"}

    def caption(self, image: Image.Image, *, beam: int = 3, alternatives: int = 0) -> Caption:
        """Caption one RGB image; `alternatives` more captions come from the same beam."""
        return self.caption_batch([image], beam=beam, alternatives=alternatives)[0]

    def caption_batch(
        self, images: list[Image.Image], *, beam: int = 3, alternatives: int = 0
    ) -> list[Caption]:
        width = max(beam, alternatives + 1)
        started = time.perf_counter()
        with torch.inference_mode():
            batch = torch.stack([to_tensor(image, self.config.preprocess) for image in images])
            preprocessed = time.perf_counter()
            encoder_out = self.model.encoder(batch)
            encoded = time.perf_counter()
            results = beam_search(
                self.model.decoder,
                encoder_out,
                start=self.vocabulary.start,
                end=self.vocabulary.end,
                beam=width,
                max_length=self.config.max_length,
            )
        decoded = time.perf_counter()
        timing = stage_timing(started, preprocessed, encoded, decoded)
        return [
            to_caption(
                hypotheses, self.vocabulary.decode, alternatives=alternatives, timing_ms=timing
            )
            for hypotheses in results
        ]
