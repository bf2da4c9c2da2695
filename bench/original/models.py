"""The modules of the original design: the PyTorch captioning tutorial's Show, Attend
and Tell (sgrvinod, "a-PyTorch-Tutorial-to-Image-Captioning", `models.py`), written
fresh with the same structure, names and arithmetic.

The encoder takes torchvision's ResNet whole; the attention projects the encoder grid
inside `forward`, so every decoding step pays for it again.
"""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor, nn


class Encoder(nn.Module):
    def __init__(self, encoded_image_size: int = 14, backbone: str = "resnet101") -> None:
        super().__init__()
        self.enc_image_size = encoded_image_size
        resnet = getattr(torchvision.models, backbone)(weights=None)
        # Drop the classifier and its pooling: keep the spatial grid.
        self.resnet = nn.Sequential(*list(resnet.children())[:-2])
        self.adaptive_pool = nn.AdaptiveAvgPool2d((encoded_image_size, encoded_image_size))
        self.fine_tune()

    def fine_tune(self, fine_tune: bool = True) -> None:
        """Freeze the ResNet, except its last three stages when fine-tuning (the
        tutorial trains with `fine_tune(False)` unless asked to fine-tune)."""
        for parameter in self.resnet.parameters():
            parameter.requires_grad = False
        for stage in list(self.resnet.children())[5:]:
            for parameter in stage.parameters():
                parameter.requires_grad = fine_tune

    def forward(self, images: Tensor) -> Tensor:
        out = self.adaptive_pool(self.resnet(images))  # (B, 2048, S, S)
        return out.permute(0, 2, 3, 1)  # (B, S, S, 2048)


class Attention(nn.Module):
    def __init__(self, encoder_dim: int, decoder_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, encoder_out: Tensor, decoder_hidden: Tensor) -> tuple[Tensor, Tensor]:
        att1 = self.encoder_att(encoder_out)  # (B, P, A), recomputed at every step
        att2 = self.decoder_att(decoder_hidden)  # (B, A)
        att = self.full_att(self.relu(att1 + att2.unsqueeze(1))).squeeze(2)  # (B, P)
        alpha = self.softmax(att)
        attention_weighted_encoding = (encoder_out * alpha.unsqueeze(2)).sum(dim=1)
        return attention_weighted_encoding, alpha


class DecoderWithAttention(nn.Module):
    def __init__(
        self,
        attention_dim: int,
        embed_dim: int,
        decoder_dim: int,
        vocab_size: int,
        encoder_dim: int = 2048,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.encoder_dim = encoder_dim
        self.attention_dim = attention_dim
        self.embed_dim = embed_dim
        self.decoder_dim = decoder_dim
        self.vocab_size = vocab_size
        self.attention = Attention(encoder_dim, decoder_dim, attention_dim)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(p=dropout)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim, bias=True)
        self.init_h = nn.Linear(encoder_dim, decoder_dim)
        self.init_c = nn.Linear(encoder_dim, decoder_dim)
        self.f_beta = nn.Linear(decoder_dim, encoder_dim)
        self.sigmoid = nn.Sigmoid()
        self.fc = nn.Linear(decoder_dim, vocab_size)

    def init_hidden_state(self, encoder_out: Tensor) -> tuple[Tensor, Tensor]:
        mean_encoder_out = encoder_out.mean(dim=1)
        return self.init_h(mean_encoder_out), self.init_c(mean_encoder_out)

    def forward(self, encoder_out: Tensor, captions: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T-1, V) for `captions[:, 1:]`."""
        batch = encoder_out.size(0)
        encoder_out = encoder_out.view(batch, -1, self.encoder_dim)
        embeddings = self.embedding(captions)
        h, c = self.init_hidden_state(encoder_out)
        steps = captions.size(1) - 1
        predictions = torch.zeros(batch, steps, self.vocab_size)
        for t in range(steps):
            awe, _ = self.attention(encoder_out, h)
            awe = self.sigmoid(self.f_beta(h)) * awe
            h, c = self.decode_step(torch.cat([embeddings[:, t, :], awe], dim=1), (h, c))
            predictions[:, t, :] = self.fc(self.dropout(h))
        return predictions
