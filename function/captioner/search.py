"""What every backend's beam search shares: its bookkeeping and its results.

Plain Python, neither torch nor NumPy: the torch beam search (`beam.py`) and the ONNX
Runtime one (`ort.py`) rank the same candidates the same way with this code, so they
give the same captions for the same log-probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .config import Vocabulary


@dataclass(frozen=True)
class Hypothesis:
    words: tuple[int, ...]
    """Word ids, without `<start>` and `<end>`."""
    score: float
    """Total log-probability, `<end>` included when the caption finished."""


@dataclass(frozen=True)
class Alternative:
    caption: str
    score: float


@dataclass(frozen=True)
class Caption:
    caption: str
    score: float
    """Total log-probability of the caption."""
    alternatives: list[Alternative]
    timing_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Survivor:
    """A live beam for the next step: which beam it extends, with what word, its score."""

    source: int
    word: int
    score: float


def advance(
    scores: Sequence[float],
    sources: Sequence[int],
    words: Sequence[int],
    sequences: Sequence[Sequence[int]],
    *,
    end: int,
    k: int,
    finished: list[Hypothesis],
) -> tuple[list[Survivor], bool]:
    """Sort one image's 2k best candidates (best first) into finished captions (added to
    `finished`, which keeps the k best) and at most k live beams.

    `sequences[beam]` are the words of each live beam so far. Also returns True when no
    live beam can still win: scores only fall, so k finished captions at least as good
    as the best live beam are final.
    """
    survivors: list[Survivor] = []
    for rank, (score, source, word) in enumerate(zip(scores, sources, words, strict=True)):
        if score == float("-inf") or len(survivors) == k:
            break
        if word == end:
            if rank < k:
                finished.append(Hypothesis(tuple(sequences[source]), score))
            continue
        survivors.append(Survivor(source, word, score))
    finished.sort(key=lambda h: -h.score)
    del finished[k:]
    best_live = survivors[0].score if survivors else float("-inf")
    return survivors, len(finished) == k and finished[-1].score >= best_live


def to_caption(
    hypotheses: list[Hypothesis],
    vocabulary: Vocabulary,
    *,
    alternatives: int,
    timing_ms: dict[str, float],
) -> Caption:
    """The best caption of an image and up to `alternatives` different runners-up."""
    unique: dict[str, float] = {}
    for hypothesis in hypotheses:
        unique.setdefault(vocabulary.decode(list(hypothesis.words)), hypothesis.score)
    ranked = list(unique.items())
    best, best_score = ranked[0]
    return Caption(
        caption=best,
        score=best_score,
        alternatives=[Alternative(c, s) for c, s in ranked[1 : alternatives + 1]],
        timing_ms=dict(timing_ms),
    )
