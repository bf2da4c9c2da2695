"""What `bench.hf` runs in each fresh process, inside each side's virtualenv.

Run by path (`python bench/hf_child.py MODE ...`), so `child` (its neighbour) imports
from the script's directory. `pipeline`: transformers' `pipeline("image-to-text")` on
CPU-only torch, as a user following the model card would serve it. `lukewarm`: the
function's `captioner` on ONNX Runtime, with `function/` on PYTHONPATH as the image has
it. Both count the decoder steps of each caption and time the image encoder, so that the
bench can check they did the same work. Prints one JSON object on stdout.
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

from child import mark_imported, measure  # type: ignore[import-not-found]


class _Counter:
    """Counts the calls of an ONNX Runtime session's `run` (the decoder steps)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.calls = 0

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.session.run(*args, **kwargs)


def _pipeline(
    model_dir: str, family: str, beam: int, steps: int
) -> tuple[tuple[float, float], Any, Any]:
    import torch
    from PIL import Image
    from transformers import pipeline

    torch.set_num_threads(1)
    imported = mark_imported()
    # transformers 4's task (the reference runs 4.57); transformers 5's types no longer list it.
    make: Any = pipeline
    captioner = make("image-to-text", model=model_dir, device="cpu")
    model = captioner.model
    encoder = model.vision_model if family == "blip" else model.encoder
    decoder = model.text_decoder if family == "blip" else model.decoder
    marks: list[float] = []
    calls = [0]
    encoder.register_forward_pre_hook(lambda *_: marks.append(time.perf_counter()))
    encoder.register_forward_hook(lambda *_: marks.append(time.perf_counter()))
    decoder.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    # End of sentence is suppressed until the last step: every caption is `steps` long.
    settings = {"num_beams": beam, "max_new_tokens": steps, "min_new_tokens": steps}

    def caption(data: bytes) -> tuple[str, float, int]:
        marks.clear()
        calls[0] = 0
        image = Image.open(io.BytesIO(data)).convert("RGB")
        with torch.inference_mode():
            text = captioner(image, generate_kwargs=settings)[0]["generated_text"]
        return str(text), (marks[1] - marks[0]) * 1000, calls[0]

    return imported, caption, "transformers pipeline"


def _lukewarm(model_dir: str, beam: int) -> tuple[tuple[float, float], Any, Any]:
    from captioner import configure_threads, load_captioner
    from captioner.images import decode_image

    importlib.import_module("onnxruntime")
    importlib.import_module("tokenizers")
    configure_threads(1, "onnx")
    imported = mark_imported()
    captioner: Any = load_captioner(model_dir, "onnx")
    counter = _Counter(captioner.step)
    captioner.step = counter
    size = captioner.config.preprocess.image_size

    def caption(data: bytes) -> tuple[str, float, int]:
        counter.calls = 0
        result = captioner.caption(decode_image(data, min_size=size), beam=beam)
        return result.caption, result.timing_ms["encode"], counter.calls

    return imported, caption, captioner.info["runtime"]


def timing(args: argparse.Namespace) -> dict[str, Any]:
    """Import, load, first caption, then warm captions of the same image."""
    started = time.perf_counter()
    data = Path(args.image).read_bytes()
    if args.mode == "pipeline":
        loaded = _pipeline(args.model, args.family, args.beam, args.steps)
    else:
        loaded = _lukewarm(args.model, args.beam)
    transformers = getattr(sys.modules.get("transformers"), "__version__", None)
    return {**measure(started, loaded, data, args.warm), "transformers": transformers}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("pipeline", "lukewarm"))
    parser.add_argument("model")
    parser.add_argument("image")
    parser.add_argument("--family", required=True)
    parser.add_argument("--beam", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--warm", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(timing(args)))


if __name__ == "__main__":
    main()
