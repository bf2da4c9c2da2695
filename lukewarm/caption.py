"""`lukewarm caption URL IMAGE...`: caption images with a deployed or local lukewarm.

Prints `path: caption` per image (and its alternatives, indented, with their scores);
`--json` prints one JSON object per line instead. Every image is tried; the exit code is
1 if any of them failed, each failure reported on one line of stderr.

An image over the function's 4.48 MiB limit would never reach the function on AWS: Lambda
refuses invoke payloads over 6 MiB, so API Gateway would answer its own bare error. An
image of more pixels than the function decodes (a 50-megapixel PNG can be a few hundred
KB) would be refused with 413. Either is shrunk first, as the upload page does (upright,
at most 512 pixels a side, JPEG), and a note on stderr says so; with `--no-shrink` it is
refused before sending.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import MAX_IMAGE_BYTES, MAX_PIXELS, MAX_SIDE
from lukewarm import auth
from lukewarm.http import CaptionError, caption_url, post_image, read_image

LIMIT = f"{MAX_IMAGE_BYTES:,} (4.48 MiB)"
SHRINK_MAX_SIDE = 512
"""The upload page's size for a shrunk image (function/static/index.html)."""
SHRINK_JPEG_QUALITY = 90


@dataclass(frozen=True)
class Upload:
    """What is sent for one image file, and how it differs from the file, if it does."""

    data: bytes
    content_type: str
    note: str = ""


def fit_image(path: Path, data: bytes, content_type: str, *, shrink: bool = True) -> Upload:
    """The image as the API takes it: as it is when it fits, else shrunk (or refused).

    Raises `CaptionError` saying why when the image is too large and may not, or cannot,
    be shrunk.
    """
    # Imported here: `lukewarm caption --help` does not pay for Pillow.
    from PIL import Image, ImageOps, UnidentifiedImageError

    size = declared_size(data)
    if len(data) <= MAX_IMAGE_BYTES and (size is None or not over_pixel_limits(*size)):
        return Upload(data, content_type)
    if len(data) > MAX_IMAGE_BYTES:
        too_large = f"{path}: {len(data):,} bytes, over the {LIMIT} an image may have"
        why = " (Lambda's 6 MB invoke payload, once base64-encoded)"
    else:
        width, height = size or (0, 0)
        too_large = (
            f"{path}: {width}x{height}, {width * height:,} pixels, over the {MAX_PIXELS:,} "
            f"pixels (and {MAX_SIDE:,} a side) an image may have"
        )
        why = ""
    if not shrink:
        raise CaptionError(f"{too_large}{why}; shrink it, or leave out --no-shrink")

    try:
        with Image.open(io.BytesIO(data)) as image:
            # JPEG decodes straight at a reduced scale: a 50-megapixel photo stays cheap.
            image.draft("RGB", (SHRINK_MAX_SIDE, SHRINK_MAX_SIDE))
            upright = ImageOps.exif_transpose(image).convert("RGBA")
    except UnidentifiedImageError:
        raise CaptionError(f"{too_large}, and cannot be shrunk: not a readable image") from None
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        struct.error,
        Image.DecompressionBombError,
    ) as error:
        raise CaptionError(f"{too_large}, and cannot be shrunk: {error}") from None
    upright.thumbnail((SHRINK_MAX_SIDE, SHRINK_MAX_SIDE))
    # Transparent parts become white, as on the upload page's canvas.
    canvas = Image.new("RGB", upright.size, "white")
    canvas.paste(upright, mask=upright)
    shrunk = io.BytesIO()
    canvas.save(shrunk, "JPEG", quality=SHRINK_JPEG_QUALITY)
    width, height = canvas.size
    note = f"{too_large}; sent shrunk to {width}x{height} JPEG ({len(shrunk.getvalue()):,} bytes)"
    return Upload(shrunk.getvalue(), "image/jpeg", note)


def declared_size(data: bytes) -> tuple[int, int] | None:
    """The width and height an image's header declares (nothing is decoded), if Pillow
    can read it; the function judges an image it cannot."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, Image.DecompressionBombError):
        return None


def over_pixel_limits(width: int, height: int) -> bool:
    """More pixels, or a longer side, than the function decodes."""
    return width * height > MAX_PIXELS or max(width, height) > MAX_SIDE


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}-{high}")
        return value

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="base URL of the API (the stack's `url` output)")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    parser.add_argument(
        "--beam", type=_bounded_int(1, 10), help="beam width, 1-10 (server default 3)"
    )
    parser.add_argument(
        "--alternatives",
        type=_bounded_int(0, 5),
        help="also print this many runner-up captions, 0-5",
    )
    parser.add_argument("--json", action="store_true", help="print each whole response as JSON")
    parser.add_argument(
        "--no-shrink",
        dest="shrink",
        action="store_false",
        help="refuse images over 4.48 MiB instead of shrinking them as the upload page does",
    )
    parser.add_argument(
        "--timeout", default="60", metavar="S", help="seconds to wait per image (default 60)"
    )
    auth.configure(parser)


def parse_timeout(text: str) -> float | None:
    """Seconds from `--timeout`: a positive, finite number, else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 and math.isfinite(value) else None


def caption_lines(body: dict[str, Any]) -> tuple[str, list[tuple[str, float]]]:
    """The caption and its alternatives from a 200 answer, or `CaptionError` naming what
    is malformed: printing never fails on an answer of the wrong shape."""
    caption = body.get("caption")
    if not isinstance(caption, str):
        raise CaptionError(f"no caption text (caption is a {type(caption).__name__})")
    alternatives = body.get("alternatives") or []
    if not isinstance(alternatives, list):
        kind = type(alternatives).__name__
        raise CaptionError(f"malformed alternatives (a {kind}, not a list)")
    lines = []
    for alternative in alternatives:
        if not isinstance(alternative, dict):
            kind = type(alternative).__name__
            raise CaptionError(f"a malformed alternative (a {kind}, not an object)")
        text, score = alternative.get("caption", ""), alternative.get("score", 0.0)
        if not isinstance(text, str):
            raise CaptionError(
                f"a malformed alternative (caption is a {type(text).__name__}, not a string)"
            )
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise CaptionError(
                f"a malformed alternative (score is a {type(score).__name__}, not a number)"
            )
        lines.append((text, float(score)))
    return caption, lines


def run(args: argparse.Namespace) -> int:
    try:
        endpoint = caption_url(args.url)
        request_auth = auth.from_args(args, endpoint)
    except (CaptionError, auth.AuthError) as error:
        print(f"lukewarm caption: {error}", file=sys.stderr)
        return 2
    timeout = parse_timeout(args.timeout)
    if timeout is None:
        print(
            f"lukewarm caption: --timeout must be a positive number of seconds, "
            f"got {args.timeout!r}",
            file=sys.stderr,
        )
        return 2
    failures = 0
    for path in args.images:
        try:
            upload = fit_image(path, *read_image(path), shrink=args.shrink)
            if upload.note:
                print(f"lukewarm caption: {upload.note}", file=sys.stderr)
            response = post_image(
                endpoint,
                upload.data,
                upload.content_type,
                beam=args.beam,
                alternatives=args.alternatives,
                timeout=timeout,
                auth=request_auth,
            )
            if not args.json:
                try:
                    caption, alternatives = caption_lines(response.body)
                except CaptionError as malformed:
                    raise CaptionError(f"server answered 200 with {malformed}") from None
        except CaptionError as error:
            failures += 1
            message = str(error)
            if not message.startswith(str(path)):
                message = f"{path}: {message}"
            print(f"lukewarm caption: {message}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({"image": str(path), "response": response.body}), flush=True)
            continue
        print(f"{path}: {caption}", flush=True)
        for text, score in alternatives:
            print(f"    {score:7.3f}  {text}")
    return 1 if failures else 0
