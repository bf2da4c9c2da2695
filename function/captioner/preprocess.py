"""An RGB image to the normalised tensor the encoder expects."""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor

from .config import PreprocessConfig


def to_tensor(image: Image.Image, config: PreprocessConfig) -> Tensor:
    """(3, S, S) float tensor: resized to the model's square input, scaled, normalised."""
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {image.mode}")
    size = config.image_size
    resized = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    pixels = torch.frombuffer(bytearray(resized.tobytes()), dtype=torch.uint8)
    tensor = pixels.view(size, size, 3).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(config.mean).view(3, 1, 1)
    std = torch.tensor(config.std).view(3, 1, 1)
    return tensor.sub_(mean).div_(std)
