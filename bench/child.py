"""What `bench.reference` runs in each fresh process, inside each runtime's virtualenv.

Run by path (`python bench/child.py MODE ...`) with only that runtime on PYTHONPATH:
`function/` for lukewarm (what the image holds), the repository for the original
design. Prints one JSON object on stdout. Only the standard library is imported before
the clock starts mattering, and each mode imports only its own runtime (lukewarm's
`--runtime onnx` never imports torch, which its virtualenv does not even hold).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any


def _caption_original(
    model_file: str, beam: int, steps: int
) -> tuple[tuple[float, float], Any, str]:
    import joblib
    import torch
    from PIL import Image

    from bench.original.caption import caption_image_beam_search, preprocess, words

    torch.set_num_threads(1)
    imported = mark_imported()
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

    return imported, caption, "original"


def _caption_lukewarm(
    model_dir: str, beam: int, steps: int, runtime: str
) -> tuple[tuple[float, float], Any, str]:
    from captioner import configure_threads, load_captioner
    from captioner.images import decode_image

    # captioner imports its backend when it loads a model; import it first, so that the
    # runtime's own cost is counted as import, not as model load.
    importlib.import_module("torch" if runtime == "torch" else "onnxruntime")
    configure_threads(1, runtime)
    imported = mark_imported()
    captioner = load_captioner(model_dir, runtime)
    if captioner.max_steps != steps:
        raise SystemExit(f"{model_dir} decodes up to {captioner.max_steps} steps")
    size = captioner.config.preprocess.image_size

    def caption(data: bytes) -> tuple[str, float]:
        result = captioner.caption(decode_image(data, min_size=size), beam=beam)
        return result.caption, result.timing_ms["encode"]

    return imported, caption, captioner.info["runtime"]


def mark_imported() -> tuple[float, float]:
    """When the runtime's imports were done, and how much was resident then: what the
    runtime itself costs, before any weights."""
    return time.perf_counter(), _status_mb("VmRSS")


def timing(args: argparse.Namespace) -> dict[str, Any]:
    """Import, load, first caption, then warm captions of the same image."""
    started = time.perf_counter()
    data = Path(args.image).read_bytes()
    if args.mode == "original":
        loaded = _caption_original(args.model, args.beam, args.steps)
    else:
        loaded = _caption_lukewarm(args.model, args.beam, args.steps, args.runtime)
    figures = measure(started, loaded, data, args.warm)
    return {**figures, "dynamo_imported": "torch._dynamo" in sys.modules}


def measure(
    started: float, loaded: tuple[tuple[float, float], Any, str], data: bytes, warm: int
) -> dict[str, Any]:
    """Time a captioner loaded just now, in a process that began at `started`: its first
    caption of `data`, then `warm` more. `loaded` is what a loader returns: when the
    runtime's imports were done and the RSS then (`mark_imported`), `caption(data)`, and the
    runtime's name. `caption` returns the text, the image encoder's milliseconds and, where
    the child counts them, the decoder steps it ran (then listed as `steps`, first caption's
    first)."""
    (imported, import_rss), caption, runtime = loaded
    loaded_at = time.perf_counter()
    first = caption(data)
    first_at = time.time()
    first_cpu = time.process_time()
    first_done = time.perf_counter()
    warm_ms, warm_cpu, answers = [], [], []
    for _ in range(warm):
        before, before_cpu = time.perf_counter(), time.process_time()
        answers.append(caption(data))
        warm_ms.append((time.perf_counter() - before) * 1000)
        warm_cpu.append((time.process_time() - before_cpu) * 1000)
    figures = {
        "first_caption_at": first_at,
        "import_s": imported - started,
        "load_s": loaded_at - imported,
        "first_caption_s": first_done - loaded_at,
        "cold_cpu_s": first_cpu,
        "warm_ms": warm_ms,
        "warm_cpu_ms": warm_cpu,
        "encode_ms": [answer[1] for answer in answers],
        "caption": first[0],
        "runtime": runtime,
        "max_rss_mb": _status_mb("VmHWM"),
        "import_rss_mb": import_rss,
        **runtime_versions(),
    }
    if len(first) > 2:
        figures["steps"] = [answer[2] for answer in (first, *answers)]
    return figures


def runtime_versions() -> dict[str, str | None]:
    """The torch and ONNX Runtime this process imported (None for one it never did)."""
    return {
        name: getattr(sys.modules.get(name), "__version__", None)
        for name in ("torch", "onnxruntime")
    }


def _status_mb(field: str) -> float:
    """A memory figure of this process: `VmHWM` (peak resident) or `VmRSS` (resident now).
    Not `getrusage`: its `ru_maxrss` survives fork and exec, so it would report the
    parent's peak if that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def captions(args: argparse.Namespace) -> dict[str, Any]:
    """The model's top caption of each image, by file name, and what it ran on."""
    from PIL import Image

    from captioner import configure_threads, load_captioner

    configure_threads(1, args.runtime)
    captioner = load_captioner(args.model, args.runtime)
    found = {}
    for path in args.images:
        image = Image.open(path).convert("RGB")
        found[Path(path).name] = captioner.caption(image, beam=args.beam).caption
    return {"captions": found, "runtime": captioner.info["runtime"], **runtime_versions()}


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
        if mode == "lukewarm":
            run.add_argument("--runtime", required=True)
        run.set_defaults(func=timing)
    caption = modes.add_parser("captions")
    caption.add_argument("model")
    caption.add_argument("images", nargs="+")
    caption.add_argument("--runtime", required=True)
    caption.add_argument("--beam", type=int, required=True)
    caption.set_defaults(func=captions)
    size = modes.add_parser("sizes")
    size.add_argument("dists", nargs="+")
    size.set_defaults(func=sizes)
    args = parser.parse_args()
    print(json.dumps(args.func(args)))


if __name__ == "__main__":
    main()
