"""The image captioner: model, preprocessing, beam search and loading.

`Captioner.load(model_dir)` reads `config.json`, `vocab.json` and
`weights.safetensors`; `captioner.caption(image)` captions an RGB PIL image.
"""

from .config import ModelConfig, ModelFormatError, Vocabulary, read_config
from .model import CaptionModel
from .runtime import Alternative, Caption, Captioner, build_model, configure_threads, save_model

__all__ = [
    "Alternative",
    "Caption",
    "CaptionModel",
    "Captioner",
    "ModelConfig",
    "ModelFormatError",
    "Vocabulary",
    "build_model",
    "configure_threads",
    "read_config",
    "save_model",
]
