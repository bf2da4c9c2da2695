"""Do the runtimes caption alike? `python -m toolkit.agreement --count 500 --seed 1000003`

Captions the held-out scenes `make evaluate` scores with torch, with the model's ONNX
export (fp32) and with an int8 export made for the occasion in a temporary copy of the
model directory. Prints, per runtime, exact match and BLEU-4 against the true captions
(as `toolkit.evaluate` scores them) and how often its top caption is torch's. With
`--images DIR` it captions those images instead (no true captions: agreement only).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from sacrebleu.metrics import BLEU

from captioner import configure_threads, load_captioner
from toolkit.alike import compare_captions
from toolkit.export import IMAGE_SUFFIXES, export_model
from toolkit.scenes import make_scene

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "function" / "model"


def caption_all(
    model_dir: Path, runtime: str, images: list[Image.Image], *, beam: int, batch_size: int = 50
) -> list[str]:
    captioner = load_captioner(model_dir, runtime)
    captions: list[str] = []
    for first in range(0, len(images), batch_size):
        batch = images[first : first + batch_size]
        captions += [c.caption for c in captioner.caption_batch(batch, beam=beam)]
    return captions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.agreement", description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="how many scenes (default 500)")
    parser.add_argument("--seed", type=int, default=1000003, help="which held-out scenes")
    parser.add_argument("--images", type=Path, metavar="DIR", help="caption these images instead")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--beam", type=int, default=3, help="beam width (default 3)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 export")
    args = parser.parse_args(argv)
    configure_threads(runtime="torch")
    configure_threads(runtime="onnx")
    truths: list[str] | None = None
    if args.images:
        paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        images = [Image.open(path).convert("RGB") for path in paths]
    else:
        scenes = [make_scene("evaluate", args.seed, i) for i in range(args.count)]
        images, truths = [s.image for s in scenes], [s.caption for s in scenes]
    results = {
        runtime: caption_all(args.model_dir, runtime, images, beam=args.beam)
        for runtime in ("torch", "onnx")
    }
    if not args.no_int8:
        with tempfile.TemporaryDirectory() as scratch:
            int8_dir = Path(scratch) / "model"
            shutil.copytree(args.model_dir, int8_dir)
            report = export_model(int8_dir, quantize="int8")
            print("\n".join(report.lines()))
            results["onnx-int8"] = caption_all(int8_dir, "onnx", images, beam=args.beam)
    for runtime, captions in results.items():
        same = compare_captions(results["torch"], captions).identical
        line = f"{runtime:9} same_as_torch={same}/{len(images)} ({same / len(images):.1%})"
        if truths is not None:
            exact = sum(c == t for c, t in zip(captions, truths, strict=True)) / len(truths)
            bleu = BLEU(max_ngram_order=4).corpus_score(captions, [truths]).score / 100
            line += f" exact_match={exact:.4f} bleu4={bleu:.4f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
