"""The image captioner: model, preprocessing, beam search and loading.

`load_captioner(model_dir)` loads a model directory with the runtime that
`LUKEWARM_RUNTIME` names: `onnx` (the default: its ONNX export on ONNX Runtime and
NumPy, see `ort.py`) or `torch` (`config.json`, `vocab.json` and `weights.safetensors`
in torch, see `pytorch.py`); a Hub model `lukewarm import` wrote runs on onnx only
(`hub.py`). `captioner.caption(image)` captions an RGB PIL image; every backend runs the
one beam search in `search.py`.
Importing this package imports neither: the torch names below load torch on first use.

What it may import: `contract`, the standard library, NumPy and Pillow, and its backend's
library (ONNX Runtime or torch; `tokenizers` for a Hub model) when a model is loaded with
it. Never a tool.
"""

import warnings
from importlib import import_module
from typing import TYPE_CHECKING, Any

# The torch image has no NumPy, which torch needs only for tensor/array conversions
# the captioner never makes; unfiltered, torch's warning about it would open the log of
# every cold start.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)

from contract import RUNTIMES  # noqa: E402

from .config import ModelConfig, ModelFormatError, Vocabulary, read_config  # noqa: E402
from .loader import configure_threads, load_captioner  # noqa: E402
from .search import Alternative, Caption  # noqa: E402
from .threads import usable_cpus  # noqa: E402

if TYPE_CHECKING:
    from .model import CaptionModel
    from .pytorch import Captioner, build_model, save_model

_TORCH_NAMES = {
    "CaptionModel": "model",
    "Captioner": "pytorch",
    "build_model": "pytorch",
    "save_model": "pytorch",
}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        return getattr(import_module(f".{_TORCH_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RUNTIMES",
    "Alternative",
    "Caption",
    "CaptionModel",
    "Captioner",
    "ModelConfig",
    "ModelFormatError",
    "Vocabulary",
    "build_model",
    "configure_threads",
    "load_captioner",
    "read_config",
    "save_model",
    "usable_cpus",
]
