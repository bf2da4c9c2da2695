"""Random-initialised captioners of each Hub family, saved in the Hub's layout.

No pretrained weights can be downloaded where lukewarm is tested, so the tests (`tiny`)
and the benchmarks (`full`: the published models' sizes) build their own: transformers
builds the model from a config, `tokenizers` trains a tokenizer on scene captions, and
`save_pretrained` writes `config.json`, `model.safetensors`, `generation_config.json` and
`preprocessor_config.json` as the Hub holds them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SIZES = ("tiny", "full")
TINY_VOCAB = 400
GENERATION = {"num_beams": 3, "max_length": 14, "length_penalty": 1.0, "early_stopping": False}
"""Generation settings of the random models: beam search, as both published cards use."""


def _corpus(count: int = 400) -> list[str]:
    from toolkit.scenes import make_scene

    return [make_scene("train", 5, i, size=64).caption for i in range(count)]


def gpt2_tokenizer(vocab_size: int) -> Any:
    """A byte-level BPE like GPT-2's, its one special token `<|endoftext|>` at id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    return tokenizer


def bert_tokenizer(vocab_size: int) -> Any:
    """A lower-casing WordPiece like BLIP's BERT one, with its `[DEC]` start token."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    unknown = "[UNK]"
    tokenizer = Tokenizer(models.WordPiece(unk_token=unknown))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    return tokenizer


def vit_gpt2(out_dir: Path, *, size: str = "tiny", seed: int = 0, **generation: Any) -> Path:
    """A random ViT + GPT-2 `VisionEncoderDecoderModel` in the Hub's layout at `out_dir`."""
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    torch.manual_seed(seed)
    tokenizer = gpt2_tokenizer(TINY_VOCAB)
    end = tokenizer.token_to_id("<|endoftext|>")
    if size == "tiny":
        image = 32
        encoder = ViTConfig(
            hidden_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=96,
            image_size=image,
            patch_size=8,
            initializer_range=0.2,
        )
        decoder = GPT2Config(
            vocab_size=TINY_VOCAB,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=64,
            initializer_range=0.2,
        )
    else:
        image = 224
        encoder = ViTConfig()
        decoder = GPT2Config()
    decoder.update({"add_cross_attention": True, "is_decoder": True})
    decoder.bos_token_id = decoder.eos_token_id = end
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = end
    model = VisionEncoderDecoderModel(config).eval()
    model.generation_config.update(
        decoder_start_token_id=end,
        bos_token_id=end,
        eos_token_id=end,
        pad_token_id=end,
        **{**GENERATION, **generation},
    )
    model.save_pretrained(out_dir)
    processor = ViTImageProcessor(size={"height": image, "width": image})
    processor.save_pretrained(out_dir)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    return out_dir


def blip(out_dir: Path, *, size: str = "tiny", seed: int = 0, **generation: Any) -> Path:
    """A random `BlipForConditionalGeneration` in the Hub's layout at `out_dir`."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    torch.manual_seed(seed)
    tokenizer = bert_tokenizer(TINY_VOCAB)
    ids = {name: tokenizer.token_to_id(name) for name in ("[PAD]", "[SEP]", "[DEC]")}
    specials = {
        "pad_token_id": ids["[PAD]"],
        "sep_token_id": ids["[SEP]"],
        "bos_token_id": ids["[DEC]"],
    }
    if size == "tiny":
        image = 32
        text = {
            "vocab_size": TINY_VOCAB,
            "hidden_size": 32,
            "encoder_hidden_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "max_position_embeddings": 64,
            "initializer_range": 0.2,
        }
        vision = {
            "hidden_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 96,
            "image_size": image,
            "patch_size": 8,
            "initializer_range": 0.2,
        }
    else:
        image = 384
        text, vision = {}, {"image_size": image}
    config = BlipConfig(
        text_config={**text, **specials, "eos_token_id": ids["[SEP]"]}, vision_config=vision
    )
    model = BlipForConditionalGeneration(config).eval()
    model.generation_config.update(
        bos_token_id=ids["[DEC]"],
        eos_token_id=ids["[SEP]"],
        pad_token_id=ids["[PAD]"],
        **{**GENERATION, **generation},
    )
    model.save_pretrained(out_dir)
    BlipImageProcessor(size={"height": image, "width": image}).save_pretrained(out_dir)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    return out_dir


BUILDERS = {"vit-gpt2": vit_gpt2, "blip": blip}


def random_model(
    family: str, out_dir: str | Path, *, size: str = "tiny", **generation: Any
) -> Path:
    """A random model of `family` (`vit-gpt2` or `blip`) at `size` in the Hub's layout."""
    if size not in SIZES:
        raise ValueError(f"size {size!r} is not one of {', '.join(SIZES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    BUILDERS[family](out, size=size, **generation)
    (out / "lukewarm-random.json").write_text(json.dumps({"family": family, "size": size}) + "\n")
    return out
