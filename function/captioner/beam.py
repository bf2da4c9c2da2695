"""Batched beam search over the attention decoder.

All images of a batch and all `k` beams of each advance together as one (B*k)
tensor batch. Hypotheses are ranked by their total log-probability, as in the
reference implementation, which makes stopping exact: log-probabilities only
fall, so once an image has `k` finished captions better than every live beam,
nothing can overtake them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .model import Decoder
from .search import Hypothesis, advance_batch


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

        rows = advance_batch(
            top_scores.tolist(),
            source_beam.tolist(),
            next_word.tolist(),
            sequences.tolist(),
            end=end,
            k=k,
            finished=finished,
            done=done,
        )
        keep_beam, keep_word = torch.tensor(rows[0]), torch.tensor(rows[1])
        keep_score = torch.tensor(rows[2])
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
