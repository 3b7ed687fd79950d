"""The demo world: 20 shape classes drawn procedurally in six styles that mirror ImageNet and its shifts.

Why a world of our own: no real CLIP weights or ImageNet can be downloaded here, yet the app must open
on a zero-shot/fine-tuned pair that shows the WiSE-FT effect. Every image is a pure function of
(distribution, split, index), so test sets are re-measurable without image files and DataLoader workers
or DDP shards see exactly the same pixels.

The ingredient that makes fine-tuning lose robustness (as on ImageNet) is a *spurious cue*: on the
reference distribution class ``c`` sits on background colour ``c`` 95 % of the time (on ``v2``, a
re-collection, less often). The other shifts draw the background colour at random, so a model that
learned the colour shortcut during fine-tuning pays for it there. Pretraining data never has the cue.

How the shifts are drawn is a :class:`Look`. Pretraining pairs are drawn with their own frozen
``PRETRAIN_LOOK``, so tuning the benchmark shifts (``LOOK``) never changes the pretrained model, just
as a new test set does not change CLIP's web data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from wiseft_core.errors import WiseftError

DISTRIBUTIONS = ("photo", "v2", "sketch", "rendition", "objectnet", "adversarial")
REFERENCE = "photo"
SHIFTS = DISTRIBUTIONS[1:]
SPLITS = ("train", "val", "test")
DEFAULT_SIZES = {"train": 20000, "val": 1000, "test": 2000}

SHAPES = ("circle", "square", "triangle", "plus", "ring", "diamond", "star", "bar", "crescent", "semicircle")
SIZE_WORDS = ("small", "large")
CLASSNAMES: list[str] = [f"{size} {shape}" for shape in SHAPES for size in SIZE_WORDS]
NUM_CLASSES = len(CLASSNAMES)

# The world's own zero-shot prompts: the style words the captions use, so the text tower knows them.
TEMPLATES: list[str] = ["a photo of a {}.", "a sketch of a {}.", "a painting of a {}."]

IMAGE_SIZE = 32
_SUPER = 2  # shapes are drawn at 2x and box-filtered down, for anti-aliased edges
_CANVAS = IMAGE_SIZE * _SUPER
WORLD_SEED = 20220617  # any fixed number; part of every image's seed

# Background palette: one colour per class (the spurious cue), named so captions can mention it.
BACKGROUNDS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("crimson", (170, 30, 50)), ("forest", (40, 110, 50)), ("navy", (30, 40, 120)),
    ("mustard", (200, 170, 40)), ("teal", (30, 140, 140)), ("plum", (120, 50, 110)),
    ("olive", (120, 120, 40)), ("coral", (240, 120, 100)), ("slate", (100, 110, 130)),
    ("rust", (170, 80, 30)), ("mint", (150, 230, 180)), ("lavender", (180, 160, 230)),
    ("sand", (220, 200, 150)), ("sky", (120, 190, 240)), ("maroon", (100, 20, 30)),
    ("jade", (60, 180, 110)), ("peach", (250, 200, 160)), ("indigo", (70, 50, 170)),
    ("khaki", (180, 170, 110)), ("rose", (230, 130, 170)),
)
# Foreground colours, named in captions; chosen per image to contrast with the background.
FOREGROUNDS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (230, 40, 40)), ("green", (40, 200, 60)), ("blue", (40, 80, 240)),
    ("yellow", (250, 230, 50)), ("white", (245, 245, 245)), ("black", (20, 20, 20)),
    ("orange", (250, 140, 20)), ("purple", (150, 50, 220)),
)
# P(background colour index == class index): the shortcut. ImageNetV2 was re-collected with the same
# protocol years later, so it keeps part of the reference's incidental regularities, not all of them.
CUE_STRENGTH = {"photo": 0.95, "v2": 0.2}
_DIST_IDS = {name: i for i, name in enumerate(DISTRIBUTIONS)}
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2, "pretrain": 3}


@dataclass(frozen=True)
class Look:
    """The knobs of the shift styles that the demo's lesson depends on (ranges are (low, high))."""

    sketch_tint: float  # share of the (random) background colour in the sketch paper
    rendition_texture: float  # amplitude of the painted background's colour noise; 0 = flat paint
    objectnet_rotation: tuple[float, float]  # radians
    objectnet_squash: tuple[float, float]
    objectnet_offcentre: float  # largest shift of the object's centre, px
    clutter_lines: tuple[int, int]  # adversarial: number of clutter lines, high exclusive
    clutter_opacity: float
    adversarial_noise: float

    def to_dict(self) -> dict:
        return asdict(self)


# Frozen: the look the shipped pretrained CLIP was trained on (any rotation, opaque clutter, flat paint).
PRETRAIN_LOOK = Look(sketch_tint=0.3, rendition_texture=0.0, objectnet_rotation=(0.0, 2 * math.pi),
                     objectnet_squash=(0.6, 1.0), objectnet_offcentre=7.0, clutter_lines=(3, 6), clutter_opacity=1.0,
                     adversarial_noise=14.0)
# The benchmark shifts: every non-v2 shift breaks the background shortcut while the shape stays legible.
LOOK = Look(sketch_tint=0.15, rendition_texture=20.0, objectnet_rotation=(-0.5, 0.5), objectnet_squash=(0.9, 1.0),
            objectnet_offcentre=6.0, clutter_lines=(1, 3), clutter_opacity=0.25, adversarial_noise=8.0)


@dataclass(frozen=True)
class Scene:
    """Everything needed to draw one image; also what the caption generator describes."""

    style: str
    label: int
    background: int  # index into BACKGROUNDS
    foreground: int  # index into FOREGROUNDS

    @property
    def shape(self) -> str:
        return SHAPES[self.label // len(SIZE_WORDS)]

    @property
    def size_word(self) -> str:
        return SIZE_WORDS[self.label % len(SIZE_WORDS)]


def image_rng(distribution: str, split: str, index: int) -> np.random.Generator:
    """The one RNG an image derives from: a fixed function of (distribution, split, index)."""
    return np.random.default_rng([WORLD_SEED, _DIST_IDS[distribution], _SPLIT_IDS[split], int(index)])


# ---------------------------------------------------------------------------------------------- shapes
def _circle(n: int = 40, r: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([dx + r * np.cos(t), dy + r * np.sin(t)], axis=1)


def _star(points: int = 5, outer: float = 1.15, inner: float = 0.48) -> np.ndarray:
    t = np.arange(2 * points) * math.pi / points - math.pi / 2
    r = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _semicircle() -> np.ndarray:
    t = np.linspace(math.pi, 2 * math.pi, 24)
    return np.stack([1.15 * np.cos(t), 1.15 * np.sin(t) + 0.45], axis=1)


# Each shape is a list of (polygon in unit coordinates, fill): fill 0 cuts a hole (ring, crescent).
_SHAPE_POLYGONS: dict[str, list[tuple[np.ndarray, int]]] = {
    "circle": [(_circle(), 255)],
    "square": [(np.array([[-0.85, -0.85], [0.85, -0.85], [0.85, 0.85], [-0.85, 0.85]]), 255)],
    "triangle": [(np.array([[0.0, -1.15], [1.05, 0.75], [-1.05, 0.75]]), 255)],
    "plus": [(np.array([[-0.32, -1.05], [0.32, -1.05], [0.32, -0.32], [1.05, -0.32], [1.05, 0.32],
                        [0.32, 0.32], [0.32, 1.05], [-0.32, 1.05], [-0.32, 0.32], [-1.05, 0.32],
                        [-1.05, -0.32], [-0.32, -0.32]]), 255)],
    "ring": [(_circle(), 255), (_circle(r=0.55), 0)],
    "diamond": [(np.array([[0.0, -1.2], [0.78, 0.0], [0.0, 1.2], [-0.78, 0.0]]), 255)],
    "star": [(_star(), 255)],
    "bar": [(np.array([[-1.2, -0.32], [1.2, -0.32], [1.2, 0.32], [-1.2, 0.32]]), 255)],
    "crescent": [(_circle(), 255), (_circle(r=0.88, dx=0.5, dy=-0.1), 0)],
    "semicircle": [(_semicircle(), 255)],
}


def shape_mask(shape: str, radius: float, center: tuple[float, float], rotation: float = 0.0,
               squash: float = 1.0) -> np.ndarray:
    """A float mask in [0, 1] at the supersampled canvas size; geometry in 32-px image units."""
    mask = Image.new("L", (_CANVAS, _CANVAS), 0)
    draw = ImageDraw.Draw(mask)
    c, s = math.cos(rotation), math.sin(rotation)
    rot = np.array([[c, -s], [s, c]])
    for poly, fill in _SHAPE_POLYGONS[shape]:
        pts = poly * np.array([radius, radius * squash])
        pts = pts @ rot.T + np.array(center)
        draw.polygon([tuple(p) for p in (pts * _SUPER).tolist()], fill=fill)
    return np.asarray(mask, dtype=np.float32) / 255.0


# ----------------------------------------------------------------------------------------- textures
def _smooth_noise(rng: np.random.Generator, cells: int, amplitude: float, channels: int = 3) -> np.ndarray:
    """Low-frequency colour noise: a coarse random grid upsampled bilinearly to the canvas."""
    grid = rng.uniform(-1, 1, size=(cells, cells, channels))
    small = Image.fromarray(((grid + 1) * 127.5).astype(np.uint8).squeeze())
    big = np.asarray(small.resize((_CANVAS, _CANVAS), Image.BILINEAR), dtype=np.float32)
    big = big.reshape(_CANVAS, _CANVAS, channels)
    return (big / 127.5 - 1) * amplitude


def _gradient(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """A linear light ramp in a random direction, used to shade objects like lit 3-D things."""
    angle = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:_CANVAS, 0:_CANVAS].astype(np.float32) / (_CANVAS - 1) - 0.5
    ramp = (x * math.cos(angle) + y * math.sin(angle)) + 0.5  # roughly 0..1
    return (low + (high - low) * np.clip(ramp, 0, 1))[..., None]


def _edges(mask: np.ndarray, width: int) -> np.ndarray:
    """The outline of a mask, ``width`` supersampled pixels thick."""
    m = Image.fromarray((mask * 255).astype(np.uint8))
    grown = np.asarray(m.filter(ImageFilter.MaxFilter(2 * width + 1)), dtype=np.float32)
    shrunk = np.asarray(m.filter(ImageFilter.MinFilter(3)), dtype=np.float32)
    return np.clip((grown - shrunk) / 255.0, 0, 1)


def _rgb(index: int, table) -> np.ndarray:
    return np.array(table[index][1], dtype=np.float32)


def _finish(canvas: np.ndarray, rng: np.random.Generator, noise: float, blur: float = 0.0) -> Image.Image:
    """Add pixel noise, downsample to 32x32 with a box filter and optionally blur."""
    if noise > 0:
        canvas = canvas + rng.normal(0, noise, size=canvas.shape).astype(np.float32)
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX)
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return img


# ------------------------------------------------------------------------------------------- styles
def _radius(rng: np.random.Generator, label: int, scale: float = 1.0) -> float:
    small = label % 2 == 0
    return scale * (rng.uniform(4.2, 6.2) if small else rng.uniform(8.5, 11.5))


def _centre(rng: np.random.Generator, radius: float, jitter: float) -> tuple[float, float]:
    room = max(0.0, min(jitter, 16 - radius - 1))
    return (16 + rng.uniform(-room, room), 16 + rng.uniform(-room, room))


def _pick_foreground(rng: np.random.Generator, background_rgb: np.ndarray) -> int:
    """A foreground colour far enough from the background that the object stays visible."""
    order = rng.permutation(len(FOREGROUNDS))
    for idx in order:
        if np.abs(_rgb(int(idx), FOREGROUNDS) - background_rgb).sum() > 180:
            return int(idx)
    return int(order[0])


def _shaded_object(canvas, rng, scene, radius, centre, rotation, squash, contrast=1.0):
    mask = shape_mask(scene.shape, radius, centre, rotation, squash)[..., None]
    fg = _rgb(scene.foreground, FOREGROUNDS) * _gradient(rng, 0.65, 1.15)
    if contrast != 1.0:
        fg = canvas.mean() + (fg - canvas.mean()) * contrast
    return canvas * (1 - mask) + fg * mask, mask[..., 0]


def _photo(rng, scene, *, v2: bool = False) -> Image.Image:
    bg = _rgb(scene.background, BACKGROUNDS)
    canvas = np.broadcast_to(bg, (_CANVAS, _CANVAS, 3)) + _smooth_noise(rng, 4, 28)
    radius = _radius(rng, scene.label, 0.9 if v2 else 1.0)
    centre = _centre(rng, radius, 3.5)
    rotation = rng.uniform(-0.35, 0.35)
    canvas, _ = _shaded_object(canvas, rng, scene, radius, centre, rotation, 1.0, contrast=0.7 if v2 else 1.0)
    return _finish(canvas, rng, noise=14 if v2 else 6, blur=0.6 if v2 else 0.0)


def _sketch(rng, scene, look: Look) -> Image.Image:
    # Pencil on paper; the paper is tinted by the (random) background colour, so the cue is broken.
    tint = look.sketch_tint
    paper = (1 - tint) * np.array([235, 230, 215], dtype=np.float32) + tint * _rgb(scene.background, BACKGROUNDS)
    canvas = np.broadcast_to(paper, (_CANVAS, _CANVAS, 3)) + _smooth_noise(rng, 8, 8)
    radius = _radius(rng, scene.label)
    centre = _centre(rng, radius, 3.5)
    rotation = rng.uniform(-0.35, 0.35)
    pencil = np.array([60, 60, 65], dtype=np.float32) * rng.uniform(0.6, 1.6)
    for _ in range(2):  # two slightly offset strokes read as a hand-drawn line
        jitter = (centre[0] + rng.uniform(-0.5, 0.5), centre[1] + rng.uniform(-0.5, 0.5))
        line = _edges(shape_mask(scene.shape, radius, jitter, rotation), width=1)[..., None]
        canvas = canvas * (1 - 0.75 * line) + pencil * 0.75 * line
    return _finish(canvas, rng, noise=5)


def _rendition(rng, scene, look: Look) -> Image.Image:
    # Flat paint, a thick black outline, a painted (textured) background with a few brush strokes.
    bg = _rgb(scene.background, BACKGROUNDS)
    canvas = np.array(np.broadcast_to(bg, (_CANVAS, _CANVAS, 3)))
    if look.rendition_texture > 0:
        canvas = canvas + _smooth_noise(rng, 8, look.rendition_texture)
    stroke_layer = Image.new("L", (_CANVAS, _CANVAS), 0)
    draw = ImageDraw.Draw(stroke_layer)
    for _ in range(3):
        x0, y0, x1, y1 = rng.uniform(0, _CANVAS, size=4)
        draw.line([(x0, y0), (x1, y1)], fill=255, width=int(rng.integers(3, 7)))
    strokes = np.asarray(stroke_layer, dtype=np.float32)[..., None] / 255.0
    canvas = canvas * (1 - 0.25 * strokes) + 255 * 0.25 * strokes
    radius = _radius(rng, scene.label)
    centre = _centre(rng, radius, 3.5)
    rotation = rng.uniform(-0.35, 0.35)
    mask = shape_mask(scene.shape, radius, centre, rotation)
    paint = _rgb(scene.foreground, FOREGROUNDS)
    canvas = canvas * (1 - mask[..., None]) + paint * mask[..., None]
    outline = _edges(mask, width=2)[..., None]
    canvas = canvas * (1 - outline) + 10 * outline
    return _finish(canvas, rng, noise=2)


def _objectnet(rng, scene, look: Look) -> Image.Image:
    # Unusual poses and backgrounds: tilted, squashed, off-centre, striped/checkered, dim light.
    a = _rgb(scene.background, BACKGROUNDS)
    b = _rgb(int(rng.integers(len(BACKGROUNDS))), BACKGROUNDS)
    y, x = np.mgrid[0:_CANVAS, 0:_CANVAS]
    period = int(rng.integers(6, 14))
    if rng.random() < 0.5:
        pattern = ((x + y * rng.uniform(-1, 1)) // period) % 2
    else:
        pattern = (x // period + y // period) % 2
    canvas = np.where(pattern[..., None] == 0, a, 0.5 * a + 0.5 * b).astype(np.float32)
    radius = _radius(rng, scene.label)
    squash = rng.uniform(*look.objectnet_squash)
    centre = _centre(rng, radius, look.objectnet_offcentre)
    rotation = rng.uniform(*look.objectnet_rotation)
    canvas, _ = _shaded_object(canvas, rng, scene, radius, centre, rotation, squash)
    canvas = canvas * rng.uniform(0.5, 0.8)
    return _finish(canvas, rng, noise=8)


def _adversarial(rng, scene, look: Look) -> Image.Image:
    # Hard examples: a distractor shape, clutter lines, an occluder and noise (like ImageNet-A).
    bg = _rgb(scene.background, BACKGROUNDS)
    canvas = np.broadcast_to(bg, (_CANVAS, _CANVAS, 3)) + _smooth_noise(rng, 4, 28)
    radius = _radius(rng, scene.label)
    centre = _centre(rng, radius, 4.5)
    rotation = rng.uniform(-0.6, 0.6)
    other = SHAPES[(SHAPES.index(scene.shape) + int(rng.integers(1, len(SHAPES)))) % len(SHAPES)]
    d_radius = rng.uniform(3.0, 4.5)
    corner = (float(rng.choice([5.0, 27.0])), float(rng.choice([5.0, 27.0])))
    d_mask = shape_mask(other, d_radius, corner, rng.uniform(0, 2 * math.pi))[..., None]
    d_colour = _rgb(int(rng.integers(len(FOREGROUNDS))), FOREGROUNDS)
    canvas = canvas * (1 - d_mask) + d_colour * d_mask
    canvas, _ = _shaded_object(canvas, rng, scene, radius, centre, rotation, 1.0)
    clutter = Image.new("RGB", (_CANVAS, _CANVAS), (0, 0, 0))
    clutter_mask = Image.new("L", (_CANVAS, _CANVAS), 0)
    for _ in range(int(rng.integers(*look.clutter_lines))):
        pts = [tuple(p) for p in rng.uniform(0, _CANVAS, size=(2, 2)).tolist()]
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        ImageDraw.Draw(clutter).line(pts, fill=colour, width=2)
        ImageDraw.Draw(clutter_mask).line(pts, fill=255, width=2)
    cm = np.asarray(clutter_mask, dtype=np.float32)[..., None] / 255.0 * look.clutter_opacity
    canvas = canvas * (1 - cm) + np.asarray(clutter, dtype=np.float32) * cm
    # An occluding rectangle over part of the object.
    w, h = rng.uniform(0.5, 1.0) * radius * _SUPER, rng.uniform(0.5, 1.0) * radius * _SUPER
    ox = centre[0] * _SUPER + rng.choice([-1, 1]) * rng.uniform(0.2, 0.8) * radius * _SUPER
    oy = centre[1] * _SUPER + rng.choice([-1, 1]) * rng.uniform(0.2, 0.8) * radius * _SUPER
    occ = Image.new("L", (_CANVAS, _CANVAS), 0)
    ImageDraw.Draw(occ).rectangle([ox - w / 2, oy - h / 2, ox + w / 2, oy + h / 2], fill=255)
    om = np.asarray(occ, dtype=np.float32)[..., None] / 255.0
    canvas = canvas * (1 - om) + _rgb(int(rng.integers(len(BACKGROUNDS))), BACKGROUNDS) * om
    return _finish(canvas, rng, noise=look.adversarial_noise)


_STYLES = {
    "photo": lambda rng, scene, look: _photo(rng, scene),
    "v2": lambda rng, scene, look: _photo(rng, scene, v2=True),
    "sketch": _sketch,
    "rendition": _rendition,
    "objectnet": _objectnet,
    "adversarial": _adversarial,
}


def sample_scene(rng: np.random.Generator, style: str, label: int, cue: float = 0.0) -> Scene:
    """Draw the background (class colour with probability ``cue``, else random) and a contrasting foreground."""
    if cue > 0 and rng.random() < cue:
        background = label
    else:
        background = int(rng.integers(len(BACKGROUNDS)))
    foreground = _pick_foreground(rng, _rgb(background, BACKGROUNDS))
    return Scene(style=style, label=label, background=background, foreground=foreground)


def render(rng: np.random.Generator, scene: Scene, look: Look | None = None) -> Image.Image:
    """Draw one 32x32 RGB image of ``scene`` in its style (the benchmark ``LOOK`` unless given)."""
    return _STYLES[scene.style](rng, scene, LOOK if look is None else look)


def generate(distribution: str, split: str, index: int) -> tuple[Image.Image, int]:
    """Image ``index`` of a distribution's split, and its label (classes cycle so splits are balanced)."""
    rng = image_rng(distribution, split, index)
    label = int(index % NUM_CLASSES)
    scene = sample_scene(rng, distribution, label, cue=CUE_STRENGTH.get(distribution, 0.0))
    return render(rng, scene), label


class DemoDataset(torch.utils.data.Dataset):
    """Random-access, deterministic ``(PIL image, label)`` pairs of one distribution's split."""

    def __init__(self, name: str, split: str, size: int, transform=None, cache: bool = True):
        self.name, self.split, self.size, self.transform = name, split, size, transform
        self.classnames = list(CLASSNAMES)
        # Sweeps read the same test images once per alpha; keeping the drawn pixels (3 KB each) is far
        # cheaper than redrawing them. Bounded so a huge training split does not grow without limit.
        self._cache: dict[int, tuple[Image.Image, int]] | None = {} if cache and size <= 50_000 else None

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if not 0 <= index < self.size:
            raise IndexError(index)
        if self._cache is not None and index in self._cache:
            image, label = self._cache[index]
        else:
            image, label = generate(self.name, self.split, index)
            if self._cache is not None:
                self._cache[index] = (image, label)
        if self.transform is not None:
            image = self.transform(image)
        return image, label


def demo_dataset(name: str, split: str = "test", size: int | None = None, transform=None) -> DemoDataset:
    """A ``demo:<name>`` dataset. Splits: train (photo only), val (for choosing hyper-parameters), test."""
    if name not in DISTRIBUTIONS:
        raise WiseftError(f"unknown demo distribution 'demo:{name}'; expected one of "
                          + ", ".join(f"demo:{d}" for d in DISTRIBUTIONS))
    if split not in SPLITS:
        raise WiseftError(f"unknown split '{split}' for demo:{name}; expected one of {', '.join(SPLITS)}")
    if split == "train" and name != REFERENCE:
        raise WiseftError(f"demo:{name} has no train split; fine-tune on demo:{REFERENCE} (the reference)")
    size = DEFAULT_SIZES[split] if size is None else int(size)
    if size <= 0:
        raise WiseftError(f"demo dataset size must be positive, got {size}")
    return DemoDataset(name, split, size, transform)


@contextmanager
def default_sizes(**sizes: int) -> Iterator[None]:
    """Temporarily change the default split sizes (``wiseft demo build --quick`` uses tiny sets)."""
    saved = dict(DEFAULT_SIZES)
    DEFAULT_SIZES.update(sizes)
    try:
        yield
    finally:
        DEFAULT_SIZES.clear()
        DEFAULT_SIZES.update(saved)

