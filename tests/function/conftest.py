"""Fixtures of the handler's tests: the app imported once per module, photos as uploads."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from tests.function.handler_support import encode, import_app, with_orientation


@pytest.fixture(scope="module")
def app(tiny_model_dir: Path) -> ModuleType:
    return import_app(tiny_model_dir)


@pytest.fixture(scope="session")
def uploads(photos: dict[str, Path]) -> dict[str, bytes]:
    """Real photos in every format and colour mode the function accepts, by name."""
    coffee = Image.open(photos["coffee"]).convert("RGB")
    grass = Image.open(photos["grass"])
    horse = Image.open(photos["horse"])
    small = coffee.resize((150, 100))
    palette = horse.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = palette.getpixel((0, 0))
    frames = [small, small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return {
        "png": photos["coffee"].read_bytes(),
        "jpeg": photos["motorcycle"].read_bytes(),
        "jpeg-progressive": encode(coffee, "JPEG", progressive=True, quality=85),
        "gif": encode(coffee, "GIF"),
        "gif-animated": encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "webp": encode(coffee, "WEBP"),
        "webp-animated": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "bmp": encode(coffee, "BMP"),
        "tiff": encode(coffee, "TIFF", compression="tiff_lzw"),
        "grayscale": photos["grass"].read_bytes(),
        "rgba": photos["horse"].read_bytes(),
        "palette-transparent": encode(palette, "PNG"),
        "cmyk-jpeg": encode(coffee.convert("CMYK"), "JPEG"),
        "png-16bit": encode(grass.convert("I").point(lambda v: v * 257).convert("I;16"), "PNG"),
        "tiff-16bit": encode(grass.convert("I").point(lambda v: v * 257).convert("I;16"), "TIFF"),
        "bilevel": encode(grass.convert("1"), "PNG"),
        "exif-rotated": with_orientation(coffee, 6),
    }
