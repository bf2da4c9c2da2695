"""Do the runtimes caption alike? `python -m training.agreement --count 500 --seed 1000003`

Captions the held-out scenes `make evaluate` scores with torch, with the model's ONNX
export (fp32) and with an int8 export made for the occasion in a temporary copy of the
model directory. Prints, per runtime, exact match and BLEU-4 against the true captions
(as `training.evaluate` scores them) and how often its top caption is torch's.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sacrebleu.metrics import BLEU

from captioner import configure_threads, load_captioner
from lukewarm.export import export_model
from training.scenes import make_scene

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "function" / "model"


def caption_scenes(
    model_dir: Path, runtime: str, *, count: int, seed: int, beam: int, batch_size: int = 50
) -> list[str]:
    captioner = load_captioner(model_dir, runtime)
    captions: list[str] = []
    for first in range(0, count, batch_size):
        scenes = [
            make_scene("evaluate", seed, i) for i in range(first, min(first + batch_size, count))
        ]
        captions += [
            c.caption for c in captioner.caption_batch([s.image for s in scenes], beam=beam)
        ]
    return captions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.agreement", description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="how many scenes (default 500)")
    parser.add_argument("--seed", type=int, default=1000003, help="which held-out scenes")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--beam", type=int, default=3, help="beam width (default 3)")
    args = parser.parse_args(argv)
    configure_threads(runtime="torch")
    configure_threads(runtime="onnx")
    truths = [make_scene("evaluate", args.seed, i).caption for i in range(args.count)]
    options = {"count": args.count, "seed": args.seed, "beam": args.beam}
    results = {
        runtime: caption_scenes(args.model_dir, runtime, **options) for runtime in ("torch", "onnx")
    }
    with tempfile.TemporaryDirectory() as scratch:
        int8_dir = Path(scratch) / "model"
        shutil.copytree(args.model_dir, int8_dir)
        report = export_model(int8_dir, quantize="int8")
        print("\n".join(report.lines()))
        results["onnx-int8"] = caption_scenes(int8_dir, "onnx", **options)
    for runtime, captions in results.items():
        exact = sum(c == t for c, t in zip(captions, truths, strict=True)) / args.count
        bleu = BLEU(max_ngram_order=4).corpus_score(captions, [truths]).score / 100
        same = sum(c == t for c, t in zip(captions, results["torch"], strict=True))
        print(
            f"{runtime:9} exact_match={exact:.4f} bleu4={bleu:.4f} "
            f"same_as_torch={same}/{args.count} ({same / args.count:.1%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
