"""lukewarm's two additions to the tutorial's model: they save, load and caption like
the rest, and the count context does what it is there for."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from captioner import Captioner, ModelConfig, ModelFormatError, Vocabulary, save_model
from captioner.config import SPECIAL_TOKENS, DecoderConfig, EncoderConfig, PreprocessConfig
from captioner.model import Attention, CaptionModel


def test_count_context_tells_one_matching_cell_from_four() -> None:
    torch.manual_seed(0)
    attention = Attention(encoder_dim=8, decoder_dim=6, attention_dim=5, count=True).eval()
    shape, background = torch.randn(8), torch.zeros(8)
    one = torch.stack([shape] + [background] * 7).unsqueeze(0)  # (1, 8 cells, 8)
    four = torch.stack([shape] * 4 + [background] * 4).unsqueeze(0)
    hidden = torch.zeros(1, 6)
    with torch.inference_mode():
        contexts = [attention(grid, attention.project(grid), hidden) for grid in (one, four)]
    (_, _, amount_one), (_, _, amount_four) = contexts
    assert amount_one is not None and amount_four is not None
    # The sigmoid-weighted sum of four equal cells is four times that of one.
    torch.testing.assert_close(amount_four, 4 * amount_one)


def test_model_with_both_additions_saves_loads_and_captions_alike(tmp_path, photos) -> None:
    torch.manual_seed(3)
    config = ModelConfig(
        name="additions",
        version="1",
        encoder=EncoderConfig(
            backbone="resnet18",
            stages=2,
            encoded_size=4,
            position_embedding=True,
            context_layers=1,
        ),
        decoder=DecoderConfig(
            embed_dim=16, attention_dim=16, decoder_dim=24, dropout=0.0, count_context=True
        ),
        preprocess=PreprocessConfig(image_size=48),
        max_length=6,
    )
    vocabulary = Vocabulary((*SPECIAL_TOKENS, "red", "blue", "circle", "square"))
    model = CaptionModel(config.encoder, config.decoder, len(vocabulary)).eval()
    save_model(tmp_path / "model", config, vocabulary, model)

    loaded = Captioner.load(tmp_path / "model")
    assert loaded.config == config
    assert loaded.model.encoder.position is not None and len(loaded.model.encoder.context) == 1
    image = Image.open(photos["coffee"]).convert("RGB")
    original = Captioner(config, vocabulary, model).caption(image, beam=2, alternatives=1)
    again = loaded.caption(image, beam=2, alternatives=1)
    assert again.caption == original.caption
    assert again.score == pytest.approx(original.score, abs=1e-4)


@pytest.mark.parametrize(
    ("section", "key", "value", "problem"),
    [
        ("encoder", "position_embedding", "yes", "'yes' is not true or false"),
        ("decoder", "count_context", 1, "1 is not true or false"),
        ("encoder", "context_layers", 9, "9 is not 0-8"),
        ("encoder", "context_layers", "2", "'2' is not 0-8"),
    ],
)
def test_config_refuses_additions_it_cannot_build(
    section: str, key: str, value: object, problem: str
) -> None:
    data = ModelConfig(name="m", version="1").to_dict()
    data[section][key] = value
    with pytest.raises(ModelFormatError, match=f"{section}.{key} {problem}"):
        ModelConfig.from_dict(data)


def test_weights_that_do_not_fit_config_json_are_refused(tiny_model_dir, tmp_path) -> None:
    model_dir = tmp_path / "mismatched"
    shutil.copytree(tiny_model_dir, model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    config["decoder"]["decoder_dim"] += 8  # the weights were trained at the old width
    (model_dir / "config.json").write_text(json.dumps(config))

    with pytest.raises(ModelFormatError) as refused:
        Captioner.load(model_dir)

    message = str(refused.value)
    assert "weights.safetensors does not fit config.json" in message
    assert "has shape" in message and "expected" in message
