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
import re
import struct
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageFile, UnidentifiedImageError

from contract import MAX_PIXELS, MAX_SIDE

FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
"""Pillow format names accepted from uploads."""

MAX_DECODED_BYTES = 128 * 1024 * 1024
"""Most memory decoding an image may take (Pillow keeps 1, 2 or 4 bytes a pixel by
mode): a 32-megapixel colour PNG, a 40-megapixel greyscale one. JPEGs count at the reduced
scale they are decoded at, plus their coefficients when progressive; WebPs at
`WEBP_BYTES_PER_PIXEL`; TIFFs plus their largest strip or tile, decompressed (libtiff
decodes one at a time into a buffer); run-length-encoded BMPs plus two bytes a pixel
(Pillow decodes them in Python, into a bytearray it then copies)."""

WEBP_BYTES_PER_PIXEL = 16
"""What a WebP costs to decode per pixel: libwebp's animation decoder (Pillow's only WebP
reader) keeps two 4-byte canvases, Pillow copies the frame to bytes, then into the
image. A 5792 x 5792 lossless WebP of 34 bytes grew the handler by 514 MB."""

JPEG_BLOCK_BYTES = 128
"""What a progressive (or otherwise multi-scan) JPEG costs per 8x8 block of each colour
component beside its output: libjpeg keeps every block's 64 two-byte coefficients at full
resolution until the last scan, even when it outputs a reduced scale. A 40-megapixel
progressive CMYK JPEG grew the handler by 310 MB."""

REDUCING_GAP = 3
"""Images are shrunk by whole factors down to no less than this many times the model's
input, as the preprocessing's own resize does (`reducing_gap`); it resamples the rest."""

STRIP_PIXELS = 1_000_000
"""Pixels converted at a time when shrinking: each strip's copies stay a few MB."""

MAX_SCAN_BLOCKS = 100_000_000
"""Blocks (8x8 pixels of one colour component) a JPEG's scans may walk in all: libjpeg
visits every block of the image once per scan, however little the scan holds (5-9 ns a
block here), so this bounds that walk to about a second of CPU. A 40-megapixel colour
photo may have 106 scans, a 6300x6300 grey one 161; encoders write 1 to about 12."""

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
    format, image = _open(data)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(f"the image is {width}x{height} pixels; {_PIXEL_LIMIT}")
    if max(width, height) > MAX_SIDE:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels; no side may be over {MAX_SIDE:,} pixels"
        )
    frame = jpeg_frame(data) if format == "JPEG" else None  # Pillow may call it MPO
    if frame is not None:
        _check_scans(data, frame, width, height)
    if min_size:
        image.draft("RGB", (min_size, min_size))
    decoded_bytes = _decoded_bytes(format, image, frame)
    if decoded_bytes > MAX_DECODED_BYTES:
        raise ImageTooLarge(
            f"the {width}x{height} {format} image takes {decoded_bytes / 2**20:,.0f} MiB "
            f"to decode ({image.mode}); at most {MAX_DECODED_BYTES / 2**20:,.0f} MiB are accepted"
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


@dataclass(frozen=True)
class JpegFrame:
    """What a JPEG's frame header (SOF) says about the work of decoding it."""

    blocks: int
    """8x8 blocks over all colour components, as libjpeg allocates them."""
    multi_scan: bool
    """Progressive, or the first scan holds fewer components than the frame: libjpeg then
    keeps every block's coefficients until the last scan, whatever the output scale."""
    end: int
    """Offset of the first scan (SOS marker): where the entropy-coded data begins."""


# Start-of-frame markers: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_START_OF_SCAN = 0xDA
# The next marker after entropy-coded data: 0xFF, then neither a stuffed zero, a restart
# marker (D0-D7) nor more fill bytes.
_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")


def jpeg_frame(data: bytes) -> JpegFrame | None:
    """The frame of a JPEG, read from the segments before its first scan; None if it has
    none there (Pillow then refuses the file as damaged)."""
    position = 2  # after SOI
    frame: tuple[int, bool, int] | None = None  # blocks, progressive, components
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte before a marker
            position += 1
            continue
        if marker == _START_OF_SCAN:
            if frame is None or position + 4 >= len(data):
                return None
            blocks, progressive, components = frame
            partial_scan = data[position + 4] < components
            return JpegFrame(blocks, progressive or partial_scan, position)
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _SOF_MARKERS:
            segment = data[position + 4 : position + 2 + length]
            components = segment[5] if len(segment) > 5 else 0
            frame = _frame_blocks(segment), marker in _PROGRESSIVE_SOF, components
        position += 2 + length
    return None


def _frame_blocks(segment: bytes) -> int:
    """Blocks libjpeg allocates for a frame: each component's own size in 8x8 blocks,
    rounded up to its sampling factors."""
    if len(segment) < 6:
        return 0
    height, width, count = struct.unpack(">HHB", segment[1:6])
    factors = [
        (segment[index] >> 4, segment[index] & 0x0F)
        for index in range(7, min(len(segment), 6 + 3 * count), 3)
    ]
    if not factors:
        return 0
    most_h = max(h for h, _ in factors) or 1
    most_v = max(v for _, v in factors) or 1
    blocks = 0
    for h, v in factors:
        across = math.ceil(math.ceil(width * h / most_h) / 8)
        down = math.ceil(math.ceil(height * v / most_v) / 8)
        blocks += -(-across // max(h, 1)) * max(h, 1) * -(-down // max(v, 1)) * max(v, 1)
    return blocks


def _check_scans(data: bytes, frame: JpegFrame, width: int, height: int) -> None:
    """Refuse a JPEG with more scans than its size allows, before decoding it.

    Entropy-coded data never holds the bytes FF DA (a 0xFF there is followed by a
    stuffed zero or a restart marker), so counting them is an upper bound on the scans,
    and the exact count (marker by marker) is only needed when that bound is over.
    """
    if frame.blocks == 0:
        return
    allowed = MAX_SCAN_BLOCKS // frame.blocks
    if data.count(b"\xff\xda", frame.end) <= allowed:
        return
    scans = 0
    position = frame.end
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker in (0xD8, 0xD9):  # another image, or the end of this one
            return
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker != _START_OF_SCAN:
            continue
        scans += 1
        if scans > allowed:
            raise ImageTooLarge(
                f"the {width}x{height} JPEG has over {allowed:,} scans; decoding walks every "
                f"block of the image once per scan, so one of its size may have at most "
                f"{allowed:,} scans (encoders write about 10): re-save it"
            )
        found = _NEXT_MARKER.search(data, position)
        if found is None:
            return
        position = found.end() - 2


def _decoded_bytes(format: str, image: ImageFile.ImageFile, frame: JpegFrame | None) -> int:
    """What decoding `image` holds in memory at once, as measured per format: the image
    Pillow keeps, plus what its decoder keeps beside it."""
    pixels = image.width * image.height
    if format == "WEBP":
        return pixels * WEBP_BYTES_PER_PIXEL
    held = pixels * _bytes_per_pixel(image.mode)
    if frame is not None and frame.multi_scan:
        return held + frame.blocks * JPEG_BLOCK_BYTES
    if format == "TIFF":
        return held + _tiff_chunk_bytes(image)
    if format == "BMP" and image.tile and image.tile[0][0] == "bmp_rle":
        # Pillow's run-length decoder fills a bytearray, a byte a pixel, and copies it.
        return held + 2 * pixels
    return held


def _tiff_chunk_bytes(image: Image.Image) -> int:
    """The largest strip or tile of a TIFF, decompressed: libtiff decodes one at a time
    into a buffer of that size (a single-strip TIFF needs its whole image twice)."""
    tags = getattr(image, "tag_v2", {})
    bits = tags.get(258, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    planar = tags.get(284, 1) == 2  # a plane a sample: each strip holds one sample
    bits_per_pixel = max(bits, default=8) if planar else sum(bits)
    width, height = image.size
    if 322 in tags and 323 in tags:
        across, down = int(tags[322]), int(tags[323])
    else:
        across, down = width, min(int(tags.get(278, height)), height)
    return math.ceil(across * bits_per_pixel / 8) * down


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


# The leading bytes of each accepted format, as Pillow's own plugins recognise them.
_ACCEPTED_SIGNATURES = {
    "PNG": rb"\x89PNG\r\n\x1a\n",
    "JPEG": rb"\xff\xd8\xff",
    "GIF": rb"GIF8[79]a",
    "WEBP": rb"RIFF....WEBP",
    "BMP": rb"BM",
    "TIFF": rb"II\*\x00|MM\x00\*|II\+\x00|MM\x00\+|MM\*\x00|II\x00\*",
}
# Other formats, named from their leading bytes for a helpful message: never opened.
_REFUSED_SIGNATURES = {
    "ICO": rb"\x00\x00\x01\x00",
    "CUR": rb"\x00\x00\x02\x00",
    "EPS": rb"%!PS|\xc5\xd0\xd3\xc6",
    "PDF": rb"%PDF-",
    "PSD": rb"8BPS",
    "JPEG 2000": rb"\x00\x00\x00\x0cjP  \r\n\x87\n|\xff\x4f\xff\x51",
    "JPEG XL": rb"\xff\x0a|\x00\x00\x00\x0cJXL \r\n\x87\n",
    "AVIF": rb"....ftypavi[fs]",
    "HEIF": rb"....ftyp(?:hei[cfsx]|hev[cx]|mif1|msf1)",
    "ICNS": rb"icns",
    "QOI": rb"qoif",
    "DDS": rb"DDS ",
    "PCX": rb"\x0a[\x00\x02-\x05]\x01",
    "SGI": rb"\x01\xda",
    "PPM": rb"P[1-6fF]\s",
    "FITS": rb"SIMPLE  =",
    "XPM": rb"/\* XPM \*/",
    "XBM": rb"#define",
}


def _signature(table: dict[str, bytes], data: bytes) -> str | None:
    return next(
        (name for name, pattern in table.items() if re.match(pattern, data, re.DOTALL)), None
    )


def _open(data: bytes) -> tuple[str, ImageFile.ImageFile]:
    """The format an upload's leading bytes name, and the upload opened lazily (Pillow reads
    the header alone) with that one accepted plugin. Another format is refused by name,
    never opened: some of Pillow's plugins decode the whole image (ICO) or scan megabytes
    (EPS) just to open a file."""
    format = _signature(_ACCEPTED_SIGNATURES, data)
    if format is None:
        other = _signature(_REFUSED_SIGNATURES, data)
        if other:
            accepted = ", ".join(FORMATS[:-1]) + " or " + FORMATS[-1]
            raise UnsupportedImage(f"{other} images are not supported; send {accepted}")
        raise UnreadableImage("the data is not an image in any format lukewarm knows")
    try:
        return format, Image.open(io.BytesIO(data), formats=(format,))
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"the image declares too many pixels; {_PIXEL_LIMIT}") from error
    except UnidentifiedImageError as error:
        raise UnreadableImage(
            f"the data starts like a {format} image, but its header is damaged or truncated"
        ) from error
    except _DECODE_ERRORS as error:
        raise UnreadableImage(f"the image header is damaged or truncated ({error})") from error


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
