"""What the third red-team run broke in image decoding, each case kept as a regression test.

Images small on the wire that cost seconds of CPU or hundreds of MB to decode are
refused from their headers, in milliseconds of CPU, while ordinary images of the same
kinds are still captioned.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from bench.hostile import float_tiff, ico_holding_png, png, scan_bomb_jpeg, wide_png
from captioner.images import (
    FORMATS,
    MAX_SCAN_BLOCKS,
    MAX_SIDE,
    ImageRejected,
    ImageTooLarge,
    UnsupportedImage,
    decode_image,
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
            "5792x5792 WEBP image takes 512 MiB",
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
    with pytest.raises(ImageTooLarge, match=words):
        decode_image(data, min_size=80)
    assert time.thread_time() - started < REFUSAL_CPU_S
