"""Procedural training clips for a path-following model: a subject moved along a motion stroke.

This stands in for the two datasets of "Learning to Take Directions One Step at a Time" (a
recurrent model that moves an image along a drawn motion stroke, one stroke point per frame):

* its moving-MNIST case, a rigid digit sliding along a path, is our ``"glyph"`` kind: a random
  letter or digit from a random (Latin) Hershey stroke font, upright, that only translates;
* its KTH case, people walking and running, is our ``"stick"`` kind (a stick person with a walk
  or run cycle) and ``"quadruped"`` kind (a four-legged animal with a lateral-sequence walk or a
  gallop): articulated figures whose pose changes as they move.

Recipe, per clip (each clip has its own generator seeded by ``(seed, index)``, so a dataset's
first clips do not depend on how many follow and a held-out set is just another seed):

1. the subject: its kind is ``kinds[index % len(kinds)]``; a size (about 0.3-0.45 of the canvas,
   so +-20% around a kind's base size), a pen width (1.5-2.5 px at 64 px, scaled with the
   canvas) and, for figures, a gait and a starting phase;
2. the speed: the step lengths between consecutive keypoints follow a speed profile (constant,
   accelerating, decelerating, slow-then-fast, fast-then-slow), as the spacing of a stroke's
   points encodes speed in the paper; steps run from about 0.5 px to size/8 px, ~5% of clips
   stand still and ~15% take short steps;
3. the path: a random cubic Bezier curve of that total length, placed so that the whole subject
   stays inside the canvas (its margin is the subject's reach from its anchor over the whole
   cycle), sampled at the cumulative step lengths; keypoints are on a 1/4 px grid;
4. the frames: the subject's anchor (the centre of the rest-pose bounding box for glyphs, the
   hip / body centre for figures) sits at each keypoint. A figure's cycle phase advances by
   ``step / stride * 2 pi`` per frame with the stride proportional to its leg length (a longer
   step is a faster cycle, standing still keeps the pose) and it faces the way the path goes
   overall (mirrored when that is to the left).

Drawing is line art with PIL at 4x supersampling (lines with round caps and joints), averaged
down to the canvas; a pixel's value is its ink (0 = paper, 255 = full ink). Pixel (col, row)
covers [col, col + 1) x [row, row + 1), so the canvas centre is (size / 2, size / 2).

CLI: ``python scripts/motion_strokes_data.py --seed 0 --count 12 --out /tmp/sheet.png`` writes a
contact sheet (one clip per row, frames left to right, the keypoints as faint red dots) and
prints how long the clips took.
"""

from __future__ import annotations

import argparse
import functools
import string
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

KINDS = ("glyph", "stick", "quadruped")
PROFILES = ("constant", "accelerating", "decelerating", "slow_then_fast", "fast_then_slow")
SUPERSAMPLE = 4
# Hershey fonts whose letters and digits are Latin ones (the others map them to symbols).
FONTS = ("futural", "futuram", "cursive", "gothgbt", "gothgrt", "gothiceng", "gothicger", "gothicita",
         "gothitt", "rowmand", "rowmans", "rowmant", "scriptc", "scripts", "timesi", "timesib", "timesr",
         "timesrb")
CHARACTERS = string.ascii_letters + string.digits
STILL_FRACTION, SHORT_FRACTION = 0.05, 0.15


# ----------------------------------------------------------------------------------------------
# Drawing: a subject is a list of primitives in local coordinates (px, y down, anchor at 0,
# facing +x); they are drawn at 4x and averaged down.

@dataclass(frozen=True)
class Line:
    points: np.ndarray  # [n, 2] polyline


@dataclass(frozen=True)
class Ellipse:
    centre: tuple[float, float]
    radii: tuple[float, float]


def reach(shapes: list) -> np.ndarray:
    """How far the shapes go from the anchor: (max |x|, up, down), in px, pen not included."""
    pts = [s.points for s in shapes if isinstance(s, Line)]
    for s in shapes:
        if isinstance(s, Ellipse):
            (cx, cy), (rx, ry) = s.centre, s.radii
            pts.append(np.array([[cx - rx, cy - ry], [cx + rx, cy + ry]]))
    pts = np.concatenate(pts)
    return np.array([np.abs(pts[:, 0]).max(), max(0.0, -pts[:, 1].min()), max(0.0, pts[:, 1].max())])


def draw_shapes(canvas: Image.Image, shapes: list, origin: np.ndarray, facing: float, pen: float) -> None:
    """Draws `shapes` into the supersampled `canvas` with the anchor at `origin` (canvas px, in
    the canvas's 1/4 px grid units), mirrored when `facing` is -1; `pen` is the width in px."""
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(pen * SUPERSAMPLE))
    half = width / 2
    scale = np.array([facing, 1.0]) * SUPERSAMPLE

    def place(points):  # PIL puts a point at integer coordinate i in pixel i, centred at i + 0.5
        return np.asarray(points, np.float64) * scale + origin - 0.5

    for shape in shapes:
        if isinstance(shape, Line):
            pts = place(shape.points)
            draw.line([tuple(p) for p in pts], fill=255, width=width, joint="curve")
            for x, y in pts:
                draw.ellipse((x - half, y - half, x + half, y + half), fill=255)
        else:
            (x, y), (rx, ry) = place([shape.centre])[0], np.asarray(shape.radii) * SUPERSAMPLE
            draw.ellipse((x - rx - half, y - ry - half, x + rx + half, y + ry + half), outline=255,
                         width=width)


def downsample(hires: np.ndarray) -> np.ndarray:
    """Averages each 4x4 block of a supersampled ink image into one uint8 pixel."""
    h, w = hires.shape[0] // SUPERSAMPLE, hires.shape[1] // SUPERSAMPLE
    blocks = hires.reshape(h, SUPERSAMPLE, w, SUPERSAMPLE).astype(np.float32).mean(axis=(1, 3))
    return np.round(blocks).astype(np.uint8)


def to_grid(points: np.ndarray) -> np.ndarray:
    """Canvas px -> the nearest point of the supersampled grid, in supersampled px."""
    return np.round(np.asarray(points, np.float64) * SUPERSAMPLE)


# ----------------------------------------------------------------------------------------------
# Glyphs: rigid, so drawn once and pasted at each keypoint (frames are exact shifts at 4x).

@functools.lru_cache(maxsize=None)
def load_font(name: str):
    from HersheyFonts import HersheyFonts

    font = HersheyFonts()
    font.load_default_font(name)
    font.normalize_rendering(100)  # y points up once normalised
    return font


@functools.lru_cache(maxsize=None)
def glyph_strokes(font: str, char: str) -> tuple[np.ndarray, ...]:
    """The character's strokes (polylines), y down so that it stands upright on the canvas."""
    strokes = load_font(font).strokes_for_text(char)
    return tuple(np.array(s, np.float64) * [1.0, -1.0] for s in strokes if len(s) >= 2)


def glyph_shapes(rng: np.random.Generator, size: int) -> list[Line]:
    """A random letter or digit from a random font, its bbox centred on the anchor, its height
    0.3-0.45 of the canvas (narrower if it would be wider than half the canvas)."""
    strokes = ()
    while not strokes:
        strokes = glyph_strokes(FONTS[rng.integers(len(FONTS))], CHARACTERS[rng.integers(len(CHARACTERS))])
    pts = np.concatenate(strokes)
    low, high = pts.min(axis=0), pts.max(axis=0)
    extent = np.maximum(high - low, 1e-6)
    height = rng.uniform(0.3, 0.45) * size
    scale = min(height / extent[1], 0.5 * size / extent[0])
    centre = (low + high) / 2
    return [Line((s - centre) * scale) for s in strokes]


def render_glyph(shapes: list, keypoints: np.ndarray, pen: float, size: int) -> np.ndarray:
    """The glyph drawn once at 4x, pasted with its anchor at each keypoint's nearest 1/4 px."""
    r = reach(shapes) + pen
    half = np.ceil(np.array([r[0], max(r[1], r[2])]) * SUPERSAMPLE).astype(int) + 2
    sprite = Image.new("L", tuple(2 * half), 0)
    draw_shapes(sprite, shapes, half.astype(np.float64), 1.0, pen)
    sprite = np.asarray(sprite)
    frames = np.zeros((len(keypoints), size * SUPERSAMPLE, size * SUPERSAMPLE), np.uint8)
    for t, (x0, y0) in enumerate(to_grid(keypoints).astype(int) - half):
        paste(frames[t], sprite, x0, y0)
    return np.stack([downsample(f) for f in frames])


def paste(canvas: np.ndarray, sprite: np.ndarray, x0: int, y0: int) -> None:
    """Puts `sprite` with its top-left at (x0, y0), clipped to the canvas."""
    h, w = sprite.shape
    cy0, cx0 = max(y0, 0), max(x0, 0)
    cy1, cx1 = min(y0 + h, canvas.shape[0]), min(x0 + w, canvas.shape[1])
    if cy1 > cy0 and cx1 > cx0:
        canvas[cy0:cy1, cx0:cx1] = sprite[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]


# ----------------------------------------------------------------------------------------------
# Figures: a pose function (phase -> shapes) with a stride; side views facing +x.

def limb(start: np.ndarray, angle: float, length: float) -> np.ndarray:
    """The end of a limb `length` long hanging from `start`, `angle` rad forward of straight down."""
    return start + length * np.array([np.sin(angle), np.cos(angle)])


def knee_flex(phase: float, rest: float, swing: float) -> float:
    """Knee bend: `rest` in stance, up to rest + swing at mid-swing (when the thigh passes vertical
    moving forward, i.e. where cos(phase) = 1)."""
    return rest + swing * max(0.0, np.cos(phase)) ** 2


GAITS = {  # hip swing, knee rest and swing bend, arm swing, elbow bend, forward lean, bob, stride / leg
    "walk": dict(hip=0.45, knee=0.08, flex=0.9, arm=0.5, elbow=0.3, lean=0.03, bob=-0.02, stride=1.7),
    "run": dict(hip=0.7, knee=0.3, flex=1.6, arm=0.8, elbow=1.5, lean=0.2, bob=0.03, stride=2.6),
}


@dataclass(frozen=True)
class StickPerson:
    """A stick person `height` px tall (head top to feet at rest), anchored at the hip."""
    height: float
    gait: str

    @property
    def stride(self) -> float:  # distance covered per cycle, proportional to the leg length
        return GAITS[self.gait]["stride"] * 0.5 * self.height

    def shapes(self, phase: float) -> list:
        g, h = GAITS[self.gait], self.height
        hip = np.array([0.0, g["bob"] * h * np.cos(2 * phase)])
        neck = hip + 0.3 * h * np.array([np.sin(g["lean"]), -np.cos(g["lean"])])
        head = neck + 0.11 * h * np.array([np.sin(g["lean"]), -np.cos(g["lean"])])
        shapes = [Line(np.stack([hip, neck])), Ellipse(tuple(head), (0.09 * h, 0.09 * h))]
        for side in (0.0, np.pi):
            p = phase + side
            thigh = g["hip"] * np.sin(p)
            knee = limb(hip, thigh, 0.25 * h)
            foot = limb(knee, thigh - knee_flex(p, g["knee"], g["flex"]), 0.25 * h)
            upper = -g["arm"] * np.sin(p) + g["lean"]
            elbow = limb(neck, upper, 0.17 * h)
            hand = limb(elbow, upper + g["elbow"] * (1 + 0.2 * np.sin(p)), 0.16 * h)
            shapes += [Line(np.stack([hip, knee, foot])), Line(np.stack([neck, elbow, hand]))]
        return shapes


QUADRUPED_GAITS = {  # leg phase offsets (LH, LF, RH, RF; cycle fractions), leg swing, bend, stride / leg
    "walk": dict(offsets=(0.0, 0.25, 0.5, 0.75), swing=0.35, flex=0.7, pitch=0.0, stride=2.5),
    "gallop": dict(offsets=(0.0, 0.5, 0.12, 0.62), swing=0.65, flex=1.2, pitch=0.08, stride=4.0),
}


@dataclass(frozen=True)
class Quadruped:
    """A four-legged animal whose body (shoulder to hip) is `length` px, anchored at the body's
    centre; legs 0.7 of that, a neck and head in front, a tail behind."""
    length: float
    gait: str

    @property
    def stride(self) -> float:
        return QUADRUPED_GAITS[self.gait]["stride"] * 0.7 * self.length

    def shapes(self, phase: float) -> list:
        g, b = QUADRUPED_GAITS[self.gait], self.length
        pitch = g["pitch"] * np.sin(phase)  # a gallop rocks the body

        def body(x, y):  # a point of the (rocking) body
            return np.array([x * np.cos(pitch) - y * np.sin(pitch), x * np.sin(pitch) + y * np.cos(pitch)]) * b

        shapes = [Ellipse((0.0, 0.0), (0.62 * b, 0.22 * b))]
        for offset, front in zip(g["offsets"], (False, True, False, True)):
            p = phase - 2 * np.pi * offset
            flex = g["flex"] * max(0.0, np.cos(p)) ** 2
            if front:  # the foreleg folds backward at the knee when it swings forward
                top, upper = body(0.48, 0.1), g["swing"] * np.sin(p)
                lower = upper - flex
            else:  # the hind leg's stifle points forward and its hock back
                top, upper = body(-0.48, 0.1), 0.15 + g["swing"] * np.sin(p)
                lower = upper - 0.4 - 0.6 * flex
            joint = limb(top, upper, 0.36 * b)
            shapes.append(Line(np.stack([top, joint, limb(joint, lower, 0.36 * b)])))
        nod = 0.04 * b * np.sin(2 * phase)
        head = body(0.8, -0.5) + [0, nod]
        shapes += [Line(np.stack([body(0.5, -0.12), head + [-0.06 * b, 0.06 * b]])),
                   Ellipse(tuple(head + [0.08 * b, 0]), (0.2 * b, 0.12 * b)),
                   Line(np.stack([head + [-0.04 * b, -0.1 * b], head + [-0.12 * b, -0.26 * b],
                                  head + [0.04 * b, -0.11 * b]]))]  # an ear
        wag = 0.08 * b * np.sin(phase)
        shapes.append(Line(np.stack([body(-0.58, -0.06), body(-0.78, -0.2) + [0, wag],
                                     body(-0.9, -0.42) + [0, 1.5 * wag]])))
        return shapes


def make_figure(kind: str, rng: np.random.Generator, size: int):
    """A stick person 0.36-0.54 of the canvas tall or a quadruped 0.2-0.3 of it long (about
    0.3-0.45 of the canvas across), walking or running/galloping."""
    if kind == "stick":
        return StickPerson(0.45 * size * rng.uniform(0.8, 1.2), ("walk", "run")[rng.integers(2)])
    if kind == "quadruped":
        return Quadruped(0.25 * size * rng.uniform(0.8, 1.2), ("walk", "gallop")[rng.integers(2)])
    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")


def figure_reach(figure) -> np.ndarray:
    """The figure's reach (max |x|, up, down) over a whole cycle."""
    return np.max([reach(figure.shapes(p)) for p in np.linspace(0, 2 * np.pi, 24, endpoint=False)], axis=0)


def phases(keypoints: np.ndarray, stride: float, start: float) -> np.ndarray:
    """The cycle phase at each keypoint: it advances by step / stride * 2 pi."""
    steps = np.linalg.norm(np.diff(keypoints, axis=0), axis=1)
    return start + 2 * np.pi * np.concatenate([[0.0], np.cumsum(steps)]) / stride


def facing(keypoints: np.ndarray, rng: np.random.Generator) -> float:
    """-1 (mirrored) when the path goes left overall, +1 when right, either when it does not move."""
    dx = keypoints[-1, 0] - keypoints[0, 0]
    return float(np.sign(dx)) if abs(dx) > 1e-6 else float(rng.choice([-1.0, 1.0]))


def render_figure(figure, keypoints: np.ndarray, pen: float, size: int, start: float,
                  face: float) -> np.ndarray:
    """Each frame drawn afresh: the pose at that keypoint's phase, the hip at the keypoint."""
    frames = []
    for point, phase in zip(to_grid(keypoints), phases(keypoints, figure.stride, start)):
        canvas = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
        draw_shapes(canvas, figure.shapes(phase), point, face, pen)
        frames.append(downsample(np.asarray(canvas)))
    return np.stack(frames)


# ----------------------------------------------------------------------------------------------
# Subjects: what a clip draws, and how far it reaches from its anchor.

@dataclass
class Subject:
    kind: str
    pen: float
    margin: np.ndarray  # (x, up, down): how far the anchor must stay from the canvas's edges
    glyph: list | None = None  # a glyph's strokes, or
    figure: StickPerson | Quadruped | None = None
    start: float = 0.0

    def render(self, keypoints: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
        keypoints = np.asarray(keypoints, np.float64)
        if self.glyph is not None:
            return render_glyph(self.glyph, keypoints, self.pen, size)
        return render_figure(self.figure, keypoints, self.pen, size, self.start, facing(keypoints, rng))


def make_subject(kind: str, rng: np.random.Generator, size: int) -> Subject:
    """A random `kind` subject for a `size` px canvas, with its pen width and margins."""
    pen = rng.uniform(1.5, 2.5) * size / 64
    if kind == "glyph":
        glyph = glyph_shapes(rng, size)
        return Subject(kind, pen, reach(glyph) + pen / 2 + 1.5, glyph=glyph)
    figure = make_figure(kind, rng, size)
    return Subject(kind, pen, figure_reach(figure) + pen / 2 + 1.5, figure=figure,
                   start=rng.uniform(0, 2 * np.pi))


def render_clip(kind: str, keypoints: np.ndarray, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A `kind` subject drawn from `rng`, its anchor at each of `keypoints` ([T, 2] canvas px):
    uint8 ink [T, size, size]. The caller keeps the subject inside the canvas (see `margin`)."""
    return make_subject(kind, rng, size).render(keypoints, rng, size)


# ----------------------------------------------------------------------------------------------
# Paths: step lengths from a speed profile, then a Bezier curve of that length in the canvas.

def speed_profile(name: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """Relative step lengths (max 1) for `count` steps."""
    u = np.linspace(0.0, 1.0, count)
    low = rng.uniform(0.15, 0.5)
    if name == "constant":
        return np.ones(count)
    if name == "accelerating":
        return low + (1 - low) * u
    if name == "decelerating":
        return 1 - (1 - low) * u
    switch = 1 / (1 + np.exp(-(u - rng.uniform(0.3, 0.7)) / 0.1))
    if name == "slow_then_fast":
        return low + (1 - low) * switch
    if name == "fast_then_slow":
        return 1 - (1 - low) * switch
    raise ValueError(f"unknown speed profile {name!r}")


def sample_steps(rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """The T - 1 step lengths: ~5% of clips stand still, ~15% take short steps (0.5-1.5 px at
    the fastest), the rest 1.5 to size/8 px at the fastest; none under 0.5 px when moving."""
    draw = rng.uniform()
    if draw < STILL_FRACTION or frames < 2:
        return np.zeros(max(frames - 1, 0))
    top = rng.uniform(0.5, 1.5) if draw < STILL_FRACTION + SHORT_FRACTION else rng.uniform(1.5, size / 8)
    profile = speed_profile(PROFILES[rng.integers(len(PROFILES))], frames - 1, rng)
    return np.maximum(top * profile, 0.5)


def bezier(controls: np.ndarray, samples: int = 128) -> np.ndarray:
    u = np.linspace(0.0, 1.0, samples)[:, None]
    p0, p1, p2, p3 = controls
    return (1 - u) ** 3 * p0 + 3 * (1 - u) ** 2 * u * p1 + 3 * (1 - u) * u ** 2 * p2 + u ** 3 * p3


def fit_curve(rng: np.random.Generator, length: float, box: np.ndarray) -> np.ndarray:
    """A dense polyline `length` long inside `box` ([[x0, y0], [x1, y1]]): a random bent cubic
    Bezier, straighter on each retry; the box's diagonal (shortened if need be) as a last resort."""
    span = box[1] - box[0]
    for trial in range(12):
        bend = 0.8 * (1 - trial / 11)
        controls = np.array([[0, 0], [1 / 3, rng.uniform(-bend, bend)], [2 / 3, rng.uniform(-bend, bend)], [1, 0]])
        curve = bezier(controls)
        curve *= length / np.linalg.norm(np.diff(curve, axis=0), axis=1).sum()
        angle = rng.uniform(0, 2 * np.pi)
        curve = curve @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        low, high = curve.min(axis=0), curve.max(axis=0)
        slack = span - (high - low)
        if np.all(slack >= 0):
            return curve - low + box[0] + rng.uniform(0, 1, 2) * slack
    direction = span * rng.choice([-1.0, 1.0], 2)
    start = box[0] + (direction < 0) * span
    along = min(length, float(np.linalg.norm(span)))
    return start + np.linspace(0, 1, 128)[:, None] * direction / np.linalg.norm(direction) * along


def sample_path(rng: np.random.Generator, steps: np.ndarray, margin: np.ndarray, size: int) -> np.ndarray:
    """Keypoints [len(steps) + 1, 2] with those step lengths (scaled down if the path would not
    fit) along a random curve, on the 1/4 px grid, the anchor at least `margin` from each edge."""
    box = np.array([[margin[0], margin[1]], [size - margin[0], size - margin[2]]])
    if np.any(box[1] < box[0]):
        raise ValueError(f"a subject with margin {margin} does not fit a {size} px canvas")
    total = steps.sum()
    if total <= 0:
        point = box[0] + rng.uniform(0, 1, 2) * (box[1] - box[0])
        return to_grid(np.repeat(point[None], len(steps) + 1, axis=0)) / SUPERSAMPLE
    curve = fit_curve(rng, total, box)
    along = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    targets = np.concatenate([[0.0], np.cumsum(steps)]) * along[-1] / total
    points = np.stack([np.interp(targets, along, curve[:, i]) for i in range(2)], axis=1)
    points = to_grid(points) / SUPERSAMPLE
    return np.clip(points, np.ceil(box[0] * SUPERSAMPLE) / SUPERSAMPLE, np.floor(box[1] * SUPERSAMPLE) / SUPERSAMPLE)


# ----------------------------------------------------------------------------------------------
# Datasets

def make_clip(seed: int, index: int, size: int, frames: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Clip `index` of the dataset `seed`: (ink [T, size, size] uint8, keypoints [T, 2] float32)."""
    rng = np.random.default_rng([seed, index])
    subject = make_subject(kind, rng, size)
    keypoints = sample_path(rng, sample_steps(rng, frames, size), subject.margin, size)
    return subject.render(keypoints, rng, size), keypoints.astype(np.float32)


def make_dataset(seed: int, count: int, size: int = 64, frames: int = 8,
                 kinds: tuple[str, ...] = KINDS) -> dict:
    """{"clips": uint8 [count, frames, size, size] ink (0 = paper, 255 = full ink),
        "keypoints": float32 [count, frames, 2] (x, y) canvas px, pixel (col, row) covering
                     [col, col + 1) x [row, row + 1): the subject's anchor at each frame,
        "kinds": list[str] of length count (kinds[index % len(kinds)])}"""
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    names = [kinds[i % len(kinds)] for i in range(count)]
    clips = np.zeros((count, frames, size, size), np.uint8)
    keypoints = np.zeros((count, frames, 2), np.float32)
    for i, kind in enumerate(names):
        clips[i], keypoints[i] = make_clip(seed, i, size, frames, kind)
    return {"clips": clips, "keypoints": keypoints, "kinds": names}


def contact_sheet(data: dict, zoom: int = 2) -> Image.Image:
    """One row per clip, frames left to right, ink dark on white, keypoints as faint red dots."""
    clips, keypoints = data["clips"], data["keypoints"]
    count, frames, size, _ = clips.shape
    cell = size + 2
    sheet = np.full((count * cell, frames * cell, 3), 200, np.uint8)
    for n in range(count):
        for t in range(frames):
            tile = np.repeat(255 - clips[n, t, :, :, None], 3, axis=2)
            x, y = np.clip(np.floor(keypoints[n, t]).astype(int), 0, size - 1)
            tile[y, x] = np.round(0.6 * tile[y, x] + [102, 0, 0]).astype(np.uint8)
            sheet[n * cell + 1:n * cell + 1 + size, t * cell + 1:t * cell + 1 + size] = tile
    image = Image.fromarray(sheet)
    return image.resize((image.width * zoom, image.height * zoom), Image.NEAREST)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, from " + ", ".join(KINDS))
    parser.add_argument("--zoom", type=int, default=2, help="contact sheet magnification")
    parser.add_argument("--out", help="where to write the contact sheet (PNG)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    data = make_dataset(args.seed, args.count, args.size, args.frames, tuple(args.kinds.split(",")))
    seconds = time.perf_counter() - began
    print(f"{args.count} clips of {args.frames} frames at {args.size} px in {seconds:.2f} s "
          f"({1000 * seconds / max(args.count, 1):.1f} ms a clip)")
    if args.out:
        contact_sheet(data, args.zoom).save(args.out)
        print(f"contact sheet: {args.out}")


if __name__ == "__main__":
    main()
