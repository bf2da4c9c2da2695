"""Fixtures shared by every test area: the repository's paths, real photos, a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"
PHOTOS_DIR = ROOT / "data" / "photos"
DEMO_MODEL_DIR = FUNCTION_DIR / "model"


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    """The real test photos by name (`coffee`, `horse`, `grass`, `retina`, `motorcycle`)."""
    return {path.stem: path for path in sorted(PHOTOS_DIR.iterdir()) if path.suffix != ".md"}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random-weight model directory: loads in milliseconds, captions nonsense.

    For tests of everything around the model (API, errors, processes); tests of what
    the captions say use the committed demo model.
    """
    import torch

    from captioner import CaptionModel, ModelConfig, Vocabulary, save_model
    from captioner.config import DecoderConfig, EncoderConfig, PreprocessConfig

    torch.manual_seed(0)
    words = ("<pad>", "<start>", "<end>", "<unk>", "a", "red", "blue", "circle", "square")
    config = ModelConfig(
        name="tiny-random",
        version="0",
        encoder=EncoderConfig(backbone="resnet18", stages=2, encoded_size=4),
        decoder=DecoderConfig(embed_dim=16, attention_dim=16, decoder_dim=32, dropout=0.0),
        preprocess=PreprocessConfig(image_size=64),
        max_length=8,
    )
    model_dir = tmp_path_factory.mktemp("tiny-model")
    save_model(
        model_dir,
        config,
        Vocabulary(words),
        CaptionModel(config.encoder, config.decoder, len(words)),
    )
    return model_dir
