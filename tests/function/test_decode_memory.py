"""The worst images the function accepts fit the default memory size, with headroom.

Each image is the largest of its kind that passes the limits (the pixel count, or the
decoded bytes); a fresh process imports the handler as Lambda does, captions each one
through a real event, and reports its peak RSS (VmHWM) after init and after each.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from bench.hostile import float_tiff, png, rle_bmp
from captioner.images import (
    MAX_DECODED_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    ImageTooLarge,
    decode_image,
)
from infra.settings import load_settings
from tests.conftest import FUNCTION_DIR, ROOT
from tests.function.handler_support import encode

HEADROOM = 0.8
"""The share of the function's memory the worst request may reach at its peak."""

SLACK_MB = 64
"""What a request may add to the peak beyond the decoded image itself (the upload, its
base64 and the strips being converted)."""

PROBE = """
import base64, ctypes, gc, json, sys
from pathlib import Path
from typing import Any
sys.path.insert(0, {root!r})
from tests.function.handler_support import LambdaContext, http_event

def status_mb(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024

import app
report = {{"init": status_mb("VmHWM:")}}
libc = ctypes.CDLL("libc.so.6")
for path in sys.argv[1:]:
    event = http_event(body=Path(path).read_bytes(), content_type="application/octet-stream")
    gc.collect()
    libc.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from here
    before = status_mb("VmRSS:")
    response = app.handler(event, LambdaContext())
    peak = status_mb("VmHWM:")
    report[Path(path).stem] = {{
        "status": response["statusCode"], "growth": peak - before, "peak": peak
    }}
    del event, response
print(json.dumps(report))
"""


def jpeg(mode: str, side: int, **options: Any) -> bytes:
    return encode(Image.new(mode, (side, side)), "JPEG", **options)


def progressive_jpeg_bytes(side: int, blocks: int, output_bytes_per_pixel: int) -> int:
    """What a progressive JPEG is counted at: every block's coefficients (64 of 2 bytes),
    and the output at an eighth of the scale (what the model's input size allows here)."""
    return blocks * 128 + (side // 8) ** 2 * output_bytes_per_pixel


def strip_bytes(tiff: bytes) -> int:
    """The largest strip of a TIFF that Pillow wrote, decompressed."""
    with Image.open(io.BytesIO(tiff)) as image:
        return image.width * 4 * min(image.tag_v2[278], image.height)


def worst_images() -> dict[str, tuple[bytes, int]]:
    """The largest accepted image of each memory class, by file name, with the bytes it
    is counted at when decoded: each format at its caps."""
    webp_side = math.isqrt(MAX_DECODED_BYTES // 16)  # 16 bytes a pixel, see below
    cmyk_side, photo_side = 4080, 6320  # the byte cap; the pixel cap (39.9 megapixels)
    float_side = 5760
    colour_pixels = MAX_DECODED_BYTES // 4  # 16-bit RGBA decodes to 4 bytes a pixel
    colour_width = 8192
    grey_width, grey_height = 8000, MAX_PIXELS // 8000
    transparent_palette = [(b"PLTE", bytes(6)), (b"tRNS", b"\0")]
    long_side, short_side = MAX_SIDE, colour_pixels // MAX_SIDE
    tiff_height = colour_pixels // colour_width - 8  # room for the strip buffer
    rgba_tiff = encode(
        Image.new("RGBA", (colour_width, tiff_height)), "TIFF", compression="tiff_adobe_deflate"
    )
    return {
        "rgba16.png": (
            png(colour_width, colour_pixels // colour_width, 16, 6),
            colour_pixels * 4,
        ),
        "palette.png": (
            png(grey_width, grey_height, 8, 3, transparent_palette),
            grey_width * grey_height,
        ),
        "grey16.png": (png(grey_width, grey_height, 16, 0), grey_width * grey_height * 2),
        "wide.png": (png(long_side, short_side, 8, 6), long_side * short_side * 4),
        "tall.png": (png(short_side, long_side, 8, 6), long_side * short_side * 4),
        # libwebp's two canvases, Pillow's bytes copy and its image: 4 bytes a pixel each.
        "lossless.webp": (
            encode(Image.new("RGBA", (webp_side, webp_side)), "WEBP", lossless=True),
            webp_side**2 * 16,
        ),
        "lossy.webp": (
            encode(Image.new("RGB", (webp_side, webp_side), (90, 120, 200)), "WEBP"),
            webp_side**2 * 16,
        ),
        "cmyk-progressive.jpg": (
            jpeg("CMYK", cmyk_side, progressive=True),
            progressive_jpeg_bytes(cmyk_side, 4 * (cmyk_side // 8) ** 2, 4),
        ),
        "colour-progressive.jpg": (  # 4:2:0: two chroma blocks for four of luma
            jpeg("RGB", photo_side, progressive=True),
            progressive_jpeg_bytes(photo_side, (photo_side // 8) ** 2 * 3 // 2, 4),
        ),
        "grey-progressive.jpg": (
            jpeg("L", photo_side, progressive=True),
            progressive_jpeg_bytes(photo_side, (photo_side // 8) ** 2, 1),
        ),
        "colour-baseline.jpg": (jpeg("RGB", photo_side), (photo_side // 8) ** 2 * 4),
        "float.tif": (  # strips of 64 rows, the largest counted beside the image
            float_tiff(float_side, float_side, 64),
            float_side**2 * 4 + 64 * float_side * 4,
        ),
        "float-one-strip.tif": (  # libtiff's buffer for its one strip is the image again
            float_tiff(4096, 4096),
            4096**2 * 4 * 2,
        ),
        "rgba.tif": (rgba_tiff, colour_width * tiff_height * 4 + strip_bytes(rgba_tiff)),
        "palette.gif": (
            encode(Image.new("P", (grey_width, grey_height)), "GIF"),
            grey_width * grey_height,
        ),
        "rle.bmp": (rle_bmp(grey_width, grey_height), grey_width * grey_height * 3),
    }


def test_the_worst_accepted_images_fit_the_default_memory(tmp_path: Path) -> None:
    """Each adds no more than what it is counted at, plus slack, to the peak (restarted
    before each), and the worst peak stays within the headroom."""
    memory_mb = load_settings().memory_size
    images = worst_images()
    paths = []
    for name, (data, _) in images.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    run = subprocess.run(
        [sys.executable, "-c", PROBE.format(root=str(ROOT)), *paths],
        cwd=FUNCTION_DIR,
        env={"PATH": "/usr/bin:/bin", "LUKEWARM_THREADS": "1", "POWERTOOLS_METRICS_DISABLED": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    report = json.loads(run.stdout.splitlines()[-1])
    for name, (_, decoded_bytes) in images.items():
        result = report[Path(name).stem]
        assert result["status"] == 200, (name, run.stdout[-2000:])
        assert result["growth"] <= decoded_bytes / 2**20 + SLACK_MB, (name, report)
        assert decoded_bytes <= MAX_DECODED_BYTES, name
    worst = max(result["peak"] for result in report.values() if isinstance(result, dict))
    assert worst <= HEADROOM * memory_mb, (
        f"the worst accepted image peaks at {worst:.0f} MB; the default memorySize is "
        f"{memory_mb} MB ({report})"
    )


@pytest.mark.parametrize(
    ("width", "height", "bit_depth", "colour_type", "words"),
    [(8192, 4097, 16, 6, "128 MiB"), (4000, MAX_PIXELS // 4000 + 1, 8, 0, "40,000,000 pixels")],
    ids=["colour over the byte limit", "grey over the pixel limit"],
)
def test_an_image_over_either_limit_is_refused_before_decoding(
    width: int, height: int, bit_depth: int, colour_type: int, words: str
) -> None:
    # One row of pixels: decoding would fail as truncated, so the refusal came first.
    with pytest.raises(ImageTooLarge, match=words):
        decode_image(png(width, height, bit_depth, colour_type, rows=1), min_size=256)


@pytest.mark.parametrize("mode", ["RGBA", "P", "I;16", "F", "1"])
def test_shrinking_strip_by_strip_shows_the_same_picture(mode: str) -> None:
    """Transparency on white, palettes, wide and float greys: the shrunk decode is the
    full decode, box-averaged."""
    picture = Image.new("RGBA", (1200, 900), (0, 0, 0, 0))
    picture.paste((220, 30, 30, 255), (0, 0, 600, 450))
    picture.paste((30, 30, 220, 255), (600, 450, 1200, 900))
    if mode == "P":
        source = picture.convert("RGB").quantize(3)
        source.info["transparency"] = source.getpixel((1100, 100))
    elif mode in ("I;16", "F"):
        grey = picture.convert("L").convert("I").point(lambda value: value * 200)
        source = grey.convert("F") if mode == "F" else grey.convert("I;16")
    else:
        source = picture.convert(mode)
    data = encode(source, "TIFF")
    full = decode_image(data)
    shrunk = decode_image(data, min_size=64)  # factors 6 and 4: the strip path
    assert shrunk.size == (200, 225)
    expected = full.resize(shrunk.size, Image.Resampling.BOX)
    difference = ImageStat.Stat(ImageChops.difference(shrunk, expected)).mean
    assert max(difference) < 4, difference


def test_a_shrunk_image_is_still_turned_upright() -> None:
    picture = Image.new("RGB", (1200, 900), (30, 30, 220))
    picture.paste((220, 30, 30), (0, 0, 1200, 450))  # red on top, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise: red on the right
    shrunk = decode_image(encode(picture, "PNG", exif=exif.tobytes()), min_size=64)
    assert shrunk.size == (225, 200)
    assert shrunk.getpixel((200, 100))[0] > 200  # red, right
    assert shrunk.getpixel((20, 100))[2] > 200  # blue, left
