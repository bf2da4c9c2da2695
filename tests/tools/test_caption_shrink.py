"""`lukewarm caption` and images over the function's 4.48 MiB limit.

On AWS such a body never reaches the function (Lambda refuses invoke payloads over 6 MB,
and API Gateway answers its own bare error), so the client shrinks it first as the upload
page does, or, with `--no-shrink`, refuses it before sending and says why.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contract import MAX_IMAGE_BYTES
from lukewarm.__main__ import main
from lukewarm.caption import SHRINK_MAX_SIDE, fit_image
from tests.conftest import ROOT

ORIENTATION = 0x0112
ROTATED_90_CW = 6
"""EXIF orientation: the camera was turned; the stored pixels are landscape."""


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory) -> Path:
    """A 6 MiB-plus JPEG of noise, stored landscape 3000x2000, shown portrait by EXIF."""
    pixels = np.random.default_rng(7).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATED_90_CW
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    Image.fromarray(pixels).save(path, "JPEG", quality=95, exif=exif)
    assert path.stat().st_size > MAX_IMAGE_BYTES
    return path


@pytest.fixture(scope="module")
def big_transparent_png(tmp_path_factory) -> Path:
    """A 1600x1200 PNG over the limit whose left half is fully transparent."""
    pixels = np.random.default_rng(8).integers(0, 256, (1200, 1600, 4), dtype=np.uint8)
    pixels[:, :800, 3] = 0
    pixels[:, 800:, 3] = 255
    path = tmp_path_factory.mktemp("big") / "big.png"
    Image.fromarray(pixels, "RGBA").save(path)
    assert path.stat().st_size > MAX_IMAGE_BYTES
    return path


def test_an_image_over_the_limit_is_sent_shrunk_upright_as_jpeg(fake_api, big_photo, capsys):
    before = len(fake_api.received)

    code = main(["caption", fake_api.url("ok"), str(big_photo)])

    out, err = capsys.readouterr()
    assert code == 0, err
    (sent,) = fake_api.received[before:]
    assert sent["content_type"] == "image/jpeg"
    assert sent["bytes"] < MAX_IMAGE_BYTES
    assert out == f"{big_photo}: a picture of {sent['bytes']} bytes\n"
    size = f"{big_photo.stat().st_size:,}"
    assert err == (
        f"lukewarm caption: {big_photo}: {size} bytes, over the 4,700,000 (4.48 MiB) an image"
        f" may have; sent shrunk to 341x512 JPEG ({sent['bytes']:,} bytes)\n"
    )


def test_the_shrunk_image_is_the_upload_pages(big_photo):
    upload = fit_image(big_photo, big_photo.read_bytes(), "image/jpeg")
    shrunk = Image.open(io.BytesIO(upload.data))

    assert upload.content_type == "image/jpeg"
    assert shrunk.format == "JPEG"
    assert shrunk.size == (341, SHRINK_MAX_SIDE)  # upright: portrait, as EXIF says
    assert ORIENTATION not in shrunk.getexif()


def test_transparency_becomes_white_as_on_the_pages_canvas(big_transparent_png):
    upload = fit_image(big_transparent_png, big_transparent_png.read_bytes(), "image/png")
    shrunk = np.asarray(Image.open(io.BytesIO(upload.data)).convert("RGB"), dtype=int)

    assert shrunk.shape == (384, 512, 3)
    assert shrunk[:, :250].min() >= 250  # the transparent half is white
    assert shrunk[:, 262:].mean() < 200  # the opaque half is still the noise


def test_an_image_that_fits_is_sent_byte_for_byte(photos):
    data = photos["retina"].read_bytes()
    upload = fit_image(photos["retina"], data, "image/jpeg")
    assert (upload.data, upload.content_type, upload.note) == (data, "image/jpeg", "")


def test_with_no_shrink_a_big_image_is_refused_before_sending(fake_api, big_photo, photos, capsys):
    before = len(fake_api.received)

    code = main(
        ["caption", fake_api.url("ok"), str(big_photo), str(photos["coffee"]), "--no-shrink"]
    )

    out, err = capsys.readouterr()
    assert code == 1
    assert [sent["bytes"] for sent in fake_api.received[before:]] == [
        photos["coffee"].stat().st_size
    ]
    assert out.startswith(f"{photos['coffee']}: ")
    (line,) = err.splitlines()
    assert line.startswith(f"lukewarm caption: {big_photo}: ")
    assert "over the 4,700,000 (4.48 MiB) an image may have (Lambda's 6 MB invoke payload" in line
    assert line.endswith("; shrink it, or leave out --no-shrink")


def test_a_big_file_that_is_no_readable_image_is_refused_before_sending(fake_api, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES))
    before = len(fake_api.received)

    code = main(["caption", fake_api.url("ok"), str(broken)])

    assert code == 1
    assert fake_api.received[before:] == []
    err = capsys.readouterr().err
    assert err.startswith(f"lukewarm caption: {broken}: 4,700,008 bytes, over the 4,700,000")
    assert err.rstrip().endswith("and cannot be shrunk: not a readable image")


def test_the_limits_are_the_functions_written_once():
    # The client and the function read them from the contract; no copy may drift.
    sources = [*ROOT.joinpath("function").rglob("*.py"), *ROOT.joinpath("lukewarm").rglob("*.py")]
    assigned = {
        path.relative_to(ROOT).as_posix()
        for path in sources
        if re.search(r"^(MAX_IMAGE_BYTES|MAX_PIXELS|MAX_SIDE) = ", path.read_text(), re.MULTILINE)
    }
    assert assigned == {"function/contract/__init__.py"}


@pytest.fixture(scope="module")
def many_pixels(tmp_path_factory) -> Path:
    """A 48-megapixel PNG of a few kilobytes: small in bytes, over the function's pixels."""
    path = tmp_path_factory.mktemp("wide") / "many-pixels.png"
    Image.new("L", (8000, 6000), 200).save(path)
    assert path.stat().st_size < 1_000_000
    return path


def test_an_image_over_the_pixel_limit_is_sent_shrunk(fake_api, many_pixels, capsys):
    before = len(fake_api.received)

    code = main(["caption", fake_api.url("ok"), str(many_pixels)])

    err = capsys.readouterr().err
    assert code == 0, err
    (sent,) = fake_api.received[before:]
    assert sent["content_type"] == "image/jpeg"
    assert err.startswith(
        f"lukewarm caption: {many_pixels}: 8000x6000, 48,000,000 pixels, over the 40,000,000 "
        "pixels (and 65,535 a side) an image may have; sent shrunk to 512x384 JPEG"
    )


def test_with_no_shrink_an_image_over_the_pixel_limit_is_refused(fake_api, many_pixels, capsys):
    before = len(fake_api.received)

    code = main(["caption", fake_api.url("ok"), str(many_pixels), "--no-shrink"])

    assert code == 1
    assert fake_api.received[before:] == []
    assert capsys.readouterr().err.strip() == (
        f"lukewarm caption: {many_pixels}: 8000x6000, 48,000,000 pixels, over the 40,000,000 "
        "pixels (and 65,535 a side) an image may have; shrink it, or leave out --no-shrink"
    )


def test_the_local_stack_captions_a_big_photo_sent_shrunk(local_stack, big_photo, capsys):
    code = main(["caption", local_stack.url, str(big_photo)])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"{big_photo}: ")
    assert "sent shrunk to 341x512 JPEG" in err
