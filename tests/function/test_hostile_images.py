"""What the third red-team run broke in image decoding, each case kept as a regression test.

Images small on the wire that cost seconds of CPU or hundreds of MB to decode are
refused from their headers, in milliseconds of CPU, while ordinary images of the same
kinds are still captioned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from bench.hostile import scan_bomb_jpeg
from captioner.images import MAX_SCAN_BLOCKS, ImageTooLarge, decode_image
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
