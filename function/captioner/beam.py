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


def beam_search(decoder: Decoder, encoder_out: Tensor, *, start: int, end: int,
                beam: int, max_length: int) -> list[list[Hypothesis]]:
    """The `beam` best captions of each image in `encoder_out` (B, P, C), best first."""
    batch, pixels, channels = encoder_out.shape
    k = beam
    # Every beam of an image sees the same encoder grid: expand, don't copy.
    encoder_out = encoder_out.unsqueeze(1).expand(batch, k, pixels, channels).reshape(
        batch * k, pixels, channels)
    projected = decoder.attention.project(encoder_out)
    state = decoder.init_state(encoder_out)

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
            if done[b]:
                continue
            live = 0
            for rank in range(2 * k):
                score = float(top_scores[b, rank])
                if score == float("-inf"):
                    break
                src, word = int(source_beam[b, rank]), int(next_word[b, rank])
                if word == end:
                    if rank < k:
                        finished[b].append(Hypothesis(tuple(sequences[b, src].tolist()), score))
                    continue
                keep_beam[b, live], keep_word[b, live], keep_score[b, live] = src, word, score
                live += 1
                if live == k:
                    break
            finished[b] = ranked = sorted(finished[b], key=lambda h: -h.score)[:k]
            if len(ranked) == k and ranked[-1].score >= float(keep_score[b, 0]):
                done[b] = True
        if all(done):
            break

        flat_source = (keep_beam + torch.arange(batch).unsqueeze(1) * k).view(-1)
        sequences = torch.cat([sequences[torch.arange(batch).unsqueeze(1), keep_beam],
                               keep_word.unsqueeze(2)], dim=2)
        scores = keep_score
        words = keep_word.view(-1)
        state = (state[0][flat_source], state[1][flat_source])

    return finished
