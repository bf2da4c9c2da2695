"""Training end to end at toy sizes: it runs, and what it writes is a model lukewarm loads."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from captioner import Captioner, CaptionModel, save_model
from toolkit.scenes import make_scene, vocabulary_words
from toolkit.train import (
    MODEL_NAME,
    TrainingSettings,
    anneal,
    demo_vocabulary,
    layout_targets,
    main,
    model_config,
    train,
)

TOY = TrainingSettings(
    steps=2,
    anneal_steps=2,
    batch_size=4,
    image_size=48,
    stages=1,
    encoded_size=3,
    embed_dim=8,
    attention_dim=8,
    decoder_dim=16,
    workers=0,
)


def test_training_writes_a_loadable_model_dir_reproducibly(tmp_path: Path) -> None:
    config = train(TOY, tmp_path / "a", quiet=True)
    train(TOY, tmp_path / "b", quiet=True)
    files = ["config.json", "vocab.json", "weights.safetensors"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == files
    # Readable by the non-root user a container runs the function as.
    assert all((tmp_path / "a" / name).stat().st_mode & 0o044 == 0o044 for name in files)
    weights = [(tmp_path / run / "weights.safetensors").read_bytes() for run in "ab"]
    assert weights[0] == weights[1], "the same seed must train the same weights"

    captioner = Captioner.load(tmp_path / "a")
    assert captioner.info == {"name": MODEL_NAME, "version": config.version, "runtime": "torch"}
    assert set(vocabulary_words()) <= set(captioner.vocabulary.words)
    caption = captioner.caption(make_scene("evaluate", 0, 0).image, beam=2)
    assert set(caption.caption.split()) <= set(vocabulary_words())


def test_command_line_reports_where_the_model_went(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli-model"
    argv = ["--seed", "1", "--out", str(out), "--steps", "1", "--anneal-steps", "1"]
    argv += ["--batch-size", "2", "--image-size", "48", "--workers", "0"]
    assert main(argv) == 0
    assert str(out) in capsys.readouterr().out
    assert Captioner.load(out).info["name"] == MODEL_NAME


def test_second_phase_from_a_checkpoint_equals_one_uninterrupted_run(tmp_path: Path) -> None:
    """How the committed model was made: the first phase's checkpoint, annealed on its own,
    gives the same weights as `make demo-model` in one go."""
    train(TOY, tmp_path / "whole", checkpoints=tmp_path / "steps", checkpoint_every=2, quiet=True)
    config = model_config(TOY)
    vocabulary = demo_vocabulary()
    model = CaptionModel(config.encoder, config.decoder, len(vocabulary))
    model.load_state_dict(load_file(tmp_path / "steps" / "step-00002" / "weights.safetensors"))
    save_model(tmp_path / "resumed", config, vocabulary, anneal(model, TOY, quiet=True).eval())
    whole, resumed = (
        load_file(tmp_path / run / "weights.safetensors") for run in ("whole", "resumed")
    )
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


def test_layout_targets_mark_each_shape_with_its_group_and_count() -> None:
    for index in range(20):
        scene = make_scene("train", 5, index)
        cells = 10
        grid = layout_targets(scene, cells).view(cells, cells)
        pitch = scene.image.width / cells
        expected = set()
        for shape in scene.shapes:
            group = [(g.kind, g.colour, g.size) for g in scene.groups].index(
                (shape.kind, shape.colour, shape.size)
            )
            label = 1 + 4 * group + scene.groups[group].count - 1
            expected.add(label)
            assert grid[int(shape.y / pitch), int(shape.x / pitch)] == label, scene.caption
        assert set(grid.unique().tolist()) == {0, *expected}
        # Shapes cover a few cells each; most of the scene is background.
        assert (grid == 0).float().mean() > 0.6
