"""Procedural line-art clips for sketch-flow: two keys and the frames between them, all known.

sketch-flow (inkmotion.pipelines.sketch_flow) is the two-sketch paper's Stage II for line art. The
paper trains it on real videos whose first and last frames' edges are the sketches
(../shared/papers/two-sketch-inbetweening.txt, Sec. 3.3 and 4.1-4.2); we have no such videos of
drawings, so the clips are made here: vector animations painted as rasters. Training uses
`TRAIN_SEEDS` only, evaluation `HELD_OUT_SEEDS`; neither ever touches ../shared/testdata (drawings
by other people, kept for evaluation). A clip's frame t of F is the motion at time t / (F - 1),
every parameter moving linearly in time (the paper's smooth motion loss, Eq. 5, asks the same of
the flows), so the middle frame of a held-out clip is the one a model should make from its keys.

Motion families (`KINDS`), about 10-60 px between the keys at 256 px (scaled with the canvas):
- "glyph": one or two Hershey letters or simple shapes translating, scaling, turning a little and
  deforming (shear, bend, squash);
- "figure": a creature (a star or oval body, tapered limbs, maybe a head) travelling on an arc while
  its body squashes and leans and its limbs swing about their joints;
- "walk": a stick person or a quadruped walking or running (a fifth to a half of its cycle between
  the keys), limbs swinging about hips, knees and shoulders;
- "rotation": a rigid shape or glyph turning 15-60 degrees about a point near its centre;
- "occlusion": a shape passing behind (or coming out from behind) an opaque one, crossing its edge
  at mid-clip; lines of the back shape vanish under the front one's paper.

Line styles (`STYLES`); a clip's style parameters are drawn once and follow each line through the
frames (positions along a line are kept as vertex parameters, offsets along its normal), so lines
move and never flicker:
- "clean": solid lines of one pen width (1-4 px);
- "sketchy": each line drawn 2-3 times with a smooth wobble, overshooting ends and varying
  pressure (width and darkness);
- "broken": lines with gaps, dashes of 8-35 px;
- "shaded": clean lines plus hatching (sometimes cross-hatching) inside some closed shapes.
Half the clips get light paper grain, the same in every frame.

Recipe, per clip (the same seed and kind give the same motion in every style):
1. motion: the kind's generator gives, per frame, the same list of marks (polylines, open or
   closed, in canvas px), vertex for vertex; then all frames are fitted into the canvas together;
2. style: pens are planned on the first frame's marks (which mark, where along it, normal offsets,
   radii, opacity); each frame's Drawing (inkmotion.codec.drawing) is those pens on that frame's
   marks;
3. paint: each Drawing is painted with OpenCV at 4x supersampling and box-averaged down (an opaque
   fill hides the ink painted before it), and the paper grain added.

Reused: motion_strokes_data's Hershey glyphs, stick person and quadruped with their gaits, cycle
phases and facing, and its supersampling factor; eval_video_motion's star, tapered limb and
similarity about a point. Painting is ours rather than inkmotion.strokes.lineart.paint_lineart,
which paints the same Drawings alike (clean lines: the same ink within ~10%, centred within a
fifth of a pixel; where translucent passes overlap ours keeps the darkest, it darkens), because
ours is ~7x faster.

CLI: ``python scripts/sketch_flow_data.py --seed 5000000 --count 10 --out /tmp/sheet.png`` writes a
contact sheet (a clip per row, frames left to right) and prints how long the clips took.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "scripts"))

import eval_video_motion as evm  # noqa: E402
import motion_strokes_data as msd  # noqa: E402

from inkmotion.codec.drawing import Drawing, Stroke  # noqa: E402

KINDS = ("glyph", "figure", "walk", "rotation", "occlusion")
STYLES = ("clean", "sketchy", "broken", "shaded")
# Disjoint seed ranges: training streams wrap around inside TRAIN_SEEDS, so they never reach the
# held-out clips (1000 of them: 200 of each kind, 50 of each kind and style).
TRAIN_SEEDS = range(0, 1_000_000)
HELD_OUT_SEEDS = range(5_000_000, 5_001_000)
MIN_FRAMES, MIN_SIZE = 3, 32
PAPER = np.array([1.0, 1.0, 1.0, 1.0], np.float32)  # an occluder's fill: paper, hiding what is behind
SHIFT = 2  # OpenCV's fractional bits for coordinates on the supersampled canvas


@dataclass
class LineClip:
    frames: np.ndarray  # float32 [F, H, W] ink coverage in [0, 1] (1 = ink); frames 0 and F-1 are the keys
    kind: str
    style: str
    seed: int
    drawings: list[Drawing] = field(default_factory=list)  # the vector frames painted (paper grain aside)


@dataclass
class Mark:
    """One line of a frame, in canvas px; a kind's frames have the same marks, vertex for vertex."""
    points: np.ndarray  # [n, 2]
    closed: bool = False
    occluder: bool = False  # filled with paper: hides the marks before it


# ----------------------------------------------------------------------------------------------
# Positions along a mark. A vertex parameter v is vertex index + fraction of the way to the next
# vertex (wrapping for closed marks, extrapolating past the ends of open ones): it names the same
# place on the line in every frame, however the line moves or deforms.

def at(points: np.ndarray, closed: bool, v: np.ndarray) -> np.ndarray:
    """The points at vertex parameters `v` of the polyline `points` [n, 2]."""
    pts = np.asarray(points, np.float64)
    if closed:
        pts = np.vstack([pts, pts[:1]])
        v = np.mod(v, len(pts) - 1)
    if len(pts) == 1:
        return np.repeat(pts, len(v), axis=0)
    i = np.clip(np.floor(v).astype(int), 0, len(pts) - 2)
    f = (v - i)[:, None]
    return pts[i] + f * (pts[i + 1] - pts[i])


def arc_to_param(points: np.ndarray, closed: bool, s: np.ndarray) -> np.ndarray:
    """Vertex parameters of the arc lengths `s` (px from the first vertex; past the ends of an open
    line they run on along its end segments, a closed line wraps)."""
    pts = np.vstack([points, points[:1]]) if closed else np.asarray(points)
    seg = np.maximum(np.linalg.norm(np.diff(pts, axis=0), axis=1), 1e-9)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.asarray(s, np.float64)
    if closed:
        turns = np.floor(s / cum[-1])
        s = s - turns * cum[-1]
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    v = i + (s - cum[i]) / seg[i]
    return v + len(seg) * turns if closed else v


def length(points: np.ndarray, closed: bool) -> float:
    pts = np.vstack([points, points[:1]]) if closed else points
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def normals(points: np.ndarray, cyclic: bool) -> np.ndarray:
    """Unit normals of a polyline (its tangents turned a quarter)."""
    if cyclic:
        tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    else:
        tangent = np.gradient(points, axis=0) if len(points) > 1 else np.ones_like(points)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


# ----------------------------------------------------------------------------------------------
# Subjects: lists of (points, closed) in local px around the origin.

def ellipse_points(centre, radii, count: int = 48) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return np.asarray(centre, np.float64) + np.stack([radii[0] * np.cos(a), radii[1] * np.sin(a)], axis=1)


def polygon_points(rng: np.random.Generator, radius: float) -> np.ndarray:
    """An irregular polygon of 3-7 sides."""
    sides = int(rng.integers(3, 8))
    a = rng.uniform(0, 2 * np.pi) + np.sort(rng.uniform(-0.25, 0.25, sides) + np.arange(sides)) * 2 * np.pi / sides
    r = radius * rng.uniform(0.8, 1.0, sides)
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def blob_points(rng: np.random.Generator, radius: float, count: int = 64) -> np.ndarray:
    """A smooth closed curve: a circle with a few random low harmonics."""
    a = np.linspace(0, 2 * np.pi, count, endpoint=False)
    r = np.ones(count)
    for k in (2, 3, 4):
        r += rng.uniform(0, 0.25 / k * 2) * np.cos(k * a + rng.uniform(0, 2 * np.pi))
    r *= radius / r.max()
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def glyph_parts(rng: np.random.Generator, size: int) -> list[tuple[np.ndarray, bool]]:
    """A random Hershey letter or digit (motion_strokes_data's, there 0.3-0.45 of the canvas tall,
    here up to 1.4 times that), its loops as closed marks."""
    parts = []
    grow = rng.uniform(1.0, 1.4)
    for line in msd.glyph_shapes(rng, size):
        pts = line.points * grow
        if len(pts) >= 4 and np.linalg.norm(pts[0] - pts[-1]) < 1e-6:
            parts.append((pts[:-1], True))
        else:
            parts.append((pts, False))
    return parts


def shape_parts(rng: np.random.Generator, size: int, glyph_chance: float = 0.4) -> list[tuple[np.ndarray, bool]]:
    """A glyph, or a star, oval, polygon or blob 0.28-0.48 of the canvas across, sometimes with
    something drawn inside it."""
    if rng.uniform() < glyph_chance:
        return glyph_parts(rng, size)
    r = rng.uniform(0.14, 0.24) * size
    pick = int(rng.integers(4))
    if pick == 0:
        outline = evm.star((0.0, 0.0), r, r * rng.uniform(0.4, 0.75), int(rng.integers(4, 9)))
    elif pick == 1:
        outline = ellipse_points((0.0, 0.0), (r, r * rng.uniform(0.55, 1.0)))
    elif pick == 2:
        outline = polygon_points(rng, r)
    else:
        outline = blob_points(rng, r)
    outline = outline @ rotation(rng.uniform(0, 2 * np.pi)).T
    parts = [(outline, True)]
    inside = rng.uniform()
    if inside < 0.25:  # an eye
        parts.append((ellipse_points(rng.uniform(-0.2, 0.2, 2) * r, (0.25 * r, 0.25 * r), 24), True))
    elif inside < 0.45:  # a crease
        a = rng.uniform(0, np.pi)
        ends = 0.45 * r * np.array([[np.cos(a), np.sin(a)], [-np.cos(a), -np.sin(a)]])
        parts.append((np.stack([ends[0], 0.2 * r * rng.uniform(-1, 1, 2), ends[1]]), False))
    return parts


def rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def polar(radius: float, angle: float) -> np.ndarray:
    return radius * np.array([np.cos(angle), np.sin(angle)])


def extent(parts) -> float:
    return float(max(np.linalg.norm(p, axis=1).max() for p, _ in parts))


# ----------------------------------------------------------------------------------------------
# Motions: (rng, size, times) -> per frame, the same list of Marks. Every parameter moves linearly
# in t (arcs are linear parameters of a curve), so the key at t = 1 fixes each frame.

def glyph_motion(rng: np.random.Generator, size: int, times: np.ndarray) -> list[list[Mark]]:
    k = size / 256
    subjects = 1 if rng.uniform() < 0.7 else 2
    apart = rng.uniform(0, 2 * np.pi) + np.array([0, np.pi])
    centres = [np.zeros(2)] if subjects == 1 else [polar(0.2 * size, a) for a in apart]
    frames: list[list[Mark]] = [[] for _ in times]
    for centre in centres:
        parts = shape_parts(rng, size if subjects == 1 else int(0.75 * size), glyph_chance=0.5)
        h = max(extent(parts), 1.0)
        travel = polar(rng.uniform(8, 45) * k, rng.uniform(0, 2 * np.pi))
        grow, turn = rng.uniform(-0.2, 0.2), rng.uniform(-0.15, 0.15)
        shear, bend, squash = rng.uniform(-0.2, 0.2), rng.uniform(-0.15, 0.15), rng.uniform(-0.12, 0.12)
        for frame, t in zip(frames, times):
            move = evm.about(turn * t, 1 + grow * t, travel * t + centre, (0.0, 0.0))
            for pts, closed in parts:
                x, y = pts[:, 0], pts[:, 1]
                warped = np.stack([(x + t * (shear * y + bend * y * y / h)) / (1 + squash * t),
                                   y * (1 + squash * t)], axis=1)
                frame.append(Mark(move.apply(warped), closed))
    return frames


def figure_motion(rng: np.random.Generator, size: int, times: np.ndarray) -> list[list[Mark]]:
    """eval_video_motion's figure made line art: a star or oval body, tapered limbs (its `limb`)
    swinging about their joints, maybe arms, a head and eyes; the body squashes and leans about
    its base while travelling on an arc."""
    k = size / 256
    r = rng.uniform(0.1, 0.15) * size
    if rng.uniform() < 0.5:
        body = evm.star((0.0, 0.0), r, r * rng.uniform(0.55, 0.8), int(rng.integers(5, 9)))
    else:
        body = ellipse_points((0.0, 0.0), (r * rng.uniform(1.0, 1.3), r * rng.uniform(0.7, 1.0)))
    # (local points, closed, joint, rest angle, swing angle over the clip)
    parts = [(body, True, None, 0.0, 0.0)]
    swing = rng.uniform(0.25, 0.7) * rng.choice([-1, 1])
    for side, share in ((-1, 1.0), (1, -rng.uniform(0.5, 1.0))):
        hip = np.array([side * rng.uniform(0.3, 0.5) * r, 0.7 * r])
        leg = evm.limb(hip, rng.uniform(0.9, 1.4) * r, rng.uniform(0.15, 0.25) * r)
        parts.append((leg, True, hip, 0.0, swing * share))
    if rng.uniform() < 0.6:
        for side in (-1, 1):
            shoulder = np.array([side * 0.85 * r, -0.1 * r])
            parts.append((evm.limb(shoulder, rng.uniform(0.7, 1.0) * r, rng.uniform(0.1, 0.18) * r), True, shoulder,
                          -side * rng.uniform(0.3, 0.9), rng.uniform(-0.6, 0.6)))
    face = np.array([0.0, -0.2 * r])
    if rng.uniform() < 0.6:
        head_r = rng.uniform(0.3, 0.4) * r
        face = np.array([0.0, -(r + 0.8 * head_r)])
        parts.append((ellipse_points(face, (head_r, head_r), 32), True, None, 0.0, 0.0))
    if rng.uniform() < 0.7:
        for side in (-1, 1):
            parts.append((ellipse_points(face + [side * 0.12 * r, 0], (0.05 * r, 0.05 * r), 12), True, None, 0.0, 0.0))
    base = np.array([0.0, 0.7 * r])
    travel = polar(rng.uniform(12, 45) * k, rng.uniform(0, 2 * np.pi))
    bob, lean, squash = rng.uniform(-8, 8) * k, rng.uniform(-0.25, 0.25), rng.uniform(-0.2, 0.2)
    frames = []
    for t in times:
        scale = np.array([1 / (1 + squash * t), 1 + squash * t])
        carry = travel * t + [0.0, bob * np.sin(np.pi * t)]
        marks = []
        for pts, closed, joint, rest, turn in parts:
            if joint is not None:
                pts = evm.about(rest + turn * t, 1.0, (0.0, 0.0), joint).apply(pts)
            moved = ((pts - base) * scale) @ rotation(lean * t).T + base + carry
            marks.append(Mark(moved, closed))
        frames.append(marks)
    return frames


def walk_motion(rng: np.random.Generator, size: int, times: np.ndarray) -> list[list[Mark]]:
    """motion_strokes_data's stick person or quadruped, walking or running along a near-level line:
    its phase advances with the distance covered (`phases`), it faces the way it goes (`facing`);
    drawn up to 1.3 times as big as there."""
    figure = msd.make_figure(("stick", "quadruped")[rng.integers(2)], rng, size)
    grow = rng.uniform(1.0, 1.3)
    travel = min(figure.stride * rng.uniform(0.2, 0.5), 0.23 * size / grow)
    heading = rng.uniform(-0.15, 0.15) + np.pi * rng.integers(2)
    keypoints = times[:, None] * polar(travel, heading)
    face = msd.facing(keypoints, rng)
    frames = []
    for point, phase in zip(keypoints, msd.phases(keypoints, figure.stride, rng.uniform(0, 2 * np.pi))):
        marks = []
        for shape in figure.shapes(phase):
            if isinstance(shape, msd.Line):
                marks.append(Mark((shape.points * [face, 1.0] + point) * grow))
            else:
                marks.append(Mark((ellipse_points(shape.centre, shape.radii, 32) * [face, 1.0] + point) * grow, True))
        frames.append(marks)
    return frames


def rotation_motion(rng: np.random.Generator, size: int, times: np.ndarray) -> list[list[Mark]]:
    """A rigid subject turning 15-60 degrees about a point near its centre, drifting a little."""
    parts = shape_parts(rng, size, glyph_chance=0.4)
    pivot = rng.uniform(-0.3, 0.3, 2) * extent(parts)
    angle = np.radians(rng.uniform(15, 60)) * rng.choice([-1, 1])
    drift = polar(rng.uniform(0, 15) * size / 256, rng.uniform(0, 2 * np.pi))
    return [[Mark(evm.about(angle * t, 1.0, drift * t, pivot).apply(pts), closed) for pts, closed in parts]
            for t in times]


def occlusion_motion(rng: np.random.Generator, size: int, times: np.ndarray) -> list[list[Mark]]:
    """A subject crossing the edge of an opaque front shape (which drifts a little) at mid-clip,
    30-60 px on its way in (or out); the front shape comes last, filled with paper."""
    k = size / 256
    back = shape_parts(rng, int(0.7 * size), glyph_chance=0.4)
    r = rng.uniform(0.14, 0.22) * size
    pick = int(rng.integers(4))
    if pick == 0:
        w, h = r, r * rng.uniform(0.6, 1.0)
        front = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) @ rotation(rng.uniform(-0.4, 0.4)).T
        corners = zip(front, np.roll(front, -1, axis=0))
        front = np.concatenate([np.linspace(a, b, 8, endpoint=False) for a, b in corners])
    elif pick == 1:
        front = ellipse_points((0.0, 0.0), (r, r * rng.uniform(0.6, 1.0)))
    elif pick == 2:
        front = evm.star((0.0, 0.0), r, r * rng.uniform(0.6, 0.8), int(rng.integers(5, 9)))
    else:
        front = blob_points(rng, r)
    # Where the subject's centre crosses the front's outline: the outline point nearest a random
    # bearing; it comes in from outside, turned up to ~30 degrees off the way to the centre.
    bearing = rng.uniform(0, 2 * np.pi)
    angles = np.arctan2(front[:, 1], front[:, 0])
    edge = front[np.argmin(np.abs(np.angle(np.exp(1j * (angles - bearing)))))]
    inward = -polar(1.0, bearing + rng.uniform(-0.5, 0.5))
    travel = rng.uniform(30, 60) * k * inward
    start, end = edge - travel / 2, edge + travel / 2
    if rng.uniform() < 0.5:  # coming out from behind
        start, end = end, start
    drift = polar(rng.uniform(0, 8) * k, rng.uniform(0, 2 * np.pi))
    frames = []
    for t in times:
        shift = start + t * (end - start)
        marks = [Mark(pts + shift, closed) for pts, closed in back]
        frames.append(marks + [Mark(front + drift * t, True, occluder=True)])
    return frames


MOTIONS = {"glyph": glyph_motion, "figure": figure_motion, "walk": walk_motion, "rotation": rotation_motion,
           "occlusion": occlusion_motion}


def fit(frames: list[list[Mark]], rng: np.random.Generator, size: int) -> None:
    """Moves (and if need be shrinks) all frames together so that every mark stays 5% of the canvas
    inside its edges, at a random place where there is room."""
    pad = 0.05 * size
    pts = np.concatenate([m.points for marks in frames for m in marks])
    low, high = pts.min(axis=0), pts.max(axis=0)
    span = (high - low).max()
    scale = min(1.0, (size - 2 * pad) / max(span, 1e-9))
    slack = size - 2 * pad - scale * (high - low)
    offset = pad + rng.uniform(0, 1, 2) * slack - scale * low
    for marks in frames:
        for m in marks:
            m.points = m.points * scale + offset


# ----------------------------------------------------------------------------------------------
# Styles: pens planned on the first frame's marks, each following its mark through the frames.

@dataclass
class Pen:
    mark: int  # the mark it follows
    v: np.ndarray  # vertex parameters along it
    radii: np.ndarray  # px, per point
    opacity: float
    offset: np.ndarray | None = None  # px along the line's normal, per point (a wobble)
    cyclic: bool = False
    inset: float = 0.0  # a hatch: the straight line between v[0] and v[1], pulled in this fraction at each end
    fill: bool = False  # the mark's own outline filled with paper (an occluder)

    def stroke(self, marks: list[Mark]) -> Stroke:
        mark = marks[self.mark]
        if self.fill:
            return Stroke.from_points(mark.points, radius=0.0, opacity=0.0, fill=PAPER.copy(), cyclic=True)
        points = at(mark.points, mark.closed, self.v)
        if self.inset:
            a, b = points
            points = np.stack([a + self.inset * (b - a), b - self.inset * (b - a)])
        if self.offset is not None:
            points = points + normals(points, self.cyclic) * self.offset[:, None]
        return Stroke(points=points.astype(np.float32), radii=self.radii.astype(np.float32),
                      opacities=np.full(len(points), self.opacity, np.float32), cyclic=self.cyclic)


def spaced(points: np.ndarray, closed: bool, start: float, stop: float, step: float = 2.0,
           corners: bool = True) -> np.ndarray:
    """Vertex parameters from arc length `start` to `stop` px, about `step` px apart, with the
    vertices in between (so corners stay sharp)."""
    count = max(2, int(np.ceil((stop - start) / step)) + 1)
    v = arc_to_param(points, closed, np.linspace(start, stop, count))
    if corners:
        inner = np.arange(np.ceil(v[0] + 1e-6), np.floor(v[-1] - 1e-6) + 1)
        v = np.union1d(v, inner)
    return v


def clean_pens(marks: list[Mark], width: float) -> list[Pen]:
    pens = []
    for i, m in enumerate(marks):
        v = spaced(m.points, m.closed, 0.0, length(m.points, m.closed))
        if m.closed:
            v = v[:-1]  # the closing vertex is the first
        pens.append(Pen(i, v, np.full(len(v), width / 2), 1.0, cyclic=m.closed))
    return pens


def sketchy_pens(marks: list[Mark], rng: np.random.Generator, width: float, k: float) -> list[Pen]:
    """2-3 passes per line, each with its own smooth wobble (a constant plus a sine along the line),
    overshoot or shortfall at the ends (a closed line is gone round once, give or take), pressure
    (a tapered, wavering width) and darkness."""
    jitter = rng.uniform(0.4, 1.2) * k
    pens = []
    for i, m in enumerate(marks):
        total = length(m.points, m.closed)
        for _ in range(int(rng.integers(2, 4))):
            if m.closed:
                begin = rng.uniform(0, total)
                span = total * (1 + rng.uniform(-0.04, 0.1))
            else:
                begin = -rng.uniform(-2, 5) * k
                span = total - begin + rng.uniform(-2, 5) * k
            v = spaced(m.points, m.closed, begin, begin + span, 1.5 * k + 0.5, corners=False)
            s = np.linspace(0, 1, len(v))
            bias, amplitude = rng.normal(0, 0.6), rng.uniform(0.3, 1.0)
            wave = np.sin(2 * np.pi * (rng.uniform(0.5, 2.5) * s + rng.uniform()))
            offset = jitter * (bias + amplitude * wave)
            waver = np.sin(2 * np.pi * (rng.uniform(0.5, 2) * s + rng.uniform()))
            pressure = (0.5 + 0.5 * np.sin(np.pi * s) ** 0.5) * (1 + 0.25 * waver)
            pens.append(Pen(i, v, width / 2 * pressure, rng.uniform(0.45, 1.0), offset=offset))
    return pens


def broken_pens(marks: list[Mark], rng: np.random.Generator, width: float, k: float) -> list[Pen]:
    """Most lines cut into dashes of 8-35 px with gaps that show (wider than the round caps close)."""
    pens = []
    for i, m in enumerate(marks):
        total = length(m.points, m.closed)
        if rng.uniform() < 0.15 or total < 12 * k:
            pens += [Pen(i, p.v, p.radii, 1.0, cyclic=p.cyclic) for p in clean_pens([m], width)]
            continue
        s = -rng.uniform(0, 20) * k if m.closed else 0.0
        end = s + total if m.closed else total
        while s < end:
            dash = min(rng.uniform(8, 35) * k, end - s)
            if dash > 0.5:
                v = spaced(m.points, m.closed, s, s + dash)
                pens.append(Pen(i, v, np.full(len(v), width / 2), 1.0))
            s += dash + width + rng.uniform(1.5, 4) * k
    return pens


def hatch_params(points: np.ndarray, angle: float, spacing: float) -> list[tuple[float, float]]:
    """Parallel hatch lines `spacing` px apart at `angle` across the closed polygon `points`
    (even-odd inside), as pairs of vertex parameters where each line enters and leaves it."""
    q = points @ rotation(-angle).T
    nxt = np.roll(q, -1, axis=0)
    y0, y1 = q[:, 1], nxt[:, 1]
    low, high = q[:, 1].min(), q[:, 1].max()
    pairs = []
    for y in np.arange(low + spacing * 0.5, high, spacing):
        cross = np.flatnonzero((y0 <= y) != (y1 <= y))
        if len(cross) < 2:
            continue
        t = (y - y0[cross]) / (y1[cross] - y0[cross])
        x = q[cross, 0] + t * (nxt[cross, 0] - q[cross, 0])
        order = np.argsort(x)
        v, x = (cross + t)[order], x[order]
        for j in range(0, len(v) - 1, 2):
            if x[j + 1] - x[j] > 3.0:
                pairs.append((float(v[j]), float(v[j + 1])))
    return pairs


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def hatch_pens(marks: list[Mark], rng: np.random.Generator, width: float, k: float) -> dict[int, list[Pen]]:
    """Hatching in some closed marks big enough for it (in one at least, where there is one)."""
    room = [i for i, m in enumerate(marks) if m.closed and polygon_area(m.points) > (14 * k) ** 2]
    chosen = [i for i in room if rng.uniform() < 0.6]
    if room and not chosen:
        chosen = [room[int(rng.integers(len(room)))]]
    radius = max(0.35, rng.uniform(0.25, 0.45) * width)
    spacing = max(rng.uniform(3.5, 7) * k, 2 * radius + 2)
    out = {}
    for i in chosen:
        angle = rng.uniform(0, np.pi)
        angles = [angle, angle + rng.uniform(np.pi / 3, 2 * np.pi / 3)] if rng.uniform() < 0.3 else [angle]
        opacity = rng.uniform(0.5, 0.9)
        out[i] = [Pen(i, np.array(pair), np.full(2, radius), opacity, inset=0.08)
                  for a in angles for pair in hatch_params(marks[i].points, a, spacing)]
    return out


def plan_pens(marks: list[Mark], style: str, rng: np.random.Generator, size: int) -> list[Pen]:
    """The clip's pens, in painting order: an occluder's fill comes before its own lines."""
    k = size / 256
    if style == "clean":
        pens = clean_pens(marks, rng.uniform(1, 4) * k)
    elif style == "sketchy":
        pens = sketchy_pens(marks, rng, rng.uniform(0.8, 2.2) * k, k)
    elif style == "broken":
        pens = broken_pens(marks, rng, rng.uniform(1, 3.5) * k, k)
    else:
        width = rng.uniform(1, 3.5) * k
        pens = clean_pens(marks, width)
        hatches = hatch_pens(marks, rng, width, k)
        pens = [h for i in sorted(hatches) for h in hatches[i]] + pens
    ordered = []
    for i, m in enumerate(marks):  # each mark's pens together, in mark order (hatches first)
        if m.occluder:
            ordered.append(Pen(i, np.zeros(0), np.zeros(0), 0.0, fill=True))
        ordered += [p for p in pens if p.mark == i]
    return ordered


# ----------------------------------------------------------------------------------------------
# Painting

def paint(drawing: Drawing, supersample: int = msd.SUPERSAMPLE) -> np.ndarray:
    """float32 [H, W] ink coverage of a Drawing: its strokes with round caps and joins, a point's
    radius its half-width, a stroke's darkness its colour's times its mean opacity; overlapping ink
    keeps the darkest; an opaque fill (`Stroke.fill`, alpha taken as 1) covers what came before.
    Painted at `supersample`x and box-averaged, pixel (col, row) covering [col, col+1) x [row, row+1)."""
    s = supersample
    canvas = np.zeros((drawing.height * s, drawing.width * s), np.uint8)
    layer: list[Stroke] = []

    def grid(points: np.ndarray) -> np.ndarray:  # OpenCV's integer coordinate i is the centre of pixel i
        return np.rint((np.asarray(points, np.float64) * s - 0.5) * (1 << SHIFT)).astype(np.int32)

    def flush() -> None:  # darker ink last, so that drawing over keeps the darkest
        for stroke in sorted(layer, key=darkness):
            value = int(round(255 * darkness(stroke)))
            if value <= 0 or not len(stroke.points):
                continue
            pts, wide = grid(stroke.points), 2 * stroke.radii * s
            if stroke.cyclic and len(pts) > 2:
                pts, wide = np.vstack([pts, pts[:1]]), np.append(wide, wide[0])
            if len(pts) == 1:
                cv2.circle(canvas, tuple(int(c) for c in pts[0]), int(round(wide[0] * (1 << SHIFT) / 2)), value, -1,
                           cv2.LINE_AA, SHIFT)
                continue
            # OpenCV's antialiased line of thickness t >= 2 is 2 * (t // 2) + 1.32 pixels wide (t = 1:
            # 1.38): the even t nearest the wanted width (widths come in steps of 2 / supersample
            # px). Its aliased lines are as wide, but wobble in width along their length.
            seg = np.maximum(2 * np.rint(((wide[:-1] + wide[1:]) / 2 - 1.32) / 2), 1).astype(int)
            cuts = np.flatnonzero(np.diff(seg)) + 1
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(seg)]):
                cv2.polylines(canvas, [pts[a:b + 1]], False, value, int(seg[a]), cv2.LINE_AA, SHIFT)
        layer.clear()

    for stroke in drawing.strokes:
        if stroke.fill is not None and stroke.cyclic and len(stroke.points) > 2:
            flush()
            cv2.fillPoly(canvas, [grid(stroke.points)], int(round(255 * ink_of(stroke.fill))), cv2.LINE_AA, SHIFT)
        layer.append(stroke)
    flush()
    small = cv2.resize(canvas, (drawing.width, drawing.height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255


def ink_of(color: np.ndarray) -> float:
    return float(np.clip(1.0 - np.dot(np.asarray(color[:3], np.float64), [0.299, 0.587, 0.114]), 0.0, 1.0))


def darkness(stroke: Stroke) -> float:
    opacity = float(np.mean(stroke.opacities)) if len(stroke.opacities) else 0.0
    return ink_of(stroke.color) * opacity * float(stroke.color[3])


def paper_grain(rng: np.random.Generator, size: int) -> np.ndarray:
    """Half the clips: a faint blotchy paper texture (0-5% ink), the other half none."""
    if rng.uniform() < 0.5:
        return np.zeros((size, size), np.float32)
    noise = cv2.GaussianBlur(rng.random((size, size), np.float32), (0, 0), rng.uniform(0.6, 1.5))
    noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)
    return (rng.uniform(0.01, 0.05) * noise).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Clips and datasets

def make_clip(kind: str, style: str, seed: int, frames: int = 9, size: int = 256, grain: bool = True) -> LineClip:
    """Clip `seed` of a motion `kind` in a line `style`: `frames` frames at `size` x `size` px,
    frame t at time t / (frames - 1). The motion depends on (seed, kind) only, the lines on
    (seed, style), the paper grain (none when `grain` is False) on the seed."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {KINDS}")
    if style not in STYLES:
        raise ValueError(f"style: {style!r} is not one of {STYLES}")
    if frames < MIN_FRAMES:
        raise ValueError(f"frames: {frames} is under the minimum of {MIN_FRAMES} (two keys and one between)")
    if size < MIN_SIZE:
        raise ValueError(f"size: {size} is under the minimum of {MIN_SIZE} px")
    # 1. motion
    motion_rng = np.random.default_rng([seed, 0, KINDS.index(kind)])
    marks = MOTIONS[kind](motion_rng, size, np.linspace(0.0, 1.0, frames))
    fit(marks, motion_rng, size)
    # 2. style
    pens = plan_pens(marks[0], style, np.random.default_rng([seed, 1, STYLES.index(style)]), size)
    drawings = [Drawing(size, size, [pen.stroke(m) for pen in pens]) for m in marks]
    # 3. paint
    ink = np.stack([paint(d) for d in drawings])
    if grain:
        paper = paper_grain(np.random.default_rng([seed, 2]), size)
        ink += (1.0 - ink) * paper
    return LineClip(np.clip(ink, 0.0, 1.0, out=ink), kind, style, seed, drawings)


def seed_range(seed: int) -> range:
    for seeds in (TRAIN_SEEDS, HELD_OUT_SEEDS):
        if seed in seeds:
            return seeds
    raise ValueError(f"seed: {seed} is in neither TRAIN_SEEDS ({TRAIN_SEEDS.start}-{TRAIN_SEEDS.stop - 1}) "
                     f"nor HELD_OUT_SEEDS ({HELD_OUT_SEEDS.start}-{HELD_OUT_SEEDS.stop - 1})")


def dataset(count: int, seed: int, frames: int = 9, size: int = 256, kinds: tuple[str, ...] = KINDS,
            styles: tuple[str, ...] = STYLES) -> Iterator[LineClip]:
    """`count` clips, lazily: clip i has kind kinds[i % len(kinds)] and style
    styles[(i // len(kinds)) % len(styles)] (every pair once in each len(kinds) * len(styles)
    clips) and seed `seed` + i. `seed` picks the range: in TRAIN_SEEDS the seeds wrap round inside
    it (so a long training stream repeats rather than reach the held-out clips); in HELD_OUT_SEEDS
    there are only so many clips."""
    seeds = seed_range(seed)
    if seeds is HELD_OUT_SEEDS and seed + count > seeds.stop:
        raise ValueError(f"count: {count} held-out clips from seed {seed} is over the {seeds.stop - seed} "
                         f"held-out seeds left (HELD_OUT_SEEDS ends at {seeds.stop - 1})")
    for name, given, known in (("kinds", kinds, KINDS), ("styles", styles, STYLES)):
        if not given or any(g not in known for g in given):
            raise ValueError(f"{name}: {tuple(given)!r} must be a non-empty choice from {known}")

    def clips() -> Iterator[LineClip]:
        for i in range(count):
            clip_seed = seeds.start + (seed - seeds.start + i) % len(seeds)
            yield make_clip(kinds[i % len(kinds)], styles[(i // len(kinds)) % len(styles)], clip_seed, frames, size)

    return clips()


def contact_sheet(clips: list[LineClip], zoom: int = 1) -> Image.Image:
    """A clip per row, frames left to right, ink dark on white, keys framed grey."""
    frames, size = clips[0].frames.shape[0], clips[0].frames.shape[1]
    cell = size + 4
    sheet = np.full((len(clips) * cell, frames * cell), 255, np.uint8)
    for n, clip in enumerate(clips):
        for t, frame in enumerate(clip.frames):
            y, x = n * cell + 2, t * cell + 2
            if t in (0, frames - 1):
                sheet[y - 2:y + size + 2, x - 2:x + size + 2] = 150
            sheet[y:y + size, x:x + size] = np.round(255 * (1 - frame)).astype(np.uint8)
    image = Image.fromarray(sheet)
    return image.resize((image.width * zoom, image.height * zoom), Image.NEAREST)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEEDS.start)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, from " + ", ".join(KINDS))
    parser.add_argument("--styles", default=",".join(STYLES), help="comma-separated, from " + ", ".join(STYLES))
    parser.add_argument("--zoom", type=int, default=1)
    parser.add_argument("--out", help="where to write the contact sheet (PNG)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    clips = list(dataset(args.count, args.seed, args.frames, args.size, tuple(args.kinds.split(",")),
                         tuple(args.styles.split(","))))
    seconds = time.perf_counter() - began
    print(f"{args.count} clips of {args.frames} frames at {args.size} px in {seconds:.2f} s "
          f"({1000 * seconds / max(args.count, 1):.1f} ms a clip)")
    if args.out:
        contact_sheet(clips, args.zoom).save(args.out)
        print(f"contact sheet: {args.out}")


if __name__ == "__main__":
    main()
