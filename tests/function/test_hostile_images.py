"""What the third red-team run broke in image decoding, each case kept as a regression test.

Images small on the wire that cost seconds of CPU or hundreds of MB to decode are
refused from their headers, in milliseconds of CPU, while ordinary images of the same
kinds are still captioned.
"""

from __future__ import annotations

import contextlib
import re
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from bench.hostile import (
    float_tiff,
    ico_holding_png,
    jpeg_segment,
    png,
    rle_bmp,
    scan_bomb_jpeg,
    wide_png,
)
from captioner import images
from captioner.images import (
    FORMATS,
    MAX_SCAN_BLOCKS,
    MAX_SIDE,
    ImageRejected,
    ImageTooLarge,
    JpegFrame,
    UnreadableImage,
    UnsupportedImage,
    decode_image,
    jpeg_frame,
)
from tests.function.handler_support import encode, http_event, invoke
from tests.function.test_app import assert_caption, assert_error

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

REFUSAL_CPU_S = 0.1
"""CPU seconds a refusal from the header may take (they take a few ms); CPU time, not wall
time, so other work on the machine cannot fail the test."""


def cpu_seconds(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.thread_time()
    result = call()
    return result, time.thread_time() - started


def test_a_progressive_jpeg_scan_bomb_is_refused_in_milliseconds(app: ModuleType) -> None:
    # 6300x6300 grey, 10,001 scans of end-of-band runs: 30-55 s of CPU to decode.
    bomb = scan_bomb_jpeg(6300, 10_000)
    reply, cpu_s = cpu_seconds(lambda: invoke(app, http_event(body=bomb)))
    assert_error(reply, 413, "image_too_large", "scans")
    assert "6300x6300" in reply.json()["error"]["message"]
    assert cpu_s < REFUSAL_CPU_S


def test_the_scan_budget_scales_with_the_image() -> None:
    """A small image may have many scans (each is cheap); the same count on a large one is
    refused, and right at its budget a large one is still decoded."""
    side = 2000
    blocks = ((side + 7) // 8) ** 2
    allowed = MAX_SCAN_BLOCKS // blocks
    assert decode_image(scan_bomb_jpeg(64, 10_000)).size == (64, 64)
    assert decode_image(scan_bomb_jpeg(side, allowed - 1), min_size=80).mode == "RGB"
    with pytest.raises(ImageTooLarge, match=f"at most {allowed:,} scans"):
        decode_image(scan_bomb_jpeg(side, allowed), min_size=80)


SOI, EOI = b"\xff\xd8", b"\xff\xd9"
FIRST_AC_SCAN = b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f"
"""The header of `scan_bomb_jpeg`'s AC scans: the first comes right after its one DC scan."""


def bomb_at_its_budget(side: int = 2000) -> tuple[bytes, bytes]:
    """A scan bomb with exactly the scans its size allows, and one with a scan more."""
    allowed = MAX_SCAN_BLOCKS // ((side + 7) // 8) ** 2
    return scan_bomb_jpeg(side, allowed - 1), scan_bomb_jpeg(side, allowed)


@pytest.mark.parametrize(
    "disguise",
    [
        lambda bomb: bomb[:2] + b"\xff" + bomb[2:],
        lambda bomb: bomb[:2] + jpeg_segment(0xFE, b"%" * 300) + bomb[2:],
    ],
    ids=["a fill byte before the first marker", "a 300-byte comment before the frame"],
)
def test_a_scan_bomb_is_refused_whatever_comes_before_its_frame(
    disguise: Callable[[bytes], bytes],
) -> None:
    """Fill bytes and long segments are legal before the frame header: the scans are still
    counted against the frame they walk."""
    _, over = bomb_at_its_budget()
    with pytest.raises(ImageTooLarge, match="at most 1,600 scans"):
        decode_image(disguise(over), min_size=80)


def test_scan_markers_inside_a_segment_are_not_scans() -> None:
    """A comment between scans may hold the bytes of a scan marker (FF DA): the scans are
    then counted marker by marker, so a JPEG right at its budget is still decoded, and one
    scan over it still refused."""
    comment = jpeg_segment(0xFE, b"\xff\xda" * 200)
    at, over = (
        bomb[: bomb.index(FIRST_AC_SCAN)] + comment + bomb[bomb.index(FIRST_AC_SCAN) :]
        for bomb in bomb_at_its_budget()
    )
    assert decode_image(at, min_size=80).size == (250, 250)
    with pytest.raises(ImageTooLarge, match="at most 1,600 scans"):
        decode_image(over, min_size=80)


@pytest.mark.parametrize(
    ("ending", "refused"),
    [(jpeg_segment(0xFE, b"end"), False), (b"\xff\xda\x00\x08", True)],
    ids=["a comment", "a scan header cut after its length"],
)
def test_scans_are_counted_to_the_last_byte_of_a_jpeg_without_its_end_marker(
    ending: bytes, refused: bool
) -> None:
    """A JPEG at its scan budget, counted marker by marker (a comment holds FF DA), ends in
    `ending` where its end marker should be: counting stops at the last byte, and a scan
    begun there is one too many."""
    at, _ = bomb_at_its_budget()
    first_ac = at.index(FIRST_AC_SCAN)
    data = at[:first_ac] + jpeg_segment(0xFE, b"\xff\xda" * 200) + at[first_ac:-2] + ending
    if refused:
        with pytest.raises(ImageTooLarge, match="at most 1,600 scans"):
            decode_image(data, min_size=80)
    else:
        with contextlib.suppress(UnreadableImage):  # libjpeg may call the end missing
            decode_image(data, min_size=80)


def frame_header(
    width: int, height: int, sampling: Sequence[tuple[int, int]], *, progressive: bool = False
) -> bytes:
    """A start-of-frame segment of 8-bit samples: component i + 1 sampled (h, v)."""
    specs = b"".join(bytes([i + 1, h << 4 | v, 0]) for i, (h, v) in enumerate(sampling))
    return jpeg_segment(
        0xC2 if progressive else 0xC0,
        struct.pack(">BHHB", 8, height, width, len(sampling)) + specs,
    )


def scan_header(components: int) -> bytes:
    """A start-of-scan segment holding the first `components` components."""
    specs = b"".join(bytes([i + 1, 0]) for i in range(components))
    return jpeg_segment(0xDA, bytes([components]) + specs + b"\x00\x3f\x00")


CMYK_6320 = frame_header(6320, 6320, [(1, 1)] * 4)


@pytest.mark.parametrize(
    ("data", "refused"),
    [
        (
            SOI + CMYK_6320 + scan_header(1) + EOI,
            "the 6320x6320 JPEG image takes 307 MiB to decode (CMYK); at most 128 MiB are accepted",
        ),
        (SOI + CMYK_6320 + scan_header(4) + EOI, None),
        (SOI + frame_header(6000, 6000, [(1, 1)], progressive=True) + scan_header(1), None),
    ],
    ids=[
        "baseline CMYK, a first scan of one component",
        "baseline CMYK, one scan of all four",
        "progressive grey, 36 megapixels",
    ],
)
def test_a_jpegs_cost_is_read_from_its_headers(data: bytes, refused: str | None) -> None:
    """A JPEG whose first scan holds fewer components than its frame is decoded as a
    progressive one is, keeping every coefficient (2 bytes each, 64 a block): 6320x6320
    CMYK then takes 307 MiB, and is refused. Interleaved, or grey and progressive (a byte a
    pixel and two of coefficients), the same headers are within the budget, so decoding
    starts and finds no data."""
    if refused:
        with pytest.raises(ImageTooLarge, match=re.escape(refused)):
            decode_image(data, min_size=80)
    else:
        with pytest.raises(UnreadableImage, match="corrupt or truncated"):
            decode_image(data, min_size=80)


def test_a_frame_without_its_components_is_refused_as_corrupt() -> None:
    """Pillow opens a frame header that names one component and describes none; libjpeg
    refuses it. It counts no blocks, and its scans are not counted either."""
    frame = jpeg_segment(0xC2, struct.pack(">BHHB", 8, 64, 64, 1))
    with pytest.raises(UnreadableImage, match="corrupt or truncated"):
        decode_image(SOI + frame + scan_header(1) + bytes(10) + EOI)


@pytest.mark.parametrize(
    ("image", "options", "blocks"),
    [
        (Image.new("L", (100, 60)), {}, 13 * 8),
        (Image.new("RGB", (100, 60)), {"subsampling": 0}, 3 * 13 * 8),
        # 4:2:2: luma is whole 2x1 block groups (14 across), chroma at half the width.
        (Image.new("RGB", (100, 60)), {"subsampling": 1}, 14 * 8 + 2 * 7 * 8),
        # 4:2:0: luma in 2x2 groups, chroma at half each side.
        (Image.new("RGB", (100, 60)), {"subsampling": 2}, 14 * 8 + 2 * 7 * 4),
        (Image.new("RGB", (17, 9)), {"subsampling": 2}, 4 * 2 + 2 * 2 * 1),
        (Image.new("CMYK", (100, 60)), {}, 4 * 13 * 8),
        (Image.new("L", (40_000, 8)), {}, 5000),  # a side over 32,767: sizes are unsigned
    ],
    ids=["grey", "4:4:4", "4:2:2", "4:2:0", "4:2:0, 17x9", "CMYK", "grey, 40000 wide"],
)
def test_a_jpegs_blocks_are_counted_as_libjpeg_allocates_them(
    image: Image.Image, options: dict[str, int], blocks: int
) -> None:
    for progressive in (False, True):
        data = encode(image, "JPEG", progressive=progressive, **options)
        first_scan = data.index(b"\xff\xda")
        assert jpeg_frame(data) == JpegFrame(blocks, progressive, first_scan)


FRAME = frame_header(64, 64, [(1, 1)] * 3)
LONG_FRAME = jpeg_segment(0xC0, FRAME[4:] + b"\x04\x22\0\x05\x22\0")
"""`FRAME` with two more components described than its count of three."""


@pytest.mark.parametrize(
    ("data", "frame"),
    [
        (SOI + FRAME + scan_header(3), JpegFrame(192, False, 2 + len(FRAME))),
        (SOI + FRAME + scan_header(3)[:5], JpegFrame(192, False, 2 + len(FRAME))),
        (SOI + FRAME + scan_header(3)[:4], None),
        (SOI + FRAME, None),
        (SOI + FRAME + b"\0\0\0\0", None),
        (SOI + scan_header(3) + FRAME, None),
        (SOI + b"\xff\xff" + FRAME + scan_header(3), JpegFrame(192, False, 4 + len(FRAME))),
        (SOI + LONG_FRAME + scan_header(3), JpegFrame(192, False, 2 + len(LONG_FRAME))),
    ],
    ids=[
        "a frame, then a scan",
        "cut after the scan's component count",
        "cut before it",
        "no scan",
        "no marker after the frame",
        "a scan before the frame",
        "two fill bytes",
        "a frame header longer than its components",
    ],
)
def test_the_frame_is_read_from_the_segments_before_the_first_scan(
    data: bytes, frame: JpegFrame | None
) -> None:
    assert jpeg_frame(data) == frame


@pytest.mark.parametrize("name", ["coffee", "grass", "horse", "motorcycle"])
def test_ordinary_progressive_jpegs_are_still_captioned(
    app: ModuleType, photos: dict[str, Path], name: str
) -> None:
    photo = Image.open(photos[name])
    for image in (photo.convert("RGB"), photo.convert("L")):
        body = encode(image, "JPEG", progressive=True, quality=90)
        assert_caption(invoke(app, http_event(body=body)))


def test_the_repository_photos_are_still_captioned(
    app: ModuleType, photos: dict[str, Path]
) -> None:
    jpegs = [path for path in photos.values() if path.suffix == ".jpg"]
    assert len(jpegs) == 2
    for path in jpegs:
        assert_caption(invoke(app, http_event(body=path.read_bytes())))


def eps_with_a_long_header(size: int = 4_600_000) -> bytes:
    """An EPS file whose header comments go on for `size` bytes: Pillow's EPS opener reads
    them line by line before it knows the image's size."""
    return b"%!PS-Adobe-3.0 EPSF-3.0\n" + b"%%a\n" * (size // 4)


@pytest.mark.parametrize(
    ("make", "name"),
    [(lambda: ico_holding_png(13377), "ICO"), (eps_with_a_long_header, "EPS")],
    ids=["ICO holding a 13377x13377 PNG", "EPS with a 4.6 MB header"],
)
def test_refused_formats_are_named_from_their_first_bytes_in_milliseconds(
    app: ModuleType, make: Callable[[], bytes], name: str
) -> None:
    # The ICO peaked at 784 MB and 2.4 s of CPU, the EPS 1.5 s, only to answer 415.
    body = make()
    reply, cpu_s = cpu_seconds(lambda: invoke(app, http_event(body=body)))
    assert_error(reply, 415, "unsupported_image", f"{name} images are not supported")
    assert cpu_s < REFUSAL_CPU_S


# Saving every format Pillow can write includes the deprecated ones.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pillow_never_opens_an_upload_with_a_plugin_that_is_not_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every plugin Pillow can write, and a few byte strings that only look like images:
    Pillow is asked to open each with the accepted formats only."""
    asked: list[tuple[str, ...] | None] = []
    real_open = Image.open

    def recording_open(file: Any, mode: str = "r", formats: Any = None) -> Any:
        asked.append(None if formats is None else tuple(formats))
        return real_open(file, mode, formats)

    monkeypatch.setattr(Image, "open", recording_open)
    picture = Image.new("RGB", (16, 16), (200, 30, 30))
    Image.init()
    samples = [b"GIF89a", b"BM", b"RIFF\0\0\0\0WEBP", b"\xff\xd8\xff", b"II*\0"]
    for format in sorted(set(Image.SAVE) - {"MPO"}):
        try:
            samples.append(encode(picture, format))
        except (OSError, KeyError, ValueError):
            continue  # a plugin that needs a mode or a library that is missing here
    for data in samples:
        with contextlib.suppress(ImageRejected):
            decode_image(data, min_size=8)
    assert asked
    assert all(formats is not None and set(formats) <= set(FORMATS) for formats in asked), asked


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\0\0\2\0" + bytes(40), "CUR"),
        (b"8BPS\0\1" + bytes(40), "PSD"),
        (b"%PDF-1.7\n" + bytes(40), "PDF"),
        (b"\0\0\0\x0cjP  \r\n\x87\n" + bytes(40), "JPEG 2000"),
        (b"\0\0\0\x1cftypavif" + bytes(40), "AVIF"),
        (b"\0\0\x0a\x1cftypavif" + bytes(40), "AVIF"),  # a size with a newline byte
        (b"\0\0\0\x18ftypheic" + bytes(40), "HEIF"),
        (b"qoif" + bytes(40), "QOI"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_formats_pillow_may_not_even_read_are_named(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedImage, match=f"^{name} images are not supported"):
        decode_image(data)


@pytest.mark.parametrize(
    ("make", "size"),
    [
        (wide_png, "33554432x1"),
        (lambda: float_tiff(33_554_432, 1), "33554432x1"),
        (lambda: png(1, 40_000_000, 16, 0), "1x40000000"),
    ],
    ids=["33.5M x 1 RGBA PNG", "33.5M x 1 float TIFF", "1 x 40M 16-bit PNG"],
)
def test_images_with_a_side_over_the_cap_are_refused_in_milliseconds(
    app: ModuleType, make: Callable[[], bytes], size: str
) -> None:
    # They grew the handler by 639, 514 and 416 MB: whole-row buffers, a pointer per row.
    body = make()
    reply, cpu_s = cpu_seconds(lambda: invoke(app, http_event(body=body)))
    assert_error(reply, 413, "image_too_large", size, f"{MAX_SIDE:,} pixels")
    assert cpu_s < REFUSAL_CPU_S


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda: encode(Image.new("RGBA", (5792, 5792)), "WEBP", lossless=True),
            "5792x5792 WEBP image takes 512 MiB to decode (RGBA); at most 128 MiB are accepted",
        ),
        (
            lambda: encode(Image.new("CMYK", (6320, 6320)), "JPEG", progressive=True),
            "6320x6320 JPEG image takes 307 MiB",
        ),
        (lambda: float_tiff(5792, 5792), "5792x5792 TIFF image takes 256 MiB"),
    ],
    ids=["lossless WebP", "progressive CMYK JPEG", "one-strip float TIFF"],
)
def test_formats_are_counted_at_what_they_cost_to_decode(
    make: Callable[[], bytes], words: str
) -> None:
    """Counted at the image Pillow keeps alone, these grew the handler by 514 MB (libwebp's
    two canvases and a copy), 310 MB (libjpeg's coefficients) and 256 MB (libtiff's strip
    buffer): now refused."""
    data = make()
    started = time.thread_time()
    with pytest.raises(ImageTooLarge, match=re.escape(words)):
        decode_image(data, min_size=80)
    assert time.thread_time() - started < REFUSAL_CPU_S


@pytest.mark.parametrize(
    ("data", "cost"),
    [
        (png(2048, 2048, 1, 0), "PNG image takes 4 MiB to decode (1)"),
        (png(2048, 2048, 8, 0), "PNG image takes 4 MiB to decode (L)"),
        (png(2048, 2048, 8, 3), "PNG image takes 4 MiB to decode (P)"),
        (png(2048, 2048, 16, 0), "PNG image takes 8 MiB to decode (I;16)"),
        (png(2048, 2048, 8, 4), "PNG image takes 16 MiB to decode (LA)"),
        (png(2048, 2048, 8, 2), "PNG image takes 16 MiB to decode (RGB)"),
        (encode(Image.new("L", (2048, 2048)), "BMP"), "BMP image takes 4 MiB to decode (L)"),
        (rle_bmp(2048, 2048), "BMP image takes 12 MiB to decode (P)"),
    ],
    ids=["1-bit", "grey", "palette", "16-bit grey", "grey and alpha", "RGB", "BMP", "RLE BMP"],
)
def test_a_refusal_says_what_the_image_takes_to_decode(
    monkeypatch: pytest.MonkeyPatch, data: bytes, cost: str
) -> None:
    """A byte a pixel for 1-bit, grey and palette images, two for 16-bit grey, four for
    the rest (Pillow's own sizes); a run-length BMP two more (Pillow decodes it in Python,
    into a bytearray it then copies). Every image is over a budget of nothing."""
    monkeypatch.setattr(images, "MAX_DECODED_BYTES", 0)
    refusal = f"the 2048x2048 {cost}; at most 0 MiB are accepted"
    with pytest.raises(ImageTooLarge, match=re.escape(refusal)):
        decode_image(data)
