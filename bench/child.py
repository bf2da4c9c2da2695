"""What `bench.reference` runs in each fresh process, inside either runtime's virtualenv.

Run by path (`python bench/child.py MODE ...`) with only that runtime on PYTHONPATH:
`function/` for lukewarm (what the image holds), the repository for the original
design. Prints one JSON object on stdout. Only the standard library is imported before
the clock starts mattering, and each mode imports only its own runtime.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any


def _caption_original(model_file: str, beam: int, steps: int) -> tuple[tuple[float, float], Any]:
    import joblib
    import torch
    from PIL import Image

    from bench.original.caption import caption_image_beam_search, preprocess, words

    torch.set_num_threads(1)
    imported = _imported()
    model = joblib.load(model_file)
    model["encoder"].eval()
    model["decoder"].eval()

    def caption(data: bytes) -> tuple[str, float]:
        image = preprocess(Image.open(io.BytesIO(data)))
        encoder = model["encoder"]
        encode_ms = []
        timed = (
            encoder.register_forward_pre_hook(lambda *_: encode_ms.append(time.perf_counter())),
            encoder.register_forward_hook(lambda *_: encode_ms.append(time.perf_counter())),
        )
        seq, _ = caption_image_beam_search(
            encoder, model["decoder"], image, model["word_map"], beam, steps
        )
        for hook in timed:
            hook.remove()
        return words(seq, model["word_map"]), (encode_ms[1] - encode_ms[0]) * 1000

    return imported, caption


def _caption_lukewarm(model_dir: str, beam: int, steps: int) -> tuple[tuple[float, float], Any]:
    from captioner import Captioner, configure_threads
    from captioner.images import decode_image

    configure_threads(1)
    imported = _imported()
    captioner = Captioner.load(model_dir)
    if captioner.config.max_length + 1 != steps:
        raise SystemExit(f"{model_dir} decodes up to {captioner.config.max_length + 1} steps")
    size = captioner.config.preprocess.image_size

    def caption(data: bytes) -> tuple[str, float]:
        result = captioner.caption(decode_image(data, min_size=size), beam=beam)
        return result.caption, result.timing_ms["encode"]

    return imported, caption


def _imported() -> tuple[float, float]:
    """When the runtime's imports were done, and how much was resident then: what the
    runtime itself costs, before any weights."""
    return time.perf_counter(), _status_mb("VmRSS")


def timing(args: argparse.Namespace) -> dict[str, Any]:
    """Import, load, first caption, then warm captions of the same image."""
    started = time.perf_counter()
    data = Path(args.image).read_bytes()
    load = _caption_original if args.mode == "original" else _caption_lukewarm
    (imported, import_rss), caption = load(args.model, args.beam, args.steps)
    loaded = time.perf_counter()
    text, _ = caption(data)
    first_at = time.time()
    first_cpu = time.process_time()
    first = time.perf_counter()
    warm, warm_cpu, encode = [], [], []
    for _ in range(args.warm):
        before, before_cpu = time.perf_counter(), time.process_time()
        encode.append(caption(data)[1])
        warm.append((time.perf_counter() - before) * 1000)
        warm_cpu.append((time.process_time() - before_cpu) * 1000)
    return {
        "first_caption_at": first_at,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "first_caption_s": first - loaded,
        "cold_cpu_s": first_cpu,
        "warm_ms": warm,
        "warm_cpu_ms": warm_cpu,
        "encode_ms": encode,
        "caption": text,
        "max_rss_mb": _status_mb("VmHWM"),
        "import_rss_mb": import_rss,
        "dynamo_imported": "torch._dynamo" in sys.modules,
        "torch": sys.modules["torch"].__version__,
    }


def _status_mb(field: str) -> float:
    """A memory figure of this process: `VmHWM` (peak resident) or `VmRSS` (resident now).
    Not `getrusage`: its `ru_maxrss` survives fork and exec, so it would report the
    parent's peak if that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def agreement(args: argparse.Namespace) -> dict[str, Any]:
    """Top captions of the exact and the quantized model on each image."""
    from PIL import Image

    from captioner import Captioner, configure_threads

    configure_threads(1)
    exact, quantized = Captioner.load(args.model), Captioner.load(args.quantized)
    pairs = {}
    for path in args.images:
        image = Image.open(path).convert("RGB")
        pairs[Path(path).name] = (
            exact.caption(image, beam=args.beam).caption,
            quantized.caption(image, beam=args.beam).caption,
        )
    return {"captions": pairs}


def sizes(args: argparse.Namespace) -> dict[str, Any]:
    """Bytes installed by each distribution that `args.dists` needs, dependencies included."""
    import re
    from importlib import metadata

    found: dict[str, int] = {}
    todo = list(args.dists)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        files = [Path(str(dist.locate_file(f))) for f in dist.files or []]
        found[name] = sum(f.stat().st_size for f in files if f.is_file())
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0))  # type: ignore[union-attr]
    return {"dists": found}


def main() -> None:
    parser = argparse.ArgumentParser()
    modes = parser.add_subparsers(dest="mode", required=True)
    for mode in ("original", "lukewarm"):
        run = modes.add_parser(mode)
        run.add_argument("model")
        run.add_argument("image")
        run.add_argument("--beam", type=int, required=True)
        run.add_argument("--steps", type=int, required=True)
        run.add_argument("--warm", type=int, required=True)
        run.set_defaults(func=timing)
    agree = modes.add_parser("agreement")
    agree.add_argument("model")
    agree.add_argument("quantized")
    agree.add_argument("images", nargs="+")
    agree.add_argument("--beam", type=int, required=True)
    agree.set_defaults(func=agreement)
    size = modes.add_parser("sizes")
    size.add_argument("dists", nargs="+")
    size.set_defaults(func=sizes)
    args = parser.parse_args()
    print(json.dumps(args.func(args)))


if __name__ == "__main__":
    main()
