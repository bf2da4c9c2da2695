"""The scene generator: what a person training or evaluating the demo model relies on."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

from tests.conftest import DEMO_MODEL_DIR
from toolkit.scenes import (
    COLOURS,
    COUNTS,
    KINDS,
    PLURALS,
    SCENE_SIZE,
    SIZES,
    Scene,
    make_scene,
    vocabulary_words,
)
from toolkit.train import demo_vocabulary

GROUP = (
    rf"(?P<count{{n}}>{'|'.join(COUNTS)}) (?P<size{{n}}>{'|'.join(SIZES)}) "
    rf"(?P<colour{{n}}>{'|'.join(COLOURS)}) (?P<kind{{n}}>{'|'.join([*KINDS, *PLURALS.values()])})"
)
CAPTION = re.compile(
    rf"^{GROUP.format(n=1)}"
    rf"( (?P<position>at the top|at the bottom|on the left|on the right)"
    rf"| (?P<relation>above|to the left of) {GROUP.format(n=2)})$"
)
ROWS, COLUMNS = np.mgrid[0:SCENE_SIZE, 0:SCENE_SIZE]
SINGULAR = {plural: kind for kind, plural in PLURALS.items()} | {kind: kind for kind in KINDS}


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return [make_scene("train", 7, i) for i in range(200)]


def parse(caption: str) -> tuple[list[tuple[int, str, str, str]], str]:
    """Groups (count, size, colour, kind) in caption order, and the relation or position."""
    match = CAPTION.match(caption)
    assert match, f"caption outside the grammar: {caption!r}"
    groups = []
    for n in (1, 2):
        if match[f"count{n}"]:
            count = COUNTS.index(match[f"count{n}"]) + 1
            noun = match[f"kind{n}"]
            assert (noun in PLURALS.values()) == (count > 1), f"number agreement: {caption!r}"
            groups.append((count, match[f"size{n}"], match[f"colour{n}"], SINGULAR[noun]))
    return groups, match["position"] or match["relation"]


def background_texture(scene: Scene) -> float:
    """Standard deviation of the pixels well away from every shape."""
    clear = np.ones((SCENE_SIZE, SCENE_SIZE), dtype=bool)
    for shape in scene.shapes:
        clear &= np.hypot(COLUMNS - shape.x, ROWS - shape.y) > shape.radius * 1.5 + 3
    return float(np.asarray(scene.image, dtype=np.float32)[clear].std(axis=0).mean())


def test_same_seed_same_scene_and_splits_never_share_scenes() -> None:
    first, again = make_scene("train", 3, 41), make_scene("train", 3, 41)
    assert first.caption == again.caption
    assert first.image.tobytes() == again.image.tobytes()
    held_out = make_scene("evaluate", 3, 41)
    assert held_out.image.tobytes() != first.image.tobytes()
    assert make_scene("train", 4, 41).image.tobytes() != first.image.tobytes()


def test_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match="split"):
        make_scene("test", 0, 0)


def test_images_are_rgb_squares_of_at_least_96_pixels(scenes: list[Scene]) -> None:
    assert SCENE_SIZE >= 96
    assert {(s.image.mode, s.image.size) for s in scenes} == {("RGB", (SCENE_SIZE, SCENE_SIZE))}


def test_caption_states_exactly_the_shapes_drawn(scenes: list[Scene]) -> None:
    for scene in scenes:
        groups, _ = parse(scene.caption)
        drawn = Counter((s.size, s.colour, s.kind) for s in scene.shapes)
        stated = Counter({(size, colour, kind): count for count, size, colour, kind in groups})
        assert drawn == stated, scene.caption
        assert 1 <= len(scene.shapes) <= 4


def test_relation_matches_where_the_shapes_are(scenes: list[Scene]) -> None:
    middle = SCENE_SIZE / 2
    for scene in scenes:
        groups, relation = parse(scene.caption)
        members = [
            [s for s in scene.shapes if (s.size, s.colour, s.kind) == (size, colour, kind)]
            for _, size, colour, kind in groups
        ]
        if relation == "above":
            assert max(s.y for s in members[0]) < min(s.y for s in members[1]), scene.caption
        elif relation == "to the left of":
            assert max(s.x for s in members[0]) < min(s.x for s in members[1]), scene.caption
        else:
            coordinate, sign = {
                "at the top": ("y", -1),
                "at the bottom": ("y", 1),
                "on the left": ("x", -1),
                "on the right": ("x", 1),
            }[relation]
            assert all(sign * (getattr(s, coordinate) - middle) > 0 for s in members[0])


def test_the_generator_covers_every_word_kind_colour_size_and_count(scenes: list[Scene]) -> None:
    shapes = [s for scene in scenes for s in scene.shapes]
    assert {s.kind for s in shapes} == set(KINDS) and len(KINDS) >= 5
    assert {s.colour for s in shapes} == set(COLOURS) and len(COLOURS) == 8
    assert {s.size for s in shapes} == set(SIZES)
    assert {len(scene.shapes) for scene in scenes} == {1, 2, 3, 4}
    used = {word for scene in scenes for word in scene.caption.split()}
    assert used == set(vocabulary_words())


def test_backgrounds_vary_from_plain_to_photos(scenes: list[Scene]) -> None:
    assert {s.background for s in scenes} == {"plain", "gradient", "noise", "photo"}
    spread = {
        kind: np.median([background_texture(s) for s in scenes if s.background == kind])
        for kind in ("plain", "photo")
    }
    assert spread["photo"] > 2 * spread["plain"]
    mean_colours = {tuple(np.asarray(s.image).mean(axis=(0, 1)).round(-1)) for s in scenes}
    assert len(mean_colours) > 50


def test_each_shape_shows_its_own_colour_against_the_background(scenes: list[Scene]) -> None:
    """At a shape's centre (when no other shape covers it) the pixels are its colour,
    far from the background around the shape."""
    checked = 0
    for scene in scenes:
        pixels = np.asarray(scene.image, dtype=np.float32)
        for shape in scene.shapes:
            others = [o for o in scene.shapes if o is not shape]
            if any(np.hypot(o.x - shape.x, o.y - shape.y) < o.radius + 3 for o in others):
                continue
            x, y = round(shape.x), round(shape.y)
            centre = pixels[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(axis=0)
            distances = {
                name: np.linalg.norm(centre - np.array(rgb)) for name, rgb in COLOURS.items()
            }
            assert min(distances, key=distances.__getitem__) == shape.colour, scene.caption
            checked += 1
    assert checked > 300


def test_every_caption_word_is_in_the_demo_vocabulary(scenes: list[Scene]) -> None:
    vocabulary = demo_vocabulary()
    assert all(vocabulary.unk not in vocabulary.encode(s.caption) for s in scenes)


@pytest.mark.skipif(not DEMO_MODEL_DIR.joinpath("vocab.json").exists(), reason="no demo model")
def test_committed_model_knows_every_caption_word() -> None:
    committed = json.loads(DEMO_MODEL_DIR.joinpath("vocab.json").read_text())
    assert set(vocabulary_words()) <= set(committed)
