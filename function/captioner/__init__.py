"""The image captioner: model, preprocessing, beam search and loading.

`Captioner.load(model_dir)` reads `config.json`, `vocab.json` and
`weights.safetensors`; `captioner.caption(image)` captions an RGB PIL image.
"""

import warnings

# The function image has no NumPy, which torch needs only for tensor/array conversions
# the captioner never makes; unfiltered, torch's warning about it would open the log of
# every cold start.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)

from .config import ModelConfig, ModelFormatError, Vocabulary, read_config  # noqa: E402
from .model import CaptionModel  # noqa: E402
from .runtime import (  # noqa: E402
    Alternative,
    Caption,
    Captioner,
    build_model,
    configure_threads,
    save_model,
)

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
