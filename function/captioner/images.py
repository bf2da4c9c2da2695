"""Uploaded bytes to the RGB image the captioner expects, refusing what is unsafe.

The bytes come from strangers: the format is checked against a short list, the
pixel count and the decoded size are checked from the header before anything is
decoded (decompression bombs), and every Pillow mode ends up as plain RGB the way a
person would see it (EXIF orientation applied, transparency on white, 16-bit and
float scaled, the first frame of an animation).

Memory is bounded too: a large image is decoded at reduced scale where the format
allows it (JPEG), otherwise converted and shrunk strip by strip, so a request needs
little more than the decoded image itself, never several full-size copies of it.
"""

from __future__ import annotations

import io
import math
import struct
from typing import cast

from PIL import Image, ImageFile, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
"""Pillow format names accepted from uploads."""

MAX_PIXELS = 40_000_000
"""Largest width x height decoded (120 MB as RGB), more than most cameras produce; a
larger declared size is treated as a decompression bomb."""

MAX_DECODED_BYTES = 128 * 1024 * 1024
"""Largest decoded image in memory (Pillow keeps 1, 2 or 4 bytes a pixel by mode): a
32-megapixel colour PNG, a 40-megapixel greyscale one; JPEGs count at the reduced
scale they are decoded at."""

REDUCING_GAP = 3
"""Images are shrunk by whole factors down to no less than this many times the model's
input, as the preprocessing's own resize does (`reducing_gap`); it resamples the rest."""

STRIP_PIXELS = 1_000_000
"""Pixels converted at a time when shrinking: each strip's copies stay a few MB."""

_PIXEL_LIMIT = f"at most {MAX_PIXELS:,} pixels are accepted"

# What EXIF orientation (tag 0x0112) asks for to show the image upright.
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Pillow reports damaged or truncated data with any of these, depending on the codec.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


class ImageRejected(ValueError):
    """An upload that cannot be captioned; the message says why, for the user."""


class UnreadableImage(ImageRejected):
    """Not an image, or a corrupt or truncated one."""


class UnsupportedImage(ImageRejected):
    """An image, but in a format or colour mode lukewarm does not accept."""


class ImageTooLarge(ImageRejected):
    """More pixels than `MAX_PIXELS`, or more decoded bytes than `MAX_DECODED_BYTES`:
    refused before decoding."""


def decode_image(data: bytes, *, min_size: int | None = None) -> Image.Image:
    """Decode an uploaded image to RGB.

    `min_size` is the smallest width and height the caller needs (the model's input
    size): large JPEGs are then decoded at a reduced scale, which is several times
    faster and gives the same pixels after resizing, and other large images are
    shrunk by whole factors while they are converted.
    """
    if not data:
        raise UnreadableImage("the image is empty")
    image = _open(data)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(f"the image is {width}x{height} pixels; {_PIXEL_LIMIT}")
    if min_size:
        image.draft("RGB", (min_size, min_size))
    decoded_bytes = image.width * image.height * _bytes_per_pixel(image.mode)
    if decoded_bytes > MAX_DECODED_BYTES:
        raise ImageTooLarge(
            f"the {width}x{height} {image.format} image takes {decoded_bytes / 2**20:,.0f} MiB "
            f"decoded ({image.mode}); at most {MAX_DECODED_BYTES / 2**20:,.0f} MiB are accepted"
        )
    try:
        image.load()
        orientation = _ORIENTATIONS.get(image.getexif().get(0x0112, 1))
    except _DECODE_ERRORS as error:
        raise UnreadableImage(
            f"the {image.format} image is corrupt or truncated ({error})"
        ) from error
    factors = _reduction(image.size, min_size) if min_size else (1, 1)
    rgb = to_rgb(image) if factors == (1, 1) else _shrunk_rgb(image, factors)
    return rgb.transpose(orientation) if orientation is not None else rgb


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow keeps per pixel in memory: one byte, two for 16-bit grey, else four."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _reduction(size: tuple[int, int], min_size: int) -> tuple[int, int]:
    """Whole shrink factors per axis that keep each side at least REDUCING_GAP x min_size.

    The model's input is square, so the factors are the same whichever way the image
    is turned upright afterwards.
    """
    return (
        max(1, size[0] // (min_size * REDUCING_GAP)),
        max(1, size[1] // (min_size * REDUCING_GAP)),
    )


def _shrunk_rgb(image: Image.Image, factors: tuple[int, int]) -> Image.Image:
    """`image` as RGB, box-averaged down by `factors`, converting one strip at a time."""
    factor_x, factor_y = factors
    width, height = image.size
    grey_range = _grey_range(image) if image.mode.startswith(("I", "F")) else None
    shrunk = Image.new("RGB", (math.ceil(width / factor_x), math.ceil(height / factor_y)))
    rows = max(1, STRIP_PIXELS // (width * factor_y)) * factor_y
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(top + rows, height)))
        shrunk.paste(to_rgb(strip, grey_range).reduce(factors), (0, top // factor_y))
    return shrunk


def to_rgb(image: Image.Image, grey_range: tuple[float, float] | None = None) -> Image.Image:
    """Any Pillow mode as RGB: transparency composited on white, wide and float
    greys scaled to 8 bits (Pillow's own conversion clips them to white).

    `grey_range` is the range of values that spans black to white in a wide or float
    grey image; by default, the one `image`'s own values call for.
    """
    if image.mode.startswith(("I", "F")):
        image = _to_8bit_grey(image, grey_range or _grey_range(image))
    try:
        if image.has_transparency_data:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            white.alpha_composite(rgba)
            return white.convert("RGB")
        return image.convert("RGB")
    except ValueError as error:
        raise UnsupportedImage(f"images in colour mode {image.mode} are not supported") from error


def _open(data: bytes) -> ImageFile.ImageFile:
    """Identify the format from the header alone (Pillow opens lazily)."""
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"the image declares too many pixels; {_PIXEL_LIMIT}") from error
    except UnidentifiedImageError:
        pass
    except _DECODE_ERRORS as error:
        raise UnreadableImage(f"the image header is damaged or truncated ({error})") from error
    other = _identify_any_format(data)
    if other:
        accepted = ", ".join(FORMATS[:-1]) + " or " + FORMATS[-1]
        raise UnsupportedImage(f"{other} images are not supported; send {accepted}")
    raise UnreadableImage("the data is not an image in any format lukewarm knows")


def _identify_any_format(data: bytes) -> str | None:
    """The format name of an image lukewarm refuses, for a helpful message."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format
    except (Image.DecompressionBombError, *_DECODE_ERRORS):
        return None


def _grey_range(image: Image.Image) -> tuple[float, float]:
    """The values that are black and white in a 16/32-bit integer or float image.

    16-bit modes use their full range; other integer and float images use the
    smallest usual range that holds their values (0-1, 0-255, 0-65535), else their
    own minimum and maximum.
    """
    if image.mode.startswith("I;16"):
        return 0.0, 65535.0
    # One band here (the modes `decode` converts), so the extrema are one (low, high) pair.
    low, high = (float(value) for value in cast("tuple[float, float]", image.getextrema()))
    if low >= 0:
        tops = ((1.0,) if image.mode == "F" else ()) + (255.0, 65535.0)
        top = next((top for top in tops if high <= top), None)
        if top is not None:
            return 0.0, top
    return low, high


def _to_8bit_grey(image: Image.Image, grey_range: tuple[float, float]) -> Image.Image:
    """Scale a 16/32-bit integer or float image into 0-255 grey over `grey_range`."""
    low, high = grey_range
    scale = 255.0 / (high - low) if high > low else 0.0
    return image.convert("F").point(lambda value: (value - low) * scale).convert("L")
