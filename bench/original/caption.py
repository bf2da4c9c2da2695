"""How the original design captioned an image: numpy preprocessing and the tutorial's
beam search (`caption.py`), written fresh.

Like the tutorial, it runs the modules in eval mode without `torch.no_grad` or
`torch.inference_mode`, so autograd records every step, and the attention projects
the whole encoder grid again at every step of every beam.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision import transforms

from .models import DecoderWithAttention, Encoder

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def preprocess(image: Image.Image, size: int = 256) -> Tensor:
    """(3, size, size): resized without keeping the aspect ratio, as the tutorial's
    `imresize`, then scaled and normalised through numpy and torchvision."""
    pixels = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    pixels = pixels.transpose(2, 0, 1) / 255.0
    return transforms.Normalize(mean=MEAN, std=STD)(torch.FloatTensor(pixels))


def caption_image_beam_search(
    encoder: Encoder,
    decoder: DecoderWithAttention,
    image: Tensor,
    word_map: dict[str, int],
    beam_size: int = 3,
    max_steps: int = 51,
) -> tuple[list[int], float]:
    """The best word-id sequence (with `<start>` and, if it finished, `<end>`) and its
    total log-probability. Decodes at most `max_steps` steps (the tutorial: 51)."""
    k = beam_size
    vocab_size = len(word_map)
    encoder_out = encoder(image.unsqueeze(0))  # (1, S, S, C)
    encoder_dim = encoder_out.size(3)
    encoder_out = encoder_out.view(1, -1, encoder_dim)
    num_pixels = encoder_out.size(1)
    encoder_out = encoder_out.expand(k, num_pixels, encoder_dim)

    k_prev_words = torch.tensor([[word_map["<start>"]]] * k, dtype=torch.long)
    seqs = k_prev_words
    top_k_scores = torch.zeros(k, 1)
    complete_seqs: list[list[int]] = []
    complete_seqs_scores: list[float] = []

    h, c = decoder.init_hidden_state(encoder_out)
    for step in range(1, max_steps + 1):
        embeddings = decoder.embedding(k_prev_words).squeeze(1)
        awe, _ = decoder.attention(encoder_out, h)
        awe = decoder.sigmoid(decoder.f_beta(h)) * awe
        h, c = decoder.decode_step(torch.cat([embeddings, awe], dim=1), (h, c))
        scores = F.log_softmax(decoder.fc(h), dim=1)
        scores = top_k_scores.expand_as(scores) + scores
        if step == 1:
            top_k_scores, top_k_words = scores[0].topk(k, 0, True, True)
        else:
            top_k_scores, top_k_words = scores.view(-1).topk(k, 0, True, True)
        prev_word_inds = top_k_words // vocab_size
        next_word_inds = top_k_words % vocab_size
        seqs = torch.cat([seqs[prev_word_inds], next_word_inds.unsqueeze(1)], dim=1)

        incomplete_inds = [i for i, word in enumerate(next_word_inds) if word != word_map["<end>"]]
        complete_inds = sorted(set(range(len(next_word_inds))) - set(incomplete_inds))
        if complete_inds:
            complete_seqs.extend(seqs[complete_inds].tolist())
            complete_seqs_scores.extend(top_k_scores[complete_inds].tolist())
        k -= len(complete_inds)
        if k == 0:
            break
        seqs = seqs[incomplete_inds]
        h = h[prev_word_inds[incomplete_inds]]
        c = c[prev_word_inds[incomplete_inds]]
        encoder_out = encoder_out[prev_word_inds[incomplete_inds]]
        top_k_scores = top_k_scores[incomplete_inds].unsqueeze(1)
        k_prev_words = next_word_inds[incomplete_inds].unsqueeze(1)

    if not complete_seqs:
        # The step limit came first: the tutorial would fail on max([]); take the best
        # unfinished sequence instead.
        complete_seqs = seqs.tolist()
        complete_seqs_scores = top_k_scores.view(-1).tolist()
    best = complete_seqs_scores.index(max(complete_seqs_scores))
    return complete_seqs[best], complete_seqs_scores[best]


def words(seq: list[int], word_map: dict[str, int]) -> str:
    """The caption text of a sequence, without special tokens."""
    rev_word_map = {v: k for k, v in word_map.items()}
    special = {word_map[token] for token in ("<start>", "<end>", "<pad>", "<unk>")}
    return " ".join(rev_word_map[i] for i in seq if i not in special)
