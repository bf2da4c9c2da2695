"""Show-Attend-Tell's decoder in torch, as the one beam search (`search.py`) drives it.

The encoder-side attention projection and the initial state depend on the image only:
they are computed once per image and copied to each beam; the recurrent state is what
moves when beams are reordered.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .model import Decoder
from .search import Generation, Hypothesis, search


class TorchDecoding:
    """`search.Decoding` over the torch modules of a Show-Attend-Tell decoder."""

    def __init__(self, decoder: Decoder, encoder_out: Tensor, beam: int) -> None:
        self.decoder = decoder
        self.batch = encoder_out.size(0)
        self.beam = beam
        projected = decoder.attention.project(encoder_out)
        hidden, cell = decoder.init_state(encoder_out)
        self.features, self.projected, hidden, cell = (
            tensor.repeat_interleave(beam, dim=0)
            for tensor in (encoder_out, projected, hidden, cell)
        )
        self.state = (hidden, cell)
        self.log_probs = torch.empty(0)
        self.vocab_size = 0

    def step(self, tokens: list[int]) -> None:
        words = torch.tensor(tokens, dtype=torch.long)
        logits, self.state, _ = self.decoder.step(words, self.state, self.features, self.projected)
        self.log_probs = torch.log_softmax(logits, dim=1)
        self.vocab_size = self.log_probs.size(1)

    def best(
        self,
        scores: list[list[float]],
        count: int,
        *,
        banned: Sequence[tuple[int, int]] = (),
        only: int | None = None,
    ) -> tuple[list[list[float]], list[list[int]]]:
        log_probs = self.log_probs.view(self.batch, self.beam, -1)
        if only is not None:
            ended = torch.full_like(log_probs, float("-inf"))
            ended[:, :, only] = log_probs[:, :, only]
            log_probs = ended
        if banned:
            log_probs = log_probs.clone()
            for row, token in banned:
                log_probs[row // self.beam, row % self.beam, token] = float("-inf")
        candidates = (torch.tensor(scores).unsqueeze(2) + log_probs).view(self.batch, -1)
        top_scores, top_index = candidates.topk(min(count, candidates.size(1)), dim=1)
        return top_scores.tolist(), top_index.tolist()

    def reorder(self, rows: list[int]) -> None:
        index = torch.tensor(rows, dtype=torch.long)
        self.state = (self.state[0][index], self.state[1][index])


def beam_search(
    decoder: Decoder, encoder_out: Tensor, *, start: int, end: int, beam: int, max_length: int
) -> list[list[Hypothesis]]:
    """The `beam` best captions of each image in `encoder_out` (B, P, C), best first:
    Show-Attend-Tell's rules (total log-probability; at `max_length` words only `<end>`)."""
    rules = Generation(prompt=(start,), end=end, steps=max_length + 1)
    decoding = TorchDecoding(decoder, encoder_out, beam)
    return search(decoding, rules, batch=encoder_out.size(0), beam=beam)
