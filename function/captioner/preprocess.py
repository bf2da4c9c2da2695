"""An RGB image to the normalised pixels the encoder expects, for either backend.

`to_tensor` (torch) and `to_array` (NumPy) make the same float32 numbers by the same
operations in the same order. Each imports its library when first called: the torch
image has no NumPy and the ONNX image no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

from .config import PreprocessConfig

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor


def _resized(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {image.mode}")
    size = config.image_size
    return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)


def to_tensor(image: Image.Image, config: PreprocessConfig) -> Tensor:
    """(3, S, S) float tensor: resized to the model's square input, scaled, normalised."""
    import torch

    resized = _resized(image, config)
    size = config.image_size
    pixels = torch.frombuffer(bytearray(resized.tobytes()), dtype=torch.uint8)
    tensor = pixels.view(size, size, 3).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(config.mean).view(3, 1, 1)
    std = torch.tensor(config.std).view(3, 1, 1)
    return tensor.sub_(mean).div_(std)


def to_array(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """`to_tensor` in NumPy: a (3, S, S) float32 array."""
    import numpy as np

    resized = _resized(image, config)
    size = config.image_size
    pixels = np.frombuffer(resized.tobytes(), dtype=np.uint8).reshape(size, size, 3)
    array = pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
    array -= np.asarray(config.mean, dtype=np.float32).reshape(3, 1, 1)
    array /= np.asarray(config.std, dtype=np.float32).reshape(3, 1, 1)
    return array
