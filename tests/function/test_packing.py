"""The packed decoder layout must caption exactly as the modules it replaces."""

from __future__ import annotations

import copy

import pytest
import torch

from captioner import CaptionModel
from captioner.beam import beam_search
from captioner.config import DecoderConfig, EncoderConfig
from captioner.packing import PackedLinear, PackedLSTMCell, pack_decoder


@pytest.fixture(scope="module")
def model() -> CaptionModel:
    torch.manual_seed(1)
    encoder = EncoderConfig(backbone="resnet18", stages=2, encoded_size=4)
    decoder = DecoderConfig(embed_dim=24, attention_dim=32, decoder_dim=48, dropout=0.0)
    return CaptionModel(encoder, decoder, vocab_size=40).eval().requires_grad_(False)


def test_packed_layers_compute_what_torch_modules_compute() -> None:
    torch.manual_seed(2)
    linear, cell = torch.nn.Linear(48, 40), torch.nn.LSTMCell(24, 48)
    x, h, c = torch.randn(3, 48), torch.randn(3, 48), torch.randn(3, 48)
    inputs = torch.randn(3, 24)
    with torch.inference_mode():
        torch.testing.assert_close(PackedLinear(linear)(x), linear(x))
        for packed, plain in zip(
            PackedLSTMCell(cell)(inputs, (h, c)), cell(inputs, (h, c)), strict=True
        ):
            torch.testing.assert_close(packed, plain)


def test_packed_decoder_finds_the_same_captions_and_scores(model: CaptionModel) -> None:
    packed = pack_decoder(copy.deepcopy(model.decoder))
    assert isinstance(packed.fc, PackedLinear)
    with torch.inference_mode():
        encoder_out = model.encoder(torch.randn(2, 3, 64, 64))
        plain = beam_search(model.decoder, encoder_out, start=1, end=2, beam=4, max_length=12)
        fast = beam_search(packed, encoder_out, start=1, end=2, beam=4, max_length=12)
    assert [[h.words for h in image] for image in fast] == [
        [h.words for h in image] for image in plain
    ]
    for fast_image, plain_image in zip(fast, plain, strict=True):
        assert [h.score for h in fast_image] == pytest.approx(
            [h.score for h in plain_image], abs=1e-4
        )
