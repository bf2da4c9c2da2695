"""Uploaded bytes to RGB: what a person sees in the photo is what the model gets."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image, ImageFile, ImageStat

from captioner import images
from captioner.images import (
    MAX_PIXELS,
    MAX_SIDE,
    ImageRejected,
    ImageTooLarge,
    UnreadableImage,
    UnsupportedImage,
    _tiff_chunk_bytes,
    decode_image,
    to_rgb,
)
from tests.function.handler_support import black_png, encode, with_orientation

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def close(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def top_red_bottom_blue(width: int = 120, height: int = 80) -> Image.Image:
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width, height // 2))
    return image


def test_exif_orientation_is_applied() -> None:
    # Orientation 6: the camera was turned; the image must be rotated 90° clockwise,
    # so the red top half ends up on the right.
    upright = decode_image(with_orientation(top_red_bottom_blue(120, 80), 6))
    assert upright.size == (80, 120)
    assert close(upright.getpixel((75, 60)), RED)
    assert close(upright.getpixel((5, 60)), BLUE)


def test_transparency_is_composited_on_white() -> None:
    # Transparent pixels keep whatever colour the encoder left (black here): a plain
    # conversion would show it; a person sees the page behind, white.
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (5, 0, 10, 10))
    image.putpixel((0, 9), (0, 0, 255, 128))
    rgb = decode_image(encode(image, "PNG"))
    assert rgb.mode == "RGB"
    assert rgb.getpixel((1, 1)) == WHITE
    assert rgb.getpixel((8, 1)) == RED
    assert close(rgb.getpixel((0, 9)), (127, 127, 255), 2)


def test_palette_transparency_is_composited_on_white() -> None:
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.info["transparency"] = 0
    palette.paste(0, (0, 0, 5, 10))
    rgb = decode_image(encode(palette, "PNG"))
    assert rgb.getpixel((1, 1)) == WHITE
    assert rgb.getpixel((8, 1)) == RED


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I"])
def test_every_mode_becomes_rgb_with_the_same_brightness(
    photos: dict[str, Path], mode: str
) -> None:
    grey = Image.open(photos["grass"])
    expected = ImageStat.Stat(grey).mean[0]
    source = grey.convert("RGB").convert(mode) if mode in ("CMYK", "YCbCr") else grey.convert(mode)
    rgb = to_rgb(source)
    assert rgb.mode == "RGB" and rgb.size == grey.size
    assert ImageStat.Stat(rgb).mean == pytest.approx([expected] * 3, abs=3)


@pytest.mark.parametrize(
    ("mode", "scale"),
    [("I;16", 257), ("I;16B", 257), ("I", 257), ("F", 1 / 255), ("F", 1.0)],
)
def test_wide_and_float_greys_are_scaled_not_clipped(
    photos: dict[str, Path], mode: str, scale: float
) -> None:
    grey = Image.open(photos["grass"])
    expected = ImageStat.Stat(grey).mean[0]
    source = grey.convert("F" if mode == "F" else "I")
    wide = source.point(lambda value: value * scale).convert(mode)
    rgb = to_rgb(wide)
    assert ImageStat.Stat(rgb).mean == pytest.approx([expected] * 3, abs=3)


def greys(mode: str, values: list[float]) -> list[int]:
    """The 8-bit greys `to_rgb` makes of a one-row image of `values` in `mode`."""
    image = Image.new("F", (len(values), 1))
    image.putdata(values)
    if mode != "F":
        image = image.convert("I") if mode == "I" else image.convert("I").convert(mode)
    rgb = to_rgb(image)
    return [rgb.getpixel((x, 0))[0] for x in range(len(values))]


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        # 16-bit images use their whole range, however dark the picture is.
        ("I;16", [0, 257, 514, 32768, 65535], [0, 1, 2, 127, 255]),
        ("I;16", [0, 100, 200], [0, 0, 0]),
        ("I;16B", [0, 32768, 65535], [0, 127, 255]),
        # 32-bit integers: the smallest usual range that holds them, 0-255 then 0-65535.
        ("I", [0, 1, 255], [0, 1, 255]),
        ("I", [0, 1], [0, 1]),  # integers are never read as 0-1
        ("I", [0, 256, 32768, 65535], [0, 0, 127, 255]),
        # Beyond every usual range, or below zero: their own minimum to maximum.
        ("I", [0, 35000, 70000], [0, 127, 255]),
        ("I", [-100, 0, 100], [0, 127, 255]),
        ("I", [-5, -5], [0, 0]),
        # Floats: 0-1 first (what image libraries write), then 0-255 and 0-65535.
        ("F", [0.0, 0.25, 1.0], [0, 63, 255]),
        ("F", [0.0, 2.0, 255.0], [0, 2, 255]),
        ("F", [0.0, 300.0, 65535.0], [0, 1, 255]),
    ],
)
def test_wide_and_float_greys_map_to_these_8_bit_greys(
    mode: str, values: list[float], expected: list[int]
) -> None:
    assert greys(mode, values) == expected


def test_16_bit_png_decodes_to_the_same_picture(photos: dict[str, Path]) -> None:
    grey = Image.open(photos["grass"])
    sixteen = grey.convert("I").point(lambda value: value * 257).convert("I;16")
    rgb = decode_image(encode(sixteen, "PNG"))
    assert ImageStat.Stat(rgb).mean[0] == pytest.approx(ImageStat.Stat(grey).mean[0], abs=1)


def test_cmyk_jpeg_keeps_its_colours() -> None:
    rgb = decode_image(encode(top_red_bottom_blue().convert("CMYK"), "JPEG", quality=95))
    assert close(rgb.getpixel((60, 10)), RED, 30)
    assert close(rgb.getpixel((60, 70)), BLUE, 30)


def test_an_animation_uses_its_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in (RED, BLUE, BLUE)]
    for format in ("GIF", "WEBP", "PNG"):
        animated = encode(frames[0], format, save_all=True, append_images=frames[1:])
        assert close(decode_image(animated).getpixel((20, 15)), RED), format


def test_large_jpegs_decode_at_reduced_scale_but_never_below_the_model_input(
    photos: dict[str, Path],
) -> None:
    data = photos["retina"].read_bytes()  # 1411x1411
    assert decode_image(data).size == (1411, 1411)
    reduced = decode_image(data, min_size=256)
    assert reduced.size == (353, 353)  # 1/4 scale: the smallest that is still >= 256
    assert decode_image(data, min_size=1000).size == (1411, 1411)
    full = ImageStat.Stat(decode_image(data).resize((64, 64))).mean
    assert ImageStat.Stat(reduced.resize((64, 64))).mean == pytest.approx(full, abs=2)


def test_a_decompression_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded a bomb")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    for width, height in ((20_000, 20_000), (8_000, 6_000)):
        assert width * height > MAX_PIXELS
        with pytest.raises(ImageTooLarge, match="pixels"):
            decode_image(black_png(width, height))


def test_an_image_of_exactly_the_pixel_limit_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    def decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoding")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoding)
    assert MAX_PIXELS == 8_000 * 5_000
    with pytest.raises(AssertionError, match="decoding"):
        decode_image(black_png(8_000, 5_000))


def test_an_image_with_a_side_of_exactly_the_cap_is_decoded() -> None:
    assert decode_image(black_png(MAX_SIDE, 1)).size == (MAX_SIDE, 1)


def test_an_image_of_exactly_the_decoding_budget_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")  # 4 bytes a pixel in Pillow
    monkeypatch.setattr(images, "MAX_DECODED_BYTES", 100 * 100 * 4)
    assert decode_image(data).size == (100, 100)
    monkeypatch.setattr(images, "MAX_DECODED_BYTES", 100 * 100 * 4 - 1)
    with pytest.raises(ImageTooLarge, match="the 100x100 PNG image takes"):
        decode_image(data)


@pytest.mark.parametrize(
    ("size", "shrunk"),
    [
        ((2000, 2000), (250, 250)),
        ((600, 300), (300, 300)),
        ((300, 600), (300, 300)),
        ((200, 100), (200, 100)),
    ],
)
def test_large_images_are_shrunk_by_whole_factors_strip_by_strip(
    size: tuple[int, int], shrunk: tuple[int, int]
) -> None:
    """Each side by the largest whole factor that keeps it at least three times the model's
    input (80 here, so 240), converted a strip at a time (2000x2000 takes five): the
    picture stays where it was."""
    decoded = decode_image(encode(top_red_bottom_blue(*size), "PNG"), min_size=80)
    assert decoded.size == shrunk
    width, height = shrunk
    assert close(decoded.getpixel((width // 2, height // 8)), RED)
    assert close(decoded.getpixel((width // 2, height - 1 - height // 8)), BLUE)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_a_wide_grey_image_is_shrunk_on_one_scale(mode: str) -> None:
    """Its strips are scaled into 8 bits over the whole image's range: the top strips,
    all 200 of 65,535, stay black beside bright ones, as they would unshrunk."""
    image = Image.new(mode, (2000, 2000), 60_000)
    image.paste(200, (0, 0, 2000, 1000))
    decoded = decode_image(encode(image, "TIFF"), min_size=80)
    assert decoded.size == (250, 250)
    assert close(decoded.getpixel((125, 10)), (0, 0, 0), tolerance=1)
    assert close(decoded.getpixel((125, 240)), (233, 233, 233), tolerance=1)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", UnreadableImage, "^the image is empty$"),
        (
            b"GIF89a",
            UnreadableImage,
            "^the data starts like a GIF image, but its header is damaged or truncated$",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            UnreadableImage,
            "^the data is not an image in any format lukewarm knows$",
        ),
        (
            encode(Image.new("RGB", (16, 16)), "ICO"),
            UnsupportedImage,
            "ICO images are not supported; send PNG, JPEG, GIF, WEBP, BMP or TIFF",
        ),
        (encode(Image.new("RGB", (16, 16)), "PCX"), UnsupportedImage, "PCX"),
    ],
)
def test_unreadable_and_unsupported_data(data: bytes, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        decode_image(data)


def test_a_colour_mode_pillow_cannot_convert_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedImage, match="images in colour mode La are not supported"):
        to_rgb(Image.new("La", (4, 4)))


@pytest.mark.parametrize("format", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_truncated_images_are_refused(photos: dict[str, Path], format: str) -> None:
    coffee = Image.open(photos["coffee"]).convert("RGB")
    data = encode(coffee, format)
    with pytest.raises(UnreadableImage, match="truncated"):
        decode_image(data[: len(data) // 2])


# Pillow warns about the damage it skips over (TIFF tags, EXIF): that is the point here.
@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")
def test_damaged_files_of_every_format_are_decoded_or_refused_never_crash(
    photos: dict[str, Path],
) -> None:
    """Seeded random damage (flipped bytes, cut files): anything but a clean refusal
    would be a 500 for the user."""
    small = Image.open(photos["coffee"]).convert("RGB").resize((60, 40))
    samples = [
        encode(small, format, **options)
        for format, options in [
            ("PNG", {}),
            ("JPEG", {"progressive": True}),
            ("GIF", {}),
            ("WEBP", {}),
            ("BMP", {}),
            ("TIFF", {"compression": "tiff_lzw"}),
            ("TIFF", {"compression": "jpeg"}),
        ]
    ]
    rng = random.Random(20261128)
    refused = 0
    for _ in range(300):
        damaged = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.3:
            damaged = damaged[: rng.randrange(len(damaged))]
        try:
            assert decode_image(bytes(damaged), min_size=32).mode == "RGB"
        except ImageRejected:
            refused += 1
    assert 0 < refused < 300


@pytest.mark.parametrize(
    ("tags", "size", "chunk_bytes"),
    [
        ({}, (100, 50), 100 * 50),  # no tags: 8 bits, one strip
        ({258: (8, 8, 8), 278: 16}, (100, 50), 300 * 16),  # RGB, 16 rows a strip
        ({258: (8, 8, 8), 284: 2, 278: 16}, (100, 50), 100 * 16),  # a plane a sample
        ({258: (8, 8, 8), 284: 1, 278: 16}, (100, 50), 300 * 16),  # planar 1: interleaved
        ({258: (16,), 322: 64, 323: 32}, (1000, 1000), 128 * 32),  # 64x32 tiles
        ({258: (16,), 322: 64}, (10, 10), 20 * 10),  # a tile width alone: strips
        ({258: 16}, (10, 10), 20 * 10),  # bits as one number
        ({278: 1000}, (10, 20), 10 * 20),  # a strip taller than the image: the image
        ({258: (1,)}, (10, 4), 2 * 4),  # 1 bit: a row of 10 pixels takes 2 bytes
        ({258: (16,), 323: 32}, (10, 10), 20 * 10),  # a tile height alone: strips
        ({258: (), 284: 2}, (10, 10), 10 * 10),  # planar with no bit depth: 8 bits
    ],
)
def test_a_tiffs_largest_strip_or_tile_is_what_libtiff_buffers(
    tags: dict[int, object], size: tuple[int, int], chunk_bytes: int
) -> None:
    image = SimpleNamespace(tag_v2=tags, size=size)
    assert _tiff_chunk_bytes(image) == chunk_bytes  # type: ignore[arg-type]
