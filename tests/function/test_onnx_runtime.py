"""The ONNX Runtime backend against the torch one: same pixels, same beam search, same
captions; and the refusals a user meets when the export is missing, stale or unknown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from captioner import ModelFormatError, configure_threads, load_captioner
from captioner.config import PreprocessConfig
from captioner.preprocess import to_array, to_tensor
from tests.conftest import DEMO_MODEL_DIR
from toolkit.scenes import make_scene

AGREEMENT_SCENES = 40
"""Held-out scenes of `make evaluate`'s seed compared in every test run (all 500:
`python -m toolkit.agreement`)."""


@pytest.fixture(scope="module")
def demo() -> dict[str, object]:
    return {runtime: load_captioner(DEMO_MODEL_DIR, runtime) for runtime in ("onnx", "torch")}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> dict[str, object]:
    return {runtime: load_captioner(tiny_model_dir, runtime) for runtime in ("onnx", "torch")}


def test_numpy_preprocessing_gives_torch_s_numbers_exactly(photos: dict[str, Path]) -> None:
    config = PreprocessConfig(image_size=80)
    images = [Image.open(path).convert("RGB") for path in photos.values()]
    images.append(make_scene("evaluate", 1000003, 0).image)
    for image in images:
        assert np.array_equal(to_array(image, config), to_tensor(image, config).numpy())


def test_onnx_captions_held_out_scenes_as_torch_does(demo: dict[str, object]) -> None:
    scenes = [make_scene("evaluate", 1000003, i) for i in range(AGREEMENT_SCENES)]
    images = [scene.image for scene in scenes]
    onnx, torch_ = (
        demo[r].caption_batch(images, beam=3, alternatives=2) for r in ("onnx", "torch")
    )
    for got, want in zip(onnx, torch_, strict=True):
        assert got.caption == want.caption
        assert got.score == pytest.approx(want.score, abs=1e-3)
        assert [a.caption for a in got.alternatives] == [a.caption for a in want.alternatives]
    # The demo model knows these scenes: what it says is the truth, not just torch's echo.
    right = sum(c.caption == s.caption for c, s in zip(onnx, scenes, strict=True))
    assert right >= 0.95 * AGREEMENT_SCENES


@pytest.mark.parametrize(("beam", "alternatives"), [(1, 0), (2, 1), (5, 4), (10, 5)])
def test_beam_search_matches_torch_at_every_width(
    tiny: dict[str, object], photos: dict[str, Path], beam: int, alternatives: int
) -> None:
    """The random tiny model's captions are nonsense, so many beams tie and end at
    different steps: the bookkeeping is exercised, not just the best path."""
    images = [Image.open(path).convert("RGB") for path in photos.values()]
    onnx, torch_ = (
        tiny[r].caption_batch(images, beam=beam, alternatives=alternatives)
        for r in ("onnx", "torch")
    )
    for got, want in zip(onnx, torch_, strict=True):
        assert got.caption == want.caption
        assert got.score == pytest.approx(want.score, abs=1e-4)
        assert len(got.alternatives) == len(want.alternatives) <= alternatives
        for a, b in zip(got.alternatives, want.alternatives, strict=True):
            assert (a.caption, a.score) == (b.caption, pytest.approx(b.score, abs=1e-4))
        assert set(got.timing_ms) == {"preprocess", "encode", "decode"}


def test_a_batch_captions_each_image_as_alone(tiny: dict[str, object], photos) -> None:
    images = [Image.open(path).convert("RGB") for path in photos.values()]
    together = tiny["onnx"].caption_batch(images, beam=3, alternatives=1)
    alone = [tiny["onnx"].caption(image, beam=3, alternatives=1) for image in images]
    assert [c.caption for c in together] == [c.caption for c in alone]
    assert [c.score for c in together] == pytest.approx([c.score for c in alone], abs=1e-5)


def test_the_runtime_comes_from_the_argument_or_the_environment(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUKEWARM_RUNTIME", raising=False)
    assert load_captioner(tiny_model_dir).info["runtime"] == "onnx"
    monkeypatch.setenv("LUKEWARM_RUNTIME", "torch")
    assert load_captioner(tiny_model_dir).info["runtime"] == "torch"
    assert load_captioner(tiny_model_dir, "onnx").info["runtime"] == "onnx"
    monkeypatch.setenv("LUKEWARM_RUNTIME", "tensorflow")
    with pytest.raises(ModelFormatError, match=r"LUKEWARM_RUNTIME 'tensorflow' .* onnx, torch"):
        load_captioner(tiny_model_dir)
    with pytest.raises(ModelFormatError, match=r"runtime 'jax' is not one of onnx, torch"):
        load_captioner(tiny_model_dir, "jax")


def test_sessions_get_the_configured_threads(tiny_model_dir: Path) -> None:
    try:
        assert configure_threads(2, runtime="onnx") == 2
        captioner = load_captioner(tiny_model_dir, "onnx")
        for session in (captioner.encoder, captioner.step):
            assert session.get_session_options().intra_op_num_threads == 2
    finally:
        configure_threads(1, runtime="onnx")


def test_torch_already_loaded_gets_the_same_threads() -> None:
    """Tools that load torch themselves and then configure threads the default way keep
    a single-threaded torch when asked for one thread (test_container shows that the
    function on onnx never imports torch)."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        configure_threads(1, runtime="onnx")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
        configure_threads(1, runtime="onnx")


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    return copy


def test_a_missing_export_is_refused_with_the_command_that_makes_it(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    shutil.rmtree(model / "onnx")
    with pytest.raises(ModelFormatError, match=rf"no ONNX export.*`lukewarm export {model}`"):
        load_captioner(model, "onnx")
    assert load_captioner(model, "torch").info["runtime"] == "torch"


@pytest.mark.parametrize("change", ["weights", "config", "vocabulary"])
def test_a_stale_export_is_refused_never_served(
    tiny_model_dir: Path, tmp_path: Path, change: str
) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    if change == "weights":
        data = bytearray((model / "weights.safetensors").read_bytes())
        data[-4:] = bytes(4)  # the last weight becomes 0.0: same shapes, other numbers
        (model / "weights.safetensors").write_bytes(data)
        changed = "weights.safetensors"
    elif change == "config":
        config = json.loads((model / "config.json").read_text())
        config["max_length"] = 5
        (model / "config.json").write_text(json.dumps(config))
        changed = "config.json"
    else:
        words = json.loads((model / "vocab.json").read_text())
        (model / "vocab.json").write_text(json.dumps([*words[:-1], "triangle"]))
        changed = "vocab.json"
    with pytest.raises(ModelFormatError, match=rf"stale: {changed} changed.*lukewarm export"):
        load_captioner(model, "onnx")


def test_a_deployed_directory_without_weights_loads_on_its_export(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The onnx image carries config.json, vocab.json and onnx/ only."""
    model = _copy(tiny_model_dir, tmp_path)
    (model / "weights.safetensors").unlink()
    image = make_scene("evaluate", 1000003, 1).image
    got = load_captioner(model, "onnx").caption(image)
    assert got.caption == load_captioner(tiny_model_dir, "onnx").caption(image).caption


def test_a_damaged_export_file_is_refused_clearly(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    graph = model / "onnx" / "decoder_step.onnx"
    graph.write_bytes(b"not a model".ljust(graph.stat().st_size, b"!"))  # at its own size
    with pytest.raises(ModelFormatError, match=r"decoder_step.onnx cannot be loaded"):
        load_captioner(model, "onnx")


def test_an_export_without_its_weights_file_is_refused_clearly(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    model = _copy(tiny_model_dir, tmp_path)
    (model / "onnx" / "encoder.onnx.data").unlink()
    with pytest.raises(ModelFormatError, match=r"encoder.onnx.data is missing.*lukewarm export"):
        load_captioner(model, "onnx")


def test_top_candidates_come_best_first_ties_by_lower_index() -> None:
    """Small integer scores tie often; -inf marks dead beams and impossible words."""
    from captioner.ort import _top

    rng = np.random.default_rng(0)
    for _ in range(300):
        rows, width, count = rng.integers(1, 4), rng.integers(1, 40), int(rng.integers(1, 8))
        candidates = rng.integers(-4, 4, (rows, width)).astype(np.float32)
        candidates[rng.random((rows, width)) < 0.3] = -np.inf
        values, indices = _top(candidates, count)
        assert values.shape == indices.shape == (rows, min(count, width))
        for row, picked, scores in zip(candidates, indices, values, strict=True):
            ranked = sorted(range(width), key=lambda i: (-row[i], i))[: len(picked)]
            assert list(scores) == [row[i] for i in ranked]
            finite = [i for i in ranked if np.isfinite(row[i])]
            assert list(picked[: len(finite)]) == finite
