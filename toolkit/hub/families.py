"""The Hub families lukewarm serves, each as two exportable graphs around transformers'
own modules.

Both graphs keep transformers' modules (their weights, layer norms, activations) and
rewrite only the attention, so that a step reads a key/value cache instead of the whole
caption so far:

- the encoder graph: `pixel_values` (N, 3, H, W) to `cross_keys` and `cross_values`
  (N, layers, heads, patches, head size): every decoder layer's cross-attention keys and
  values, computed once per image;
- the step graph: `tokens` (N,), `positions` (N,), `past_keys` and `past_values`
  (N, layers, heads, P, head size), the cross keys and values, to `log_probs`
  (N, vocabulary) and `next_keys`, `next_values` with P + 1 positions.

The batch axis comes first everywhere, so that reordering beams is one `take` on axis 0.
A single query needs no causal mask: it attends over every position before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor, nn

ENCODER_INPUTS = ["pixel_values"]
ENCODER_OUTPUTS = ["cross_keys", "cross_values"]
STEP_INPUTS = ["tokens", "positions", "past_keys", "past_values", "cross_keys", "cross_values"]
STEP_OUTPUTS = ["log_probs", "next_keys", "next_values"]


@dataclass(frozen=True)
class CacheShape:
    layers: int
    heads: int
    head_size: int
    vocab_size: int
    max_positions: int


@dataclass(frozen=True)
class Family:
    """One Hub family: what it is called, which models it takes, and its graphs."""

    name: str
    """lukewarm's name for it, in `config.json`'s `family`."""
    architectures: tuple[str, ...]
    """transformers' class names (`config.json`'s `architectures`) it imports."""
    model_class: str
    """The transformers class that loads it."""
    graphs: Callable[[Any], tuple[nn.Module, nn.Module, CacheShape]]
    """The encoder and step graphs around a loaded model, and its cache's shape."""
    special_tokens: Callable[[Any], dict[str, int]]
    """`prompt` (the first token), `end` and `pad`, as its `generate` uses them."""
    describe: str
    """For messages: the family and a model of it on the Hub."""


def _heads(tensor: Tensor, heads: int) -> Tensor:
    """(N, S, heads * size) to (N, heads, S, size)."""
    n, s, _ = tensor.shape
    return tensor.view(n, s, heads, -1).transpose(1, 2)


def _attend(query: Tensor, keys: Tensor, values: Tensor, scale: float) -> Tensor:
    """One query per row (N, heads, 1, size) over keys and values (N, heads, S, size),
    back to (N, 1, heads * size)."""
    import torch

    weights = torch.softmax(torch.matmul(query, keys.transpose(-1, -2)) * scale, dim=-1)
    context = torch.matmul(weights, values)
    n, heads, _, size = context.shape
    return context.transpose(1, 2).reshape(n, 1, heads * size)


def _tied_output(hidden: Tensor, output: nn.Linear) -> Tensor:
    """The output layer on (N, D) rows. Both families tie its weight to the token
    embedding; on 2-D rows the exporter writes one `Gemm` with a transposed operand, which
    reads the embedding's own initializer. On 3-D rows it would write a `MatMul` after a
    `Transpose`, and the optimiser would fold that into a second, transposed copy of the
    embedding (150 MB of GPT-2's weights; so would a 2-D one without a bias)."""
    import torch
    from torch.nn import functional

    # Without a bias the exporter writes MatMul after Transpose: GPT-2's head gets a zero one.
    bias = output.bias if output.bias is not None else torch.zeros(output.out_features)
    return functional.linear(hidden, output.weight, bias)


# --- ViT + GPT-2 (VisionEncoderDecoderModel) ----------------------------------------------


def _vit_gpt2_graphs(model: Any) -> tuple[nn.Module, nn.Module, CacheShape]:
    import torch
    from torch import nn

    gpt2 = model.decoder.transformer
    head = model.decoder.lm_head
    blocks: list[Any] = list(gpt2.h)
    heads = gpt2.config.n_head
    size = gpt2.config.n_embd // heads
    project = getattr(model, "enc_to_dec_proj", None)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model.encoder
            self.project = project
            self.blocks = nn.ModuleList(blocks)

        def forward(self, pixel_values: Tensor) -> tuple[Tensor, Tensor]:
            states = self.encoder(pixel_values=pixel_values).last_hidden_state
            if self.project is not None:
                states = self.project(states)
            keys, values = [], []
            for block in blocks:  # the same modules as self.blocks, typed as transformers'
                attention = block.crossattention
                key, value = attention.c_attn(states).split(attention.split_size, dim=2)
                keys.append(_heads(key, heads))
                values.append(_heads(value, heads))
            return torch.stack(keys, dim=1), torch.stack(values, dim=1)

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gpt2 = gpt2
            self.head = head

        def forward(
            self,
            tokens: Tensor,
            positions: Tensor,
            past_keys: Tensor,
            past_values: Tensor,
            cross_keys: Tensor,
            cross_values: Tensor,
        ) -> tuple[Tensor, Tensor, Tensor]:
            hidden = self.gpt2.wte(tokens[:, None]) + self.gpt2.wpe(positions[:, None])
            next_keys, next_values = [], []
            for layer, block in enumerate(self.gpt2.h):
                attention = block.attn
                query, key, value = attention.c_attn(block.ln_1(hidden)).split(
                    attention.split_size, dim=2
                )
                keys = torch.cat([past_keys[:, layer], _heads(key, heads)], dim=2)
                values = torch.cat([past_values[:, layer], _heads(value, heads)], dim=2)
                next_keys.append(keys)
                next_values.append(values)
                context = _attend(_heads(query, heads), keys, values, attention.scaling)
                hidden = hidden + attention.c_proj(context)
                cross = block.crossattention
                query = cross.q_attn(block.ln_cross_attn(hidden))
                context = _attend(
                    _heads(query, heads),
                    cross_keys[:, layer],
                    cross_values[:, layer],
                    cross.scaling,
                )
                hidden = hidden + cross.c_proj(context)
                hidden = hidden + block.mlp(block.ln_2(hidden))
            logits = _tied_output(self.gpt2.ln_f(hidden)[:, 0], self.head)
            return (
                torch.log_softmax(logits.float(), dim=-1),
                torch.stack(next_keys, dim=1),
                torch.stack(next_values, dim=1),
            )

    shape = CacheShape(
        layers=len(blocks),
        heads=heads,
        head_size=size,
        vocab_size=head.out_features,
        max_positions=gpt2.config.n_positions,
    )
    return Encoder().eval(), Step().eval(), shape


def _vit_gpt2_tokens(model: Any) -> dict[str, int]:
    config = model.generation_config
    start = config.decoder_start_token_id
    if start is None:
        start = model.config.decoder_start_token_id
    end = _one(config.eos_token_id if config.eos_token_id is not None else start, "eos_token_id")
    pad = config.pad_token_id if config.pad_token_id is not None else end
    return {"prompt": int(start), "end": end, "pad": int(pad)}


# --- BLIP (BlipForConditionalGeneration) --------------------------------------------------


def _blip_graphs(model: Any) -> tuple[nn.Module, nn.Module, CacheShape]:
    import torch
    from torch import nn

    decoder = model.text_decoder
    bert = decoder.bert
    layers: list[Any] = list(bert.encoder.layer)
    first = layers[0].attention.self
    heads = first.num_attention_heads
    size = first.attention_head_size
    scale = size**-0.5

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vision = model.vision_model
            self.layers = nn.ModuleList(layers)

        def forward(self, pixel_values: Tensor) -> tuple[Tensor, Tensor]:
            states = self.vision(pixel_values=pixel_values).last_hidden_state
            # The same modules as self.layers, typed as transformers' own.
            keys = [_heads(layer.crossattention.self.key(states), heads) for layer in layers]
            values = [_heads(layer.crossattention.self.value(states), heads) for layer in layers]
            return torch.stack(keys, dim=1), torch.stack(values, dim=1)

    class Step(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.cls = decoder.cls

        def forward(
            self,
            tokens: Tensor,
            positions: Tensor,
            past_keys: Tensor,
            past_values: Tensor,
            cross_keys: Tensor,
            cross_values: Tensor,
        ) -> tuple[Tensor, Tensor, Tensor]:
            embeddings = self.bert.embeddings
            hidden = embeddings.word_embeddings(tokens[:, None]) + embeddings.position_embeddings(
                positions[:, None]
            )
            hidden = embeddings.LayerNorm(hidden)
            next_keys, next_values = [], []
            for index, layer in enumerate(self.bert.encoder.layer):
                attention = layer.attention.self
                keys = torch.cat([past_keys[:, index], _heads(attention.key(hidden), heads)], dim=2)
                values = torch.cat(
                    [past_values[:, index], _heads(attention.value(hidden), heads)], dim=2
                )
                next_keys.append(keys)
                next_values.append(values)
                context = _attend(_heads(attention.query(hidden), heads), keys, values, scale)
                hidden = layer.attention.output(context, hidden)
                cross = layer.crossattention
                query = _heads(cross.self.query(hidden), heads)
                context = _attend(query, cross_keys[:, index], cross_values[:, index], scale)
                hidden = cross.output(context, hidden)
                hidden = layer.output(layer.intermediate(hidden), hidden)
            predictions = self.cls.predictions
            logits = _tied_output(predictions.transform(hidden[:, 0]), predictions.decoder)
            return (
                torch.log_softmax(logits.float(), dim=-1),
                torch.stack(next_keys, dim=1),
                torch.stack(next_values, dim=1),
            )

    shape = CacheShape(
        layers=len(layers),
        heads=heads,
        head_size=size,
        vocab_size=decoder.cls.predictions.decoder.out_features,
        max_positions=bert.config.max_position_embeddings,
    )
    return Encoder().eval(), Step().eval(), shape


def _blip_tokens(model: Any) -> dict[str, int]:
    """`BlipForConditionalGeneration.generate`: the prompt is the text config's `bos`
    alone, a caption ends at its `sep`, and pads with its `pad`."""
    text = model.config.text_config
    return {
        "prompt": int(text.bos_token_id),
        "end": int(text.sep_token_id),
        "pad": int(text.pad_token_id),
    }


def _one(value: int | list[int], name: str) -> int:
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(f"{name} {value} names several tokens; lukewarm ends on one")
        return int(value[0])
    return int(value)


FAMILIES: dict[str, Family] = {
    "vit-gpt2": Family(
        name="vit-gpt2",
        architectures=("VisionEncoderDecoderModel",),
        model_class="VisionEncoderDecoderModel",
        graphs=_vit_gpt2_graphs,
        special_tokens=_vit_gpt2_tokens,
        describe="VisionEncoderDecoderModel with a ViT encoder and a GPT-2 decoder "
        "(e.g. nlpconnect/vit-gpt2-image-captioning)",
    ),
    "blip": Family(
        name="blip",
        architectures=("BlipForConditionalGeneration",),
        model_class="BlipForConditionalGeneration",
        graphs=_blip_graphs,
        special_tokens=_blip_tokens,
        describe="BlipForConditionalGeneration (e.g. Salesforce/blip-image-captioning-base)",
    ),
}


def supported() -> str:
    """The supported families, for messages."""
    return "; ".join(family.describe for family in FAMILIES.values())


def family_for(config: dict[str, Any]) -> Family:
    """The family of a Hub `config.json`, or ValueError naming the supported ones."""
    architectures = list(config.get("architectures") or [])
    for family in FAMILIES.values():
        if any(name in family.architectures for name in architectures):
            if family.name == "vit-gpt2":
                encoder = (config.get("encoder") or {}).get("model_type")
                decoder = (config.get("decoder") or {}).get("model_type")
                if (encoder, decoder) != ("vit", "gpt2"):
                    raise ValueError(
                        f"a VisionEncoderDecoderModel of {encoder} and {decoder} is not "
                        f"supported; lukewarm imports {supported()}"
                    )
            return family
    named = ", ".join(architectures) or f"model_type {config.get('model_type')!r}"
    raise ValueError(f"{named} is not supported; lukewarm imports {supported()}")
