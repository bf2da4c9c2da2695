"""Score a model on held-out scenes: `python -m toolkit.evaluate --count 500 --seed 1000003`.

Scenes come from the "evaluate" split, which no training run draws from, so any seed
gives unseen scenes. `--runtime` picks what captions them (`onnx`, the function's default,
or `torch`; `make agreement` compares the runtimes' captions). The last line printed is
`exact_match=<x> bleu4=<x>`: the share of captions identical to the true one, and
corpus-level BLEU-4 (sacrebleu) as a fraction.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from sacrebleu.metrics import BLEU

from captioner import RUNTIMES, ModelFormatError, configure_threads, load_captioner
from toolkit.scenes import make_scene

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "function" / "model"


@dataclass(frozen=True)
class Score:
    exact_match: float
    bleu4: float
    mistakes: list[tuple[str, str]]
    """(true caption, model's caption) for every scene the model got wrong."""
    runtime: str
    """What captioned them, as the captioner reports it (`onnx`, `onnx-int8`, `torch`)."""
    beam: int = 3
    """The beam width they were captioned with."""


def evaluate(
    model_dir: Path,
    *,
    count: int,
    seed: int,
    beam: int | None = None,
    batch_size: int = 50,
    threads: int | None = None,
    quiet: bool = True,
    runtime: str | None = None,
) -> Score:
    """Caption `count` held-out scenes of `seed` with the model in `model_dir`, on
    `runtime` (None: `LUKEWARM_RUNTIME`, else onnx)."""
    configure_threads(threads, runtime)
    captioner = load_captioner(model_dir, runtime)
    beam = beam or captioner.default_beam
    truths: list[str] = []
    guesses: list[str] = []
    with Progress(console=Console(stderr=True), disable=quiet) as progress:
        task = progress.add_task("captioning held-out scenes", total=count)
        for first in range(0, count, batch_size):
            indices = range(first, min(first + batch_size, count))
            scenes = [make_scene("evaluate", seed, i) for i in indices]
            captions = captioner.caption_batch([s.image for s in scenes], beam=beam)
            truths += [s.caption for s in scenes]
            guesses += [c.caption for c in captions]
            progress.advance(task, len(scenes))
    bleu = BLEU(max_ngram_order=4).corpus_score(guesses, [truths])
    mistakes = [(t, g) for t, g in zip(truths, guesses, strict=True) if t != g]
    return Score(
        exact_match=1 - len(mistakes) / count,
        bleu4=bleu.score / 100,
        mistakes=mistakes,
        runtime=captioner.info["runtime"],
        beam=beam,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toolkit.evaluate",
        description="Exact match and BLEU-4 of a model on held-out generated scenes.",
    )
    parser.add_argument("--count", type=int, required=True, help="how many scenes")
    parser.add_argument("--seed", type=int, required=True, help="which held-out scenes")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument(
        "--beam", type=int, help="beam width (default: the model's, 3 for Show-Attend-Tell)"
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="what captions the scenes (default: $LUKEWARM_RUNTIME, else onnx)",
    )
    parser.add_argument(
        "--show-mistakes", type=int, default=10, metavar="N", help="print up to N wrong captions"
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.beam is not None and not 1 <= args.beam <= 10:
        parser.error("--beam must be 1-10")
    try:
        score = evaluate(
            args.model_dir,
            count=args.count,
            seed=args.seed,
            beam=args.beam,
            quiet=False,
            runtime=args.runtime,
        )
    except ModelFormatError as error:
        parser.exit(2, f"error: cannot load the model: {error}\n")
    for truth, guess in score.mistakes[: args.show_mistakes]:
        print(f"expected: {truth}\n     got: {guess}")
    print(f"runtime {score.runtime}, beam {score.beam}, {args.count} scenes of seed {args.seed}")
    print(f"exact_match={score.exact_match:.4f} bleu4={score.bleu4:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
