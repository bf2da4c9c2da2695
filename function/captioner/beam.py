"""Batched beam search over the attention decoder.

All images of a batch and all `k` beams of each advance together as one (B*k)
tensor batch. Hypotheses are ranked by their total log-probability, as in the
reference implementation, which makes stopping exact: log-probabilities only
fall, so once an image has `k` finished captions better than every live beam,
nothing can overtake them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .model import Decoder


@dataclass(frozen=True)
class Hypothesis:
    words: tuple[int, ...]
    """Word ids, without `<start>` and `<end>`."""
    score: float
    """Total log-probability, `<end>` included when the caption finished."""


def beam_search(
    decoder: Decoder, encoder_out: Tensor, *, start: int, end: int, beam: int, max_length: int
) -> list[list[Hypothesis]]:
    """The `beam` best captions of each image in `encoder_out` (B, P, C), best first."""
    batch = encoder_out.size(0)
    k = beam
    # The encoder-side attention projection and the initial state depend on the image
    # only: compute them once per image, then give every beam its copy.
    projected = decoder.attention.project(encoder_out)
    hidden, cell = decoder.init_state(encoder_out)
    encoder_out, projected, hidden, cell = (
        tensor.repeat_interleave(k, dim=0) for tensor in (encoder_out, projected, hidden, cell)
    )
    state = (hidden, cell)

    words = torch.full((batch * k,), start, dtype=torch.long)
    sequences = torch.empty((batch, k, 0), dtype=torch.long)
    scores = torch.zeros(batch, k)
    scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch

    for length in range(max_length + 1):
        logits, state, _ = decoder.step(words, state, encoder_out, projected)
        log_probs = torch.log_softmax(logits, dim=1).view(batch, k, -1)
        if length == max_length:
            # At the length limit a caption can only end.
            ended = torch.full_like(log_probs, float("-inf"))
            ended[:, :, end] = log_probs[:, :, end]
            log_probs = ended
        vocab = log_probs.size(2)
        candidates = (scores.unsqueeze(2) + log_probs).view(batch, k * vocab)
        # 2k candidates leave k live ones even if every finished one ends here.
        top_scores, top_index = candidates.topk(2 * k, dim=1)
        source_beam = torch.div(top_index, vocab, rounding_mode="floor")
        next_word = top_index % vocab

        keep_beam = torch.zeros(batch, k, dtype=torch.long)
        keep_word = torch.full((batch, k), end, dtype=torch.long)
        keep_score = torch.full((batch, k), float("-inf"))
        for b in range(batch):
            if not done[b]:
                done[b] = _advance(
                    top_scores[b].tolist(),
                    source_beam[b].tolist(),
                    next_word[b].tolist(),
                    sequences[b],
                    end,
                    k,
                    finished[b],
                    keep_beam[b],
                    keep_word[b],
                    keep_score[b],
                )
        if all(done):
            break

        flat_source = (keep_beam + torch.arange(batch).unsqueeze(1) * k).view(-1)
        sequences = torch.cat(
            [sequences[torch.arange(batch).unsqueeze(1), keep_beam], keep_word.unsqueeze(2)], dim=2
        )
        scores = keep_score
        words = keep_word.view(-1)
        state = (state[0][flat_source], state[1][flat_source])

    return finished


def _advance(
    scores: list[float],
    sources: list[int],
    words: list[int],
    sequences: Tensor,
    end: int,
    k: int,
    finished: list[Hypothesis],
    keep_beam: Tensor,
    keep_word: Tensor,
    keep_score: Tensor,
) -> bool:
    """Sort one image's 2k best candidates into finished captions and k live beams
    (written into the `keep_*` rows). True when no live beam can still win."""
    live = 0
    for rank, (score, source, word) in enumerate(zip(scores, sources, words, strict=True)):
        if score == float("-inf") or live == k:
            break
        if word == end:
            if rank < k:
                finished.append(Hypothesis(tuple(sequences[source].tolist()), score))
            continue
        keep_beam[live], keep_word[live], keep_score[live] = source, word, score
        live += 1
    finished.sort(key=lambda h: -h.score)
    del finished[k:]
    return len(finished) == k and finished[-1].score >= float(keep_score[0])
