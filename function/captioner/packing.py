"""The decoder's weights laid out for decoding a few beams at a time on a CPU.

A decoding step multiplies a handful of rows (one per beam) by every decoder weight.
With `nn.Linear`'s (out, in) layout that small-batch product takes a slow path in
torch's CPU GEMM: measured here at one thread, a 512→9,490 output layer took 8.2 ms for
3 beams and 2.6 ms with the weight stored transposed, (in, out) and contiguous. Same
products and sums, so the same captions; only the memory layout and kernel change.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .model import Decoder


class PackedLinear(nn.Module):
    """`nn.Linear` for inference, its weight stored transposed."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight_t = linear.weight.detach().t().contiguous()
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None:
            return x @ self.weight_t
        # addmm wants 2-D input; the attention's (B, P, A) projections keep nn.Linear.
        return torch.addmm(self.bias, x, self.weight_t)


class PackedLSTMCell(nn.Module):
    """`nn.LSTMCell` for inference (gates in torch's order: input, forget, cell, output)."""

    def __init__(self, cell: nn.LSTMCell) -> None:
        super().__init__()
        self.weight_ih_t = cell.weight_ih.detach().t().contiguous()
        self.weight_hh_t = cell.weight_hh.detach().t().contiguous()
        self.bias = (cell.bias_ih.detach() + cell.bias_hh.detach()) if cell.bias else None

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        hidden, cell = state
        gates = x @ self.weight_ih_t
        gates = gates.addmm_(hidden, self.weight_hh_t)
        if self.bias is not None:
            gates = gates.add_(self.bias)
        i, f, g, o = gates.chunk(4, dim=1)
        cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(cell), cell


def pack_decoder(decoder: Decoder) -> Decoder:
    """Swap the per-step layers of an inference-only decoder for packed ones, in place.

    The layers applied once per image (`init_h`, `init_c`, the encoder-side attention
    projection) already multiply many rows and keep their modules.
    """
    decoder.fc = PackedLinear(decoder.fc)  # type: ignore[assignment]
    decoder.f_beta = PackedLinear(decoder.f_beta)  # type: ignore[assignment]
    decoder.attention.decoder_att = PackedLinear(decoder.attention.decoder_att)  # type: ignore[assignment]
    decoder.decode_step = PackedLSTMCell(decoder.decode_step)  # type: ignore[assignment]
    return decoder
