"""`lukewarm convert`: a tutorial checkpoint becomes a model that captions exactly as the
tutorial's own modules do, and every bad input is refused with a reason."""

from __future__ import annotations

import json
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from bench.original import models as tutorial
from bench.original.caption import caption_image_beam_search, preprocess, words
from captioner import Captioner
from lukewarm.__main__ import main

WORDS = ["<pad>", *(f"word{i}" for i in range(40)), "<unk>", "<start>", "<end>"]
"""Numbered the tutorial's way: `<pad>` first, the special tokens last."""


SMALL_INPUT = ("--encoded-size", 4, "--image-size", 64)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core machine, two threads that wait on each other
    cost more than they gain."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _word_map(path: Path, word_map: dict[str, int] | None = None) -> Path:
    path.write_text(json.dumps(word_map or {w: i for i, w in enumerate(WORDS)}))
    return path


def _small_modules(seed: int = 0) -> tuple[tutorial.Encoder, tutorial.DecoderWithAttention]:
    """The tutorial's structure on a ResNet-18 with small decoder sizes: fast edge cases."""
    torch.manual_seed(seed)
    encoder = tutorial.Encoder(4, backbone="resnet18").eval()
    decoder = tutorial.DecoderWithAttention(16, 16, 32, len(WORDS), encoder_dim=512).eval()
    return encoder, decoder


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_state_dicts(tmp_path_factory.mktemp("small") / "c.pth", *_small_modules())


def _save_state_dicts(path: Path, encoder: torch.nn.Module, decoder: torch.nn.Module) -> Path:
    torch.save({"epoch": 7, "encoder": encoder.state_dict(), "decoder": decoder.state_dict()}, path)
    return path


def _convert(*args: object) -> int:
    return main(["convert", *(str(a) for a in args)])


def _photo(photos: dict[str, Path], size: int) -> Image.Image:
    """A real photo already at the model's input size, so both pipelines see equal pixels."""
    return Image.open(photos["motorcycle"]).convert("RGB").resize((size, size))


def test_resnet101_checkpoint_converts_and_matches_the_tutorial_modules(
    tmp_path: Path, photos: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(1)
    # The real ResNet-101 and 512/512/512 decoder; a small image and grid keep it fast.
    encoder = tutorial.Encoder(4).eval()
    decoder = tutorial.DecoderWithAttention(512, 512, 512, len(WORDS)).eval()
    checkpoint = _save_state_dicts(tmp_path / "BEST_checkpoint.pth.tar", encoder, decoder)
    out = tmp_path / "model"

    assert _convert(checkpoint, _word_map(tmp_path / "WORDMAP.json"), out, *SMALL_INPUT) == 0

    printed = capsys.readouterr().out
    params = sum(p.numel() for p in [*encoder.parameters(), *decoder.parameters()])
    assert f"{params:,} parameters" in printed
    assert "resnet101" in printed and f"vocabulary {len(WORDS)} words" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "onnx",
        "vocab.json",
        "weights.safetensors",
    ]
    captioner = Captioner.load(out)
    vocab = captioner.vocabulary.words
    assert vocab[:4] == ("<pad>", "<start>", "<end>", "<unk>")
    word_map = {w: i for i, w in enumerate(WORDS)}
    new_id = {w: i for i, w in enumerate(vocab)}

    image = _photo(photos, 64)
    pixels = preprocess(image, 64).unsqueeze(0)
    with torch.no_grad():
        original_grid = encoder(pixels).view(1, -1, 2048)
        grid = captioner.model.encoder(pixels)
        assert torch.allclose(grid, original_grid, atol=1e-5)

        sentence = ("<start>", "word3", "word7", "word1")
        original_logits = decoder(original_grid, torch.tensor([[word_map[w] for w in sentence]]))
        logits, _ = captioner.model.decoder(grid, torch.tensor([[new_id[w] for w in sentence]]))
    # Column j of lukewarm's logits is the word the tutorial numbered WORDS.index(vocab[j]).
    assert torch.allclose(logits, original_logits[..., [word_map[w] for w in vocab]], atol=1e-4)

    # Greedy decoding is the same search in both; the tutorial's limit set to lukewarm's.
    limit = captioner.config.max_length
    seq, _ = caption_image_beam_search(encoder, decoder, pixels[0], word_map, 1, max_steps=limit)
    assert captioner.caption(image, beam=1).caption == words(seq, word_map)


@pytest.mark.filterwarnings("ignore:Couldn't retrieve source code")  # classes made here
def test_pickled_module_checkpoint_needs_trust_pickle(
    tmp_path: Path,
    photos: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    encoder, decoder = _small_modules()
    # The tutorial's train.py pickles its modules (classes of its `models.py`) and optimizer.
    models = types.ModuleType("models")
    for module in (encoder, decoder, decoder.attention):
        cls = type(type(module).__name__, (type(module),), {"__module__": "models"})
        setattr(models, cls.__name__, cls)
        module.__class__ = cls
    monkeypatch.setitem(sys.modules, "models", models)
    checkpoint = tmp_path / "checkpoint.pth.tar"
    optimizer = torch.optim.Adam(decoder.parameters())
    # The tutorial's published checkpoint predates torch's zip format: save the old one.
    contents = {"encoder": encoder, "decoder": decoder, "decoder_optimizer": optimizer}
    torch.save(contents, checkpoint, _use_new_zipfile_serialization=False)
    monkeypatch.delitem(sys.modules, "models")  # the converter has no tutorial code
    word_map_file, out = _word_map(tmp_path / "wm.json"), tmp_path / "model"

    assert _convert(checkpoint, word_map_file, out, "--encoded-size", 4) == 1
    refused = capsys.readouterr().err
    assert "models.Encoder" in refused and "is code" in refused and "--trust-pickle" in refused
    assert not out.exists()

    assert _convert(checkpoint, word_map_file, out, *SMALL_INPUT, "--trust-pickle") == 0
    assert "is code" in capsys.readouterr().err
    image = _photo(photos, 64)
    word_map = {w: i for i, w in enumerate(WORDS)}
    seq, _ = caption_image_beam_search(encoder, decoder, preprocess(image, 64), word_map, 1, 24)
    assert Captioner.load(out).caption(image, beam=1).caption == words(seq, word_map)


@pytest.mark.parametrize("layout", ["flat", "data-parallel"])
def test_other_layouts_of_the_same_tensors_convert_alike(tmp_path: Path, layout: str) -> None:
    encoder, decoder = _small_modules()
    if layout == "flat":  # one state dict of the whole model
        state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
        state |= {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    else:  # nn.DataParallel prefixes every name with `module.`
        state = {
            part: {f"module.{k}": v for k, v in module.state_dict().items()}
            for part, module in (("encoder", encoder), ("decoder", decoder))
        }
    torch.save(state, tmp_path / "c.pth")
    word_map, out = _word_map(tmp_path / "wm.json"), tmp_path / "model"

    assert _convert(tmp_path / "c.pth", word_map, out, *SMALL_INPUT) == 0
    weights = Captioner.load(out).model.state_dict()
    assert torch.equal(weights["encoder.resnet.0.weight"], encoder.resnet[0].weight)
    assert torch.equal(weights["decoder.init_h.bias"], decoder.init_h.bias)


def test_options_reach_the_config(tmp_path: Path, small_checkpoint: Path) -> None:
    checkpoint = small_checkpoint
    out = tmp_path / "model"
    args = ["--encoded-size", 4, "--image-size", 64, "--max-length", 12]
    args += ["--name", "coco-sat", "--version", "2024.1", "--quantize", "int8-dynamic"]
    assert _convert(checkpoint, _word_map(tmp_path / "wm.json"), out, *args) == 0

    config = json.loads((out / "config.json").read_text())
    assert (config["name"], config["version"], config["quantize"]) == (
        "coco-sat",
        "2024.1",
        "int8-dynamic",
    )
    assert config["encoder"] == {
        "backbone": "resnet18",
        "stages": 4,
        "encoded_size": 4,
        "position_embedding": False,  # the tutorial's model has none of lukewarm's additions
        "context_layers": 0,
    }
    assert config["decoder"]["count_context"] is False
    assert config["preprocess"]["image_size"] == 64 and config["max_length"] == 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing for every cold start's log
        captioner = Captioner.load(out)
    assert isinstance(captioner.model.decoder.fc, torch.ao.nn.quantized.dynamic.Linear)
    assert isinstance(captioner.model.decoder.decode_step, torch.ao.nn.quantized.dynamic.LSTMCell)
    caption = captioner.caption(Image.new("RGB", (80, 60), "red"))
    assert len(caption.caption.split()) <= 12


def _drop_block(encoder: dict[str, torch.Tensor], decoder: dict[str, torch.Tensor]) -> None:
    for key in [k for k in encoder if k.startswith("resnet.4.1.")]:
        del encoder[key]


DAMAGES = {
    "missing decoder: fc.bias": lambda e, d: d.pop("fc.bias"),
    "decoder: init_c.weight has shape (32, 7), expected (32, 512)": (
        lambda e, d: d.update({"init_c.weight": torch.zeros(32, 7)})
    ),
    "unexpected encoder: resnet.9.weight": lambda e, d: e.update(
        {"resnet.9.weight": torch.ones(1)}
    ),
    "not a DecoderWithAttention": lambda e, d: d.pop("embedding.weight"),
    "not a torchvision ResNet trunk": _drop_block,
}


@pytest.mark.parametrize("message", DAMAGES)
def test_checkpoints_that_do_not_fit_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], message: str
) -> None:
    encoder, decoder = _small_modules()
    encoder_state, decoder_state = encoder.state_dict(), decoder.state_dict()
    DAMAGES[message](encoder_state, decoder_state)
    checkpoint = tmp_path / "c.pth"
    torch.save({"encoder": encoder_state, "decoder": decoder_state}, checkpoint)
    out = tmp_path / "model"

    assert _convert(checkpoint, _word_map(tmp_path / "wm.json"), out, "--encoded-size", 4) == 1
    assert message in capsys.readouterr().err
    assert {p.name for p in tmp_path.iterdir()} == {"c.pth", "wm.json"}


@pytest.mark.parametrize(
    ("word_map", "message"),
    [
        ("{not json", "is not valid JSON"),
        (json.dumps(["<pad>", "<start>"]), "JSON object of word to integer id"),
        (
            json.dumps({w: i for i, w in enumerate(WORDS[:-1])}),
            "lacks the special tokens ['<end>']",
        ),
        (json.dumps({w: i * 2 for i, w in enumerate(WORDS)}), "each once"),
        (
            json.dumps({**{w: i for i, w in enumerate(WORDS)}, "extra": len(WORDS)}),
            "the word map has 45 words but the decoder's embedding has 44 rows",
        ),
    ],
)
def test_bad_word_maps_are_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    small_checkpoint: Path,
    word_map: str,
    message: str,
) -> None:
    (tmp_path / "wm.json").write_text(word_map)

    assert _convert(small_checkpoint, tmp_path / "wm.json", tmp_path / "model") == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_files_that_are_not_checkpoints_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    word_map = _word_map(tmp_path / "wm.json")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "other.pth")
    cases = {
        tmp_path / "missing.pth": "does not exist",
        tmp_path / "notes.txt": "is not a PyTorch checkpoint",
        tmp_path / "other.pth": "no 'encoder' and 'decoder' entries (found state_dict)",
    }
    for checkpoint, message in cases.items():
        assert _convert(checkpoint, word_map, tmp_path / "model") == 1
        assert message in capsys.readouterr().err


def test_an_existing_model_is_kept_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    word_map = _word_map(tmp_path / "wm.json")
    first = _save_state_dicts(tmp_path / "a.pth", *_small_modules(seed=0))
    second = _save_state_dicts(tmp_path / "b.pth", *_small_modules(seed=1))
    out = tmp_path / "model"
    assert _convert(first, word_map, out, "--encoded-size", 4, "--version", "a") == 0
    weights = (out / "weights.safetensors").read_bytes()

    assert _convert(second, word_map, out, "--encoded-size", 4, "--version", "b") == 1
    assert "not empty (--force replaces it)" in capsys.readouterr().err
    assert (out / "weights.safetensors").read_bytes() == weights

    assert _convert(second, word_map, out, "--encoded-size", 4, "--version", "b", "--force") == 0
    assert Captioner.load(out).info["version"] == "b"
    assert (out / "weights.safetensors").read_bytes() != weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth", "b.pth", "model", "wm.json"]
