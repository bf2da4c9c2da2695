"""Show, Attend and Tell: a ResNet encoder and a soft-attention LSTM decoder.

The ResNet blocks are torchvision's architecture (`torchvision.models.resnet`,
v1.5: stride on the 3x3 convolution) with the same parameter names, so torchvision
and tutorial checkpoints load unchanged; tests check the outputs match
torchvision's own modules. They are defined here because importing torchvision
pulls in `torch._dynamo`, which costs more at cold start than the whole model load.

Parameter names of the decoder follow the widely used PyTorch captioning tutorial
(`encoder.resnet.*`, `decoder.decode_step.*`, ...) for the same reason.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import DecoderConfig, EncoderConfig


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def resnet_trunk(config: EncoderConfig) -> nn.Sequential:
    """torchvision's ResNet without its pooling and classifier, cut after `config.stages`.

    Children are numbered as in `nn.Sequential(*list(resnet.children())[:-2])`:
    0 conv1, 1 bn1, 2 relu, 3 maxpool, 4-7 layer1-layer4.
    """
    block: type[BasicBlock | Bottleneck] = (
        Bottleneck if config.block == "bottleneck" else BasicBlock
    )
    modules: list[nn.Module] = [
        nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    ]
    inplanes = 64
    for stage, blocks in enumerate(config.layers):
        planes = 64 * 2**stage
        stride = 1 if stage == 0 else 2
        downsample = None
        if stride != 1 or inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layer = [block(inplanes, planes, stride, downsample)]
        inplanes = planes * block.expansion
        layer += [block(inplanes, planes) for _ in range(1, blocks)]
        modules.append(nn.Sequential(*layer))
    return nn.Sequential(*modules)


CONTEXT_HEADS = 4
"""Attention heads of each context layer (every ResNet width divides by four)."""


class Encoder(nn.Module):
    """Images (B, 3, H, W) to a grid of features (B, encoded_size², channels)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.resnet = resnet_trunk(config)
        self.adaptive_pool = nn.AdaptiveAvgPool2d((config.encoded_size, config.encoded_size))
        self.position: nn.Parameter | None = None
        if config.position_embedding:
            cells = config.encoded_size**2
            self.position = nn.Parameter(torch.empty(cells, config.channels))
            # Through nn.init, so loading skips it (random numbers on the meta device
            # import torch._dynamo: see runtime._SkipInit).
            nn.init.normal_(self.position, std=0.02)
        self.context = nn.ModuleList(
            nn.TransformerEncoderLayer(
                config.channels,
                nhead=CONTEXT_HEADS,
                dim_feedforward=2 * config.channels,
                dropout=0.0,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(config.context_layers)
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.grid(self.adaptive_pool(self.resnet(images)))  # pooled: (B, C, S, S)

    def grid(self, pooled: Tensor) -> Tensor:
        """The pooled feature map (B, C, S, S) as the decoder attends over it: (B, S*S, C),
        with the position embedding and the context layers applied. The ONNX export pools
        its own way and then calls this."""
        grid = pooled.flatten(2).transpose(1, 2)  # (B, S*S, C)
        if self.position is not None:
            grid = grid + self.position
        for layer in self.context:
            grid = layer(grid)
        return grid


class Attention(nn.Module):
    def __init__(
        self, encoder_dim: int, decoder_dim: int, attention_dim: int, *, count: bool = False
    ) -> None:
        super().__init__()
        self.count = count
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=1)

    def project(self, encoder_out: Tensor) -> Tensor:
        """The encoder side of the attention, (B, P, A): constant for an image, so
        computed once per image rather than at every decoding step."""
        return self.encoder_att(encoder_out)

    def forward(
        self, encoder_out: Tensor, projected: Tensor, hidden: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The context (B, C), the attention weights (B, P) and, with `count`, the
        amount context (B, C): features weighted by sigmoid scores, summed, / P."""
        scores = self.full_att(self.relu(projected + self.decoder_att(hidden).unsqueeze(1)))
        alpha = self.softmax(scores.squeeze(2))  # (B, P)
        context = torch.bmm(alpha.unsqueeze(1), encoder_out).squeeze(1)
        if not self.count:
            return context, alpha, None
        weights = torch.sigmoid(scores).transpose(1, 2) / encoder_out.size(1)  # (B, 1, P)
        return context, alpha, torch.bmm(weights, encoder_out).squeeze(1)


DecoderState = tuple[Tensor, Tensor]


class Decoder(nn.Module):
    """The attention LSTM: one word per step, attending over the encoder grid."""

    def __init__(self, config: DecoderConfig, encoder_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.attention = Attention(
            encoder_dim, config.decoder_dim, config.attention_dim, count=config.count_context
        )
        self.embedding = nn.Embedding(vocab_size, config.embed_dim)
        self.dropout = nn.Dropout(p=config.dropout)
        contexts = 2 if config.count_context else 1
        self.decode_step = nn.LSTMCell(
            config.embed_dim + contexts * encoder_dim, config.decoder_dim
        )
        self.init_h = nn.Linear(encoder_dim, config.decoder_dim)
        self.init_c = nn.Linear(encoder_dim, config.decoder_dim)
        self.f_beta = nn.Linear(config.decoder_dim, encoder_dim)
        self.sigmoid = nn.Sigmoid()
        self.fc = nn.Linear(config.decoder_dim, vocab_size)

    def init_state(self, encoder_out: Tensor) -> DecoderState:
        mean = encoder_out.mean(dim=1)
        return self.init_h(mean), self.init_c(mean)

    def step(
        self, words: Tensor, state: DecoderState, encoder_out: Tensor, projected: Tensor
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoding step: previous words (B,) → next-word logits (B, V), new state, alpha."""
        hidden, cell = state
        context, alpha, amount = self.attention(encoder_out, projected, hidden)
        inputs = [self.embedding(words), self.sigmoid(self.f_beta(hidden)) * context]
        if amount is not None:
            inputs.append(amount)
        hidden, cell = self.decode_step(torch.cat(inputs, dim=1), (hidden, cell))
        return self.fc(self.dropout(hidden)), (hidden, cell), alpha

    def forward(self, encoder_out: Tensor, captions: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing for training. `captions` (B, T) starts with `<start>`;
        returns logits (B, T-1, V) predicting `captions[:, 1:]` and alphas (B, T-1, P)."""
        projected = self.attention.project(encoder_out)
        state = self.init_state(encoder_out)
        logits, alphas = [], []
        for t in range(captions.size(1) - 1):
            step_logits, state, alpha = self.step(captions[:, t], state, encoder_out, projected)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)


class CaptionModel(nn.Module):
    """Encoder and decoder together, with the sizes from a model's `config.json`."""

    def __init__(self, encoder: EncoderConfig, decoder: DecoderConfig, vocab_size: int) -> None:
        super().__init__()
        self.encoder = Encoder(encoder)
        self.decoder = Decoder(decoder, encoder.channels, vocab_size)

    def forward(self, images: Tensor, captions: Tensor) -> tuple[Tensor, Tensor]:
        return self.decoder(self.encoder(images), captions)
