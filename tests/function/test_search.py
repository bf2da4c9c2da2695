"""The one beam search (captioner/search.py) on its own, with a decoder that is a table of
log-probabilities: the rules only the Hub's models use (no-repeat n-grams, a minimum
length, finishing every candidate at the last step, greedy stopping), checked against
their definitions in transformers' `generate`."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from captioner.search import (
    Alternative,
    Generation,
    Hypothesis,
    banned_tokens,
    search,
    stage_timing,
    to_caption,
)

START, END, A, B = 0, 1, 2, 3


class TableDecoding:
    """The same log-probabilities for every beam at a step, from a table by step (at a
    step, a list holds one image's each)."""

    vocab_size = 4

    def __init__(self, table: Sequence[dict[int, float] | list[dict[int, float]]]) -> None:
        self.table = table
        self.at = -1

    def step(self, tokens: list[int]) -> None:
        self.at += 1

    def best(
        self,
        scores: list[list[float]],
        count: int,
        *,
        banned: Sequence[tuple[int, int]] = (),
        only: int | None = None,
    ) -> tuple[list[list[float]], list[list[int]]]:
        step = self.table[self.at]
        top_scores, top_index = [], []
        for image, beams in enumerate(scores):
            logprobs = step[image] if isinstance(step, list) else step
            candidates = []
            for beam, base in enumerate(beams):
                row = image * len(beams) + beam
                for token in range(self.vocab_size):
                    ruled_out = (only is not None and token != only) or (row, token) in banned
                    score = -math.inf if ruled_out else base + logprobs.get(token, -50.0)
                    candidates.append((score, beam * self.vocab_size + token))
            candidates.sort(key=lambda candidate: (-candidate[0], candidate[1]))
            top_scores.append([score for score, _ in candidates[:count]])
            top_index.append([index for _, index in candidates[:count]])
        return top_scores, top_index

    def reorder(self, rows: list[int]) -> None:
        pass


def test_a_generation_needs_a_prompt_and_a_step() -> None:
    with pytest.raises(ValueError, match=r"^a generation needs a prompt of at least one token$"):
        Generation(prompt=(), end=END, steps=3)
    with pytest.raises(ValueError, match=r"^steps must be at least 1, got 0$"):
        Generation(prompt=(START,), end=END, steps=0)
    assert Generation(prompt=(START,), end=END, steps=1).steps == 1


def repeats(sequence: list[int], token: int, size: int) -> bool:
    """transformers' no-repeat rule as defined: appending `token` would make an n-gram of
    `size` that the sequence already has."""
    ngram = (*sequence, token)[-size:]
    return len(sequence) + 1 >= size and any(
        tuple(sequence[start : start + size]) == ngram for start in range(len(sequence) - size + 1)
    )


def test_no_repeat_ngrams_ban_exactly_the_tokens_that_would_repeat_one() -> None:
    generator = random.Random(7)
    for size in (1, 2, 3, 4):
        rules = Generation(prompt=(START,), end=END, steps=9, no_repeat_ngram_size=size)
        for _ in range(200):
            rows = [[generator.randrange(4) for _ in range(generator.randrange(9))]]
            expected = {token for token in range(4) if repeats(rows[0], token, size)}
            assert {token for _, token in banned_tokens(rows, rules)} == expected, (size, rows)


def test_the_minimum_length_bans_the_end_token_until_it_is_reached() -> None:
    rules = Generation(prompt=(START,), end=END, steps=9, min_length=3)
    rows = [[START], [START, A], [START, A, B], [START, A, B, A]]
    assert banned_tokens(rows, rules) == [(0, END), (1, END)]
    # Rows of images that are done are skipped.
    assert banned_tokens(rows, rules, skip=[True, False, False, False]) == [(1, END)]


def test_a_repeated_bigram_is_not_generated() -> None:
    # A is the likeliest at every step: A A A A, but without a repeated 2-gram the third
    # cannot be A again (A A twice), and B comes instead.
    table = [{A: math.log(0.6), B: math.log(0.3), END: math.log(0.1)}] * 4
    plain = Generation(prompt=(START,), end=END, steps=4, at_limit="finish")
    no_repeat = Generation(
        prompt=(START,), end=END, steps=4, at_limit="finish", no_repeat_ngram_size=2
    )
    assert search(TableDecoding(table), plain, batch=1, beam=1)[0][0].words == (A, A, A, A)
    assert search(TableDecoding(table), no_repeat, batch=1, beam=1)[0][0].words == (A, A, B, A)


def test_at_the_limit_every_candidate_finishes_as_it_is_or_only_the_end_is_allowed() -> None:
    table = [{A: math.log(0.6), B: math.log(0.3), END: math.log(0.1)}] * 2
    finish = Generation(prompt=(START,), end=END, steps=2, at_limit="finish")
    end = Generation(prompt=(START,), end=END, steps=2, at_limit="end")

    finished = search(TableDecoding(table), finish, batch=1, beam=1)
    ended = search(TableDecoding(table), end, batch=1, beam=1)

    assert finished == [[Hypothesis((A, A), 2 * math.log(0.6))]]
    assert ended == [[Hypothesis((A,), math.log(0.6) + math.log(0.1))]]


def test_at_width_1_the_first_finished_caption_is_final() -> None:
    """transformers' greedy search, whatever the model's beam rules: with early stopping
    `never` and a length penalty, a beam search would go on for a longer caption."""
    table = [
        {END: math.log(0.5), A: math.log(0.4), B: math.log(0.1)},
        {END: math.log(0.9), A: math.log(0.05), B: math.log(0.05)},
        {END: math.log(0.9), A: math.log(0.05), B: math.log(0.05)},
    ]
    rules = Generation(
        prompt=(START,), end=END, steps=3, length_penalty=1.0, early_stopping="never"
    )
    assert search(TableDecoding(table), rules, batch=1, beam=1) == [[Hypothesis((), math.log(0.5))]]


def test_only_a_candidate_within_the_beam_width_may_finish() -> None:
    """transformers' rule: an end token ranked below the `beam` best candidates of its
    step finishes no caption. At width 2, step 2 ranks A+END, A+A, then B+END: B ends
    no caption, and A A ends at step 3 instead."""
    table = [
        {A: math.log(0.5), B: math.log(0.4), END: math.log(0.1)},
        {END: math.log(0.5), A: math.log(0.45), B: math.log(0.05)},
        {END: math.log(0.5), A: math.log(0.3), B: math.log(0.2)},
    ]
    rules = Generation(prompt=(START,), end=END, steps=3)
    [captions] = search(TableDecoding(table), rules, batch=1, beam=2)
    assert [caption.words for caption in captions] == [(A,), (A, A)]
    assert captions[1].score == pytest.approx(math.log(0.5 * 0.45 * 0.5))


def test_a_length_penalty_divides_the_score_by_the_length() -> None:
    table = [
        {A: math.log(0.6), END: math.log(0.3), B: math.log(0.1)},
        {END: math.log(0.9), A: math.log(0.05), B: math.log(0.05)},
    ]
    rules = Generation(prompt=(START,), end=END, steps=2, length_penalty=1.0)
    [[caption]] = search(TableDecoding(table), rules, batch=1, beam=1)
    assert caption == Hypothesis((A,), (math.log(0.6) + math.log(0.9)) / 2)


# Log-probabilities by step for the early-stopping tests: at step 3 (A A, END) ends below
# the live A A A, which ends at step 4 above it.
GOES_ON = [
    {A: -0.5, B: -0.9, END: -20.0},
    {END: -0.7, A: -0.8, B: -20.0},
    {A: -0.6, END: -0.8, B: -20.0},
    {END: -0.1, A: -20.0, B: -20.0},
]


@pytest.mark.parametrize(
    ("early_stopping", "captions"),
    [(False, [(A,), (A, A, A)]), (True, [(A,), (A, A)])],
    ids=["while a live beam can win", "at beam finished captions"],
)
def test_an_image_stops_when_no_live_beam_can_win_or_at_beam_captions(
    early_stopping: bool, captions: list[tuple[int, ...]]
) -> None:
    rules = Generation(prompt=(START,), end=END, steps=4, early_stopping=early_stopping)
    [found] = search(TableDecoding(GOES_ON), rules, batch=1, beam=2)
    assert [caption.words for caption in found] == captions


# With a length penalty of 1: at step 2, (B, END) has finished at -0.65 and the live A A
# is at -2.0: over its length (2) it cannot win, over the most steps (4) it can, and does.
LONGER_WINS = [
    {A: -1.0, B: -1.2, END: -20.0},
    {END: -0.1, A: -1.0, B: -20.0},
    {A: -0.2, END: -3.0, B: -20.0},
    {END: -0.1, A: -20.0, B: -20.0},
]


@pytest.mark.parametrize(
    ("early_stopping", "captions"),
    [(False, [(A,), (B,)]), ("never", [(A,), (A, A, A)])],
    ids=["at its current length", "at the most steps"],
)
def test_with_a_length_penalty_never_hopes_for_the_longest_caption(
    early_stopping: bool | str, captions: list[tuple[int, ...]]
) -> None:
    rules = Generation(
        prompt=(START,),
        end=END,
        steps=4,
        length_penalty=1.0,
        early_stopping=early_stopping,  # type: ignore[arg-type]
    )
    [found] = search(TableDecoding(LONGER_WINS), rules, batch=1, beam=2)
    assert [caption.words for caption in found] == captions
    assert found[0].score == pytest.approx(-1.1 / 2)


def test_no_repeat_of_size_1_never_repeats_a_token() -> None:
    # The prompt counts: START is banned too, and after A and B only END is left.
    table = [{A: -0.1, B: -0.5, START: -0.2, END: -3.0}] * 3
    rules = Generation(prompt=(START,), end=END, steps=3, at_limit="finish")
    assert search(TableDecoding(table), rules, batch=1, beam=1)[0][0].words == (A, A, A)
    once = Generation(prompt=(START,), end=END, steps=3, at_limit="finish", no_repeat_ngram_size=1)
    assert search(TableDecoding(table), once, batch=1, beam=1)[0][0].words == (A, B)


def test_greedy_search_of_two_images_goes_on_for_the_one_not_done() -> None:
    """The first image ends at once; its row is kept idle while the second goes on."""
    table = [
        [{END: -0.1, A: -3.0}, {A: -0.1, END: -3.0}],
        [{END: -0.1, A: -3.0}, {B: -0.1, END: -3.0}],
        [{END: -0.1, A: -3.0}, {END: -0.1, A: -3.0}],
    ]
    rules = Generation(prompt=(START,), end=END, steps=3)
    found = search(TableDecoding(table), rules, batch=2, beam=1)
    assert [[caption.words for caption in image] for image in found] == [[()], [(A, B)]]


def test_each_stage_is_timed_in_milliseconds_to_a_hundredth() -> None:
    timing = stage_timing(100.0, 100.0012344, 100.0045678, 100.0123456)
    assert timing == {"preprocess": 1.23, "encode": 3.33, "decode": 7.78}


def test_a_caption_is_its_best_hypothesis_with_distinct_runners_up() -> None:
    words = {A: "a", B: "b"}
    hypotheses = [
        Hypothesis((A,), -1.0),
        Hypothesis((A,), -1.5),  # the same text again: not an alternative
        Hypothesis((B,), -2.0),
        Hypothesis((A, B), -3.0),
    ]
    caption = to_caption(
        hypotheses,
        lambda tokens: " ".join(words[token] for token in tokens),
        alternatives=1,
        timing_ms={"decode": 1.0},
    )
    assert (caption.caption, caption.score) == ("a", -1.0)
    assert caption.alternatives == [Alternative("b", -2.0)]
    assert caption.timing_ms == {"decode": 1.0}
