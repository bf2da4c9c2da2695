"""Uploaded bytes to the RGB image the captioner expects, refusing what is unsafe.

The bytes come from strangers: the format is checked against a short list, the
pixel count is checked from the header before anything is decoded (decompression
bombs), and every Pillow mode ends up as plain RGB the way a person would see it
(EXIF orientation applied, transparency on white, 16-bit and float scaled, the
first frame of an animation).
"""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
"""Pillow format names accepted from uploads."""

MAX_PIXELS = 40_000_000
"""Largest width x height decoded (120 MB as RGB), more than most cameras produce; a
larger declared size is treated as a decompression bomb."""

_PIXEL_LIMIT = f"at most {MAX_PIXELS:,} pixels are accepted"

# Pillow reports damaged or truncated data with any of these, depending on the codec.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


class ImageRejected(ValueError):
    """An upload that cannot be captioned; the message says why, for the user."""


class UnreadableImage(ImageRejected):
    """Not an image, or a corrupt or truncated one."""


class UnsupportedImage(ImageRejected):
    """An image, but in a format or colour mode lukewarm does not accept."""


class ImageTooLarge(ImageRejected):
    """More pixels than `MAX_PIXELS`: refused before decoding."""


def decode_image(data: bytes, *, min_size: int | None = None) -> Image.Image:
    """Decode an uploaded image to RGB.

    `min_size` is the smallest width and height the caller needs (the model's input
    size): large JPEGs are then decoded at a reduced scale, which is several times
    faster and gives the same pixels after resizing.
    """
    if not data:
        raise UnreadableImage("the image is empty")
    image = _open(data)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(f"the image is {width}x{height} pixels; {_PIXEL_LIMIT}")
    if min_size:
        image.draft("RGB", (min_size, min_size))
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except _DECODE_ERRORS as error:
        raise UnreadableImage(
            f"the {image.format} image is corrupt or truncated ({error})"
        ) from error
    return to_rgb(upright)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as RGB: transparency composited on white, wide and float
    greys scaled to 8 bits (Pillow's own conversion clips them to white)."""
    if image.mode.startswith(("I", "F")):
        image = _to_8bit_grey(image)
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


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer or float image into 0-255 grey.

    16-bit modes use their full range; other integer and float images use the
    smallest usual range that holds their values (0-1, 0-255, 0-65535), else their
    own minimum and maximum.
    """
    floats = image.convert("F")
    low, high = floats.getextrema()
    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    elif low >= 0:
        tops = ((1.0,) if image.mode == "F" else ()) + (255.0, 65535.0)
        top = next((top for top in tops if high <= top), None)
        if top is not None:
            low, high = 0.0, top
    scale = 255.0 / (high - low) if high > low else 0.0
    return floats.point(lambda value: (value - low) * scale).convert("L")
