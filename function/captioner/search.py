"""The one beam search every backend and model family runs, and its results.

Plain Python, neither torch nor NumPy. A family brings a `Decoding`: its decoder step
over the beams' last tokens, the best candidates of that step (in the backend's own
tensors), and how to reorder its state (a recurrent state, or a key/value cache) when
beams move. `search` does the bookkeeping, so Show-Attend-Tell on torch, on ONNX Runtime
and the Hugging Face families rank the same candidates the same way.

How a caption ends, how long it may be and how finished ones are ranked are a
`Generation`: Show-Attend-Tell's rules (total log-probability, only `<end>` at the
length limit; exact stopping, because log-probabilities only fall) or those of
transformers' `generate` (its length penalty, early stopping and no-repeat n-grams,
every candidate finished at `max_length`), which `Generation` expresses with the same
fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol


@dataclass(frozen=True)
class Hypothesis:
    words: tuple[int, ...]
    """Token ids, without the prompt and without the end token."""
    score: float
    """Total log-probability (end token included when the caption ended), divided by
    its length to the power of the length penalty (none for Show-Attend-Tell)."""


@dataclass(frozen=True)
class Alternative:
    caption: str
    score: float


@dataclass(frozen=True)
class Caption:
    caption: str
    score: float
    """The caption's score (see `Hypothesis.score`)."""
    alternatives: list[Alternative]
    timing_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Survivor:
    """A live beam for the next step: which beam it extends, with what word, its score."""

    source: int
    word: int
    score: float


@dataclass(frozen=True)
class Generation:
    """The rules of one model's search (transformers' names where it has one)."""

    prompt: tuple[int, ...]
    """Tokens every caption starts from; the decoder is first fed the last one."""
    end: int
    """The token that ends a caption."""
    steps: int
    """Most decoding steps: Show-Attend-Tell's `max_length` + 1 (the last may only end),
    transformers' `max_length` minus the prompt (the last finishes every candidate)."""
    at_limit: Literal["end", "finish"] = "end"
    """At the last step: only the end token is allowed (`end`), or every candidate
    finishes as it is (`finish`, transformers' `max_length` stopping criterion)."""
    length_penalty: float = 0.0
    """Finished scores are divided by the generated length (end token counted) to this
    power."""
    early_stopping: bool | Literal["never"] = False
    """transformers' meaning: True stops an image at `beam` finished captions; False
    when the best live beam, at its current length, cannot beat the worst of them;
    `never` as False but at `steps` when the length penalty is positive."""
    no_repeat_ngram_size: int = 0
    """No n-gram of this size (prompt included) appears twice; 0 = no rule."""
    min_length: int = 0
    """The end token is refused while the sequence (prompt included) is shorter."""

    def __post_init__(self) -> None:
        if not self.prompt:
            raise ValueError("a generation needs a prompt of at least one token")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")


class Decoding(Protocol):
    """One search's decoder, the per-image work already done: what a family supplies."""

    vocab_size: int
    """Tokens the model can produce (known after the first `step`)."""

    def step(self, tokens: list[int]) -> None:
        """Run the decoder one step for every beam (rows image-major, `beam` per image),
        each fed its last token; keep the log-probabilities for `best`."""

    def best(
        self,
        scores: list[list[float]],
        count: int,
        *,
        banned: Sequence[tuple[int, int]] = (),
        only: int | None = None,
    ) -> tuple[list[list[float]], list[list[int]]]:
        """For each image, the `count` best candidates of the last step, best first
        (ties: lower index first): their score (the beam's score in `scores` plus the
        token's log-probability) and their index in beam-major (beam * vocabulary +
        token) order. `banned` (row, token) pairs and, with `only`, every token but it
        score -inf."""

    def reorder(self, rows: list[int]) -> None:
        """Keep, for the next step, the state of these rows (one per new beam, in order)."""


def advance(
    scores: Sequence[float],
    sources: Sequence[int],
    words: Sequence[int],
    sequences: Sequence[Sequence[int]],
    *,
    rules: Generation,
    k: int,
    length: int,
    last: bool,
    finished: list[Hypothesis],
) -> tuple[list[Survivor], bool]:
    """Sort one image's 2k best candidates (best first) at generated `length` (end
    token counted) into finished captions (added to `finished`, which keeps the k best)
    and at most k live beams.

    `sequences[beam]` are the words of each live beam so far. Also returns True when
    the image is done: `rules.early_stopping`, or no live beam can still win. With no
    length penalty the test is exact (scores only fall); with one it is transformers'
    heuristic.
    """
    finish_all = last and rules.at_limit == "finish"
    normaliser = float(length) ** rules.length_penalty
    survivors: list[Survivor] = []
    for rank, (score, source, word) in enumerate(zip(scores, sources, words, strict=True)):
        if score == float("-inf") or len(survivors) == k:
            break
        if word == rules.end or finish_all:
            if rank < k:
                tail = () if word == rules.end else (word,)
                finished.append(Hypothesis((*sequences[source], *tail), score / normaliser))
            continue
        survivors.append(Survivor(source, word, score))
    finished.sort(key=lambda h: -h.score)
    del finished[k:]
    if len(finished) < k:
        return survivors, False
    if rules.early_stopping is True:
        return survivors, True
    best_live = survivors[0].score if survivors else float("-inf")
    hoped = length
    if rules.early_stopping == "never" and rules.length_penalty > 0:
        hoped = rules.steps
    return survivors, finished[-1].score >= best_live / float(hoped) ** rules.length_penalty


def advance_batch(
    scores: Sequence[Sequence[float]],
    sources: Sequence[Sequence[int]],
    words: Sequence[Sequence[int]],
    sequences: Sequence[Sequence[Sequence[int]]],
    *,
    rules: Generation,
    k: int,
    length: int,
    last: bool,
    finished: list[list[Hypothesis]],
    done: list[bool],
) -> tuple[list[list[int]], list[list[int]], list[list[float]]]:
    """`advance` for every image of a batch that is not `done` (updated in place): the
    beams, words and scores to keep, k per image. Rows an image cannot fill (it is done,
    or fewer than k beams live) extend beam 0 with the end token at score -inf, which no
    candidate of the next step can come from."""
    keep_beam = [[0] * k for _ in scores]
    keep_word = [[rules.end] * k for _ in scores]
    keep_score = [[float("-inf")] * k for _ in scores]
    for b, image_finished in enumerate(finished):
        if done[b]:
            continue
        survivors, done[b] = advance(
            scores[b],
            sources[b],
            words[b],
            sequences[b],
            rules=rules,
            k=k,
            length=length,
            last=last,
            finished=image_finished,
        )
        for row, survivor in enumerate(survivors):
            keep_beam[b][row] = survivor.source
            keep_word[b][row] = survivor.word
            keep_score[b][row] = survivor.score
    return keep_beam, keep_word, keep_score


def banned_tokens(
    rows: Sequence[Sequence[int]], rules: Generation, *, skip: Sequence[bool] = ()
) -> list[tuple[int, int]]:
    """(row, token) pairs the next step may not produce, for each row's whole sequence
    (prompt included): transformers' no-repeat n-gram and minimum-length rules."""
    banned: list[tuple[int, int]] = []
    size = rules.no_repeat_ngram_size
    for row, sequence in enumerate(rows):
        if skip and skip[row]:
            continue
        if len(sequence) < rules.min_length:
            banned.append((row, rules.end))
        if size <= 0 or len(sequence) + 1 < size:
            continue
        tail = tuple(sequence[len(sequence) - size + 1 :])
        for first in range(len(sequence) - size + 1):
            if tuple(sequence[first : first + size - 1]) == tail:
                banned.append((row, sequence[first + size - 1]))
    return banned


def search(
    decoding: Decoding, rules: Generation, *, batch: int, beam: int
) -> list[list[Hypothesis]]:
    """The `beam` best captions of each of `batch` images, best first.

    All images and all beams of each advance together as one batch of rows. At width 1
    this is greedy search, as transformers' `generate` with one beam: the first
    finished caption is final.
    """
    k = beam
    if k == 1:
        rules = _greedy(rules)
    sequences: list[list[tuple[int, ...]]] = [[()] * k for _ in range(batch)]
    scores = [[0.0] + [float("-inf")] * (k - 1) for _ in range(batch)]
    tokens = [rules.prompt[-1]] * (batch * k)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch
    checks_history = rules.no_repeat_ngram_size > 0 or rules.min_length > 0

    for step in range(rules.steps):
        last = step == rules.steps - 1
        decoding.step(tokens)
        banned: list[tuple[int, int]] = []
        if checks_history:
            rows = [rules.prompt + sequence for image in sequences for sequence in image]
            banned = banned_tokens(rows, rules, skip=[d for d in done for _ in range(k)])
        only = rules.end if last and rules.at_limit == "end" else None
        # 2k candidates leave k live ones even if every finished one ends here.
        top_scores, top_index = decoding.best(scores, 2 * k, banned=banned, only=only)
        vocab = decoding.vocab_size
        vocab_rows = [[divmod(index, vocab) for index in image] for image in top_index]
        keep_beam, keep_word, keep_score = advance_batch(
            top_scores,
            [[source for source, _ in image] for image in vocab_rows],
            [[word for _, word in image] for image in vocab_rows],
            sequences,
            rules=rules,
            k=k,
            length=step + 1,
            last=last,
            finished=finished,
            done=done,
        )
        if all(done) or last:
            break
        sequences = [
            [(*sequences[b][source], word) for source, word in zip(beams, words, strict=True)]
            for b, (beams, words) in enumerate(zip(keep_beam, keep_word, strict=True))
        ]
        scores = keep_score
        tokens = [word for words in keep_word for word in words]
        decoding.reorder([b * k + source for b, beams in enumerate(keep_beam) for source in beams])
    return finished


def _greedy(rules: Generation) -> Generation:
    """One beam: the first finished caption is final (transformers' greedy search)."""
    return replace(rules, early_stopping=True)


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
    decode: Callable[[list[int]], str],
    *,
    alternatives: int,
    timing_ms: dict[str, float],
) -> Caption:
    """The best caption of an image and up to `alternatives` different runners-up;
    `decode` turns token ids into text."""
    unique: dict[str, float] = {}
    for hypothesis in hypotheses:
        unique.setdefault(decode(list(hypothesis.words)), hypothesis.score)
    ranked = list(unique.items())
    best, best_score = ranked[0]
    return Caption(
        caption=best,
        score=best_score,
        alternatives=[Alternative(c, s) for c, s in ranked[1 : alternatives + 1]],
        timing_ms=dict(timing_ms),
    )
