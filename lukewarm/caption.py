"""`lukewarm caption URL IMAGE...`: caption images with a deployed or local lukewarm.

Prints `path: caption` per image (and its alternatives, indented, with their scores);
`--json` prints one JSON object per line instead. Every image is tried; the exit code is
1 if any of them failed, each failure reported on one line of stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from lukewarm.http import CaptionError, caption_url, post_image, read_image


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
        "--timeout", type=float, default=60.0, help="seconds to wait per image (default 60)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        endpoint = caption_url(args.url)
    except CaptionError as error:
        print(f"lukewarm caption: {error}", file=sys.stderr)
        return 2
    failures = 0
    for path in args.images:
        try:
            data, content_type = read_image(path)
            response = post_image(
                endpoint,
                data,
                content_type,
                beam=args.beam,
                alternatives=args.alternatives,
                timeout=args.timeout,
            )
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
        print(f"{path}: {response.body.get('caption', '')}", flush=True)
        for alternative in response.body.get("alternatives") or []:
            print(f"    {alternative.get('score', 0.0):7.3f}  {alternative.get('caption', '')}")
    return 1 if failures else 0
