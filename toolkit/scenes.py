"""Procedural scenes with exactly one true caption, for the built-in demo model.

A scene is one or two *groups* of identical shapes (same kind, colour and size), 1-4
shapes in all, on a background that is a plain colour, a gradient, noise or a crop of a
real photo. Its caption is a deterministic function of the scene:

    <group> (on the left | on the right | at the top | at the bottom)
    <group> (above | to the left of) <group>
    <group> = (a | two | three | four) (small | large) <colour> <kind>[s]

For one group the relation is its position in the image; for two, the first group is
the upper (or left) one. The axis is the one along which the group centroids are
further apart, and the generator only emits scenes where that choice is clear-cut (the
major offset is at least 1.5 times the minor one, and every centre of one side is
beyond every centre of the other), so the caption can be read from the pixels.

Every scene comes from its own random generator seeded by (split, seed, index):
training and evaluation scenes cannot coincide, whatever seeds are chosen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PHOTOS_DIR = Path(__file__).resolve().parent.parent / "data" / "photos"
SCENE_SIZE = 128

SPLITS = {"train": 0, "evaluate": 1}

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 35),
    "orange": (250, 135, 0),
    "yellow": (245, 225, 25),
    "green": (30, 165, 55),
    "blue": (35, 75, 225),
    "purple": (140, 45, 195),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
KINDS = ("circle", "square", "triangle", "star", "cross", "diamond")
PLURALS = {kind: kind + ("es" if kind.endswith("s") else "s") for kind in KINDS}
SIZES = {"small": (8.0, 11.0), "large": (15.5, 19.5)}
"""Shape radius range in pixels at SCENE_SIZE, by size word."""
COUNTS = ("a", "two", "three", "four")
POSITIONS = ("at the top", "at the bottom", "on the left", "on the right")
RELATIONS = ("above", "to the left of")
BACKGROUNDS = ("plain", "gradient", "noise", "photo")

_MIN_CONTRAST = 90.0
"""Least RGB distance between a shape's colour and the background around it."""
_DARK_FILLS = frozenset({"black", "blue", "purple"})


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    size: str
    x: float
    """Centre, in pixels from the left."""
    y: float
    """Centre, in pixels from the top."""
    radius: float
    rotation: float
    """Degrees; small, so a square never turns into a diamond."""


@dataclass(frozen=True)
class Group:
    count: int
    size: str
    colour: str
    kind: str

    def words(self) -> str:
        noun = self.kind if self.count == 1 else PLURALS[self.kind]
        return f"{COUNTS[self.count - 1]} {self.size} {self.colour} {noun}"


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    caption: str
    shapes: tuple[Shape, ...]
    groups: tuple[Group, ...]
    """In caption order."""
    background: str


def vocabulary_words() -> list[str]:
    """Every word a scene caption can contain, in a fixed order."""
    phrases = [
        *COUNTS,
        *SIZES,
        *COLOURS,
        *KINDS,
        *PLURALS.values(),
        *POSITIONS,
        *RELATIONS,
    ]
    words: list[str] = []
    for phrase in phrases:
        words += [word for word in phrase.split() if word not in words]
    return words


def scene_rng(split: str, seed: int, index: int) -> np.random.Generator:
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {sorted(SPLITS)}")
    return np.random.default_rng([SPLITS[split], seed, index])


def make_scene(split: str, seed: int, index: int, size: int = SCENE_SIZE) -> Scene:
    """Scene number `index` of a split and seed: the same arguments, the same scene."""
    rng = scene_rng(split, seed, index)
    scale = size / SCENE_SIZE
    while True:
        groups = _sample_groups(rng)
        placed = _place(rng, groups, size, scale)
        if placed is not None:
            break
    ordered_groups, shapes, caption = placed
    background_kind = str(rng.choice(BACKGROUNDS, p=[0.2, 0.2, 0.25, 0.35]))
    image = _background(rng, background_kind, size, shapes)
    # Large shapes first, so a small one is never hidden behind a large one.
    drawn = sorted(shapes, key=lambda s: (s.size != "large", rng.random()))
    draw = ImageDraw.Draw(image)
    for shape in drawn:
        _draw_shape(draw, shape, rng, scale)
    sigma = rng.uniform(0, 6)
    if sigma > 0.5:
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, sigma, (size, size, 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return Scene(image, caption, tuple(shapes), ordered_groups, background_kind)


def _sample_groups(rng: np.random.Generator) -> list[Group]:
    def group(count: int) -> Group:
        return Group(
            count=count,
            size=str(rng.choice(list(SIZES))),
            colour=str(rng.choice(list(COLOURS))),
            kind=str(rng.choice(KINDS)),
        )

    if rng.random() < 0.3:
        return [group(int(rng.integers(1, 5)))]
    counts = [(1, 1), (1, 2), (2, 1), (1, 3), (3, 1), (2, 2)][int(rng.integers(6))]
    first = group(counts[0])
    while True:
        second = group(counts[1])
        # Two groups that look alike would be one group of their sum.
        if (second.size, second.colour, second.kind) != (first.size, first.colour, first.kind):
            return [first, second]


def _place(
    rng: np.random.Generator, groups: list[Group], size: int, scale: float
) -> tuple[tuple[Group, ...], list[Shape], str] | None:
    """Shapes for `groups` whose caption is clear-cut, or None after too many tries."""
    for _ in range(60):
        shapes: list[list[Shape]] = []
        for group in groups:
            members: list[Shape] = []
            low, high = SIZES[group.size]
            for _ in range(group.count):
                radius = rng.uniform(low, high) * scale
                margin = radius + 2 * scale
                members.append(
                    Shape(
                        kind=group.kind,
                        colour=group.colour,
                        size=group.size,
                        x=rng.uniform(margin, size - margin),
                        y=rng.uniform(margin, size - margin),
                        radius=radius,
                        rotation=rng.uniform(-10, 10),
                    )
                )
            shapes.append(members)
        flat = [shape for members in shapes for shape in members]
        if not _overlaps_ok(flat):
            continue
        described = _describe(groups, shapes, size)
        if described is not None:
            ordered, caption = described
            return ordered, flat, caption
    return None


def _overlaps_ok(shapes: Sequence[Shape]) -> bool:
    """Partial overlaps only: each pair's centres stay apart enough that both are
    recognisable (and countable)."""
    for i, a in enumerate(shapes):
        for b in shapes[i + 1 :]:
            distance = math.hypot(a.x - b.x, a.y - b.y)
            same_look = (a.kind, a.colour) == (b.kind, b.colour)
            needed = (1.05 if same_look else 0.8) * (a.radius + b.radius)
            if distance < needed:
                return False
    return True


def _centroid(shapes: Sequence[Shape]) -> tuple[float, float]:
    return (
        sum(s.x for s in shapes) / len(shapes),
        sum(s.y for s in shapes) / len(shapes),
    )


def _describe(
    groups: list[Group], shapes: list[list[Shape]], size: int
) -> tuple[tuple[Group, ...], str] | None:
    """The caption by the fixed rule, or None if the scene is not clear-cut."""
    if len(groups) == 1:
        x, y = _centroid(shapes[0])
        dx, dy = x - size / 2, y - size / 2
        vertical = abs(dy) > abs(dx)
        major, minor = (dy, dx) if vertical else (dx, dy)
        if abs(major) < 0.18 * size or abs(major) < 1.5 * abs(minor):
            return None
        coordinates = [(s.y if vertical else s.x) - size / 2 for s in shapes[0]]
        if not all(c * major > 0 and abs(c) > 0.06 * size for c in coordinates):
            return None
        position = (
            ("at the bottom" if dy > 0 else "at the top")
            if vertical
            else ("on the right" if dx > 0 else "on the left")
        )
        return (groups[0],), f"{groups[0].words()} {position}"

    (ax, ay), (bx, by) = _centroid(shapes[0]), _centroid(shapes[1])
    dx, dy = bx - ax, by - ay
    vertical = abs(dy) > abs(dx)
    major, minor = (dy, dx) if vertical else (dx, dy)
    if abs(major) < 0.25 * size or abs(major) < 1.5 * abs(minor):
        return None
    first, second = (0, 1) if major > 0 else (1, 0)

    def along(shape: Shape) -> float:
        return shape.y if vertical else shape.x

    if max(along(s) for s in shapes[first]) + 0.08 * size > min(along(s) for s in shapes[second]):
        return None
    relation = "above" if vertical else "to the left of"
    ordered = (groups[first], groups[second])
    return ordered, f"{ordered[0].words()} {relation} {ordered[1].words()}"


@cache
def _photos() -> tuple[np.ndarray, ...]:
    photos = []
    for path in sorted(PHOTOS_DIR.iterdir()):
        if path.suffix.lower() in {".png", ".jpg", ".jpeg"}:
            with Image.open(path) as photo:
                rgb = photo.convert("RGB")
            # Crops end up a few hundred pixels across at most: resizing from the full
            # photo every time would cost more than drawing the scene.
            rgb.thumbnail((400, 400), Image.Resampling.LANCZOS)
            photos.append(np.asarray(rgb))
    return tuple(photos)


def _background(
    rng: np.random.Generator, kind: str, size: int, shapes: Sequence[Shape]
) -> Image.Image:
    """A background on which every shape's colour stands out (tries again until it does)."""
    for _ in range(20):
        pixels = _background_pixels(rng, kind, size)
        if all(_contrast(pixels, shape) >= _MIN_CONTRAST for shape in shapes):
            break
    else:
        pixels = np.full((size, size, 3), 128.0, dtype=np.float32)
        pixels[:] = _plain_colour(rng, shapes)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _contrast(pixels: np.ndarray, shape: Shape) -> float:
    r = shape.radius
    y0, y1 = max(0, int(shape.y - r)), int(shape.y + r) + 1
    x0, x1 = max(0, int(shape.x - r)), int(shape.x + r) + 1
    around = pixels[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    return float(np.linalg.norm(around - np.array(COLOURS[shape.colour], dtype=np.float32)))


def _plain_colour(rng: np.random.Generator, shapes: Sequence[Shape]) -> np.ndarray:
    """The random colour farthest from every shape colour, out of a few candidates."""
    candidates = rng.uniform(0, 255, (16, 3))
    fills = np.array([COLOURS[s.colour] for s in shapes], dtype=np.float32)
    distance = np.linalg.norm(candidates[:, None, :] - fills[None, :, :], axis=2).min(axis=1)
    return candidates[int(distance.argmax())].astype(np.float32)


def _background_pixels(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    if kind == "plain":
        return np.broadcast_to(rng.uniform(0, 255, 3), (size, size, 3)).astype(np.float32)
    if kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
        t = math.cos(angle) * ramp[None, :] + math.sin(angle) * ramp[:, None] + 0.5
        start, stop = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        return (start + (stop - start) * t[:, :, None]).astype(np.float32)
    if kind == "noise":
        # Coarse coloured blobs plus fine grain, muted around a random base colour.
        cells = int(rng.integers(2, 17))
        coarse = Image.fromarray(rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8))
        blobs = np.asarray(coarse.resize((size, size), Image.Resampling.BILINEAR), np.float32)
        base = rng.uniform(40, 215, 3)
        grain = rng.normal(0, rng.uniform(5, 30), (size, size, 3))
        return (base + 0.5 * (blobs - 128) + grain).astype(np.float32)
    photo = _photos()[int(rng.integers(len(_photos())))]
    height, width = photo.shape[:2]
    side = int(rng.uniform(0.3, 1.0) * min(height, width))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    crop = Image.fromarray(photo[top : top + side, left : left + side])
    pixels = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), np.float32)
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    # Muted towards grey, so saturated shapes stay the most colourful things in view.
    keep = rng.uniform(0.4, 0.8)
    return (pixels * keep + 128 * (1 - keep)).astype(np.float32)


def _points(shape: Shape, scale: float) -> list[tuple[float, float]]:
    r = shape.radius
    if shape.kind == "square":
        corners = [(-0.82, -0.82), (0.82, -0.82), (0.82, 0.82), (-0.82, 0.82)]
    elif shape.kind == "diamond":
        corners = [(0, -1.1), (0.7, 0), (0, 1.1), (-0.7, 0)]
    elif shape.kind == "triangle":
        corners = [
            (1.1 * math.cos(a), 1.1 * math.sin(a))
            for a in (math.radians(-90 + 120 * k) for k in range(3))
        ]
    elif shape.kind == "star":
        corners = [
            (
                (1.15 if k % 2 == 0 else 0.48) * math.cos(a),
                (1.15 if k % 2 == 0 else 0.48) * math.sin(a),
            )
            for k, a in ((k, math.radians(-90 + 36 * k)) for k in range(10))
        ]
    else:  # cross
        w = 0.36
        corners = [
            (-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w),
            (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w),
        ]  # fmt: skip
    turn = math.radians(shape.rotation)
    cos, sin = math.cos(turn), math.sin(turn)
    return [
        (shape.x + r * (cx * cos - cy * sin), shape.y + r * (cx * sin + cy * cos))
        for cx, cy in corners
    ]


def _draw_shape(
    draw: ImageDraw.ImageDraw, shape: Shape, rng: np.random.Generator, scale: float
) -> None:
    """A filled shape with a contrasting outline, its colour slightly jittered."""
    base = np.array(COLOURS[shape.colour])
    fill = tuple(int(v) for v in np.clip(base + rng.integers(-12, 13, 3), 0, 255))
    outline = (235, 235, 235) if shape.colour in _DARK_FILLS else (25, 25, 25)
    width = max(1, round(1.5 * scale))
    if shape.kind == "circle":
        r = shape.radius
        box = (shape.x - r, shape.y - r, shape.x + r, shape.y + r)
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    else:
        draw.polygon(_points(shape, scale), fill=fill, outline=outline, width=width)
