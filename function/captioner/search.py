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


def advance_batch(
    scores: Sequence[Sequence[float]],
    sources: Sequence[Sequence[int]],
    words: Sequence[Sequence[int]],
    sequences: Sequence[Sequence[Sequence[int]]],
    *,
    end: int,
    k: int,
    finished: list[list[Hypothesis]],
    done: list[bool],
) -> tuple[list[list[int]], list[list[int]], list[list[float]]]:
    """`advance` for every image of a batch that is not `done` (updated in place): the
    beams, words and scores to keep, k per image. Rows an image cannot fill (it is done,
    or fewer than k beams live) extend beam 0 with `<end>` at score -inf, which no
    candidate of the next step can come from."""
    keep_beam = [[0] * k for _ in scores]
    keep_word = [[end] * k for _ in scores]
    keep_score = [[float("-inf")] * k for _ in scores]
    for b, image_finished in enumerate(finished):
        if done[b]:
            continue
        survivors, done[b] = advance(
            scores[b], sources[b], words[b], sequences[b], end=end, k=k, finished=image_finished
        )
        for row, survivor in enumerate(survivors):
            keep_beam[b][row] = survivor.source
            keep_word[b][row] = survivor.word
            keep_score[b][row] = survivor.score
    return keep_beam, keep_word, keep_score


def stage_timing(
    started: float, preprocessed: float, encoded: float, decoded: float
) -> dict[str, float]:
    """A caption's `timing_ms` from the `time.perf_counter()` readings between its stages."""
    return {
        "preprocess": round((preprocessed - started) * 1000, 2),
        "encode": round((encoded - preprocessed) * 1000, 2),
        "decode": round((decoded - encoded) * 1000, 2),
    }


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
