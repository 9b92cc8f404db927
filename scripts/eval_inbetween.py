#!/usr/bin/env python3
"""Measure the `inbetween` task's methods on keys whose middle frames are known.

    python3 scripts/eval_inbetween.py [--clips 40] [--frames 9] [--size 256] [--weights DIR] \
        [--seed 0] [--testdata DIR] [--no-pairs] [--json out.json] [--markdown] [--strips DIR]

Methods, on every case (two keys in, the frames strictly between them out, at times i / (F - 1)):
- `sketch-flow`: the learned raster model (inkmotion.pipelines.sketch_flow, z from `--seed`), on
  the keys' ink at the canvas size. Weights: `--weights`, else server/inkmotion/weights/sketch-flow
  where it exists, else /work/runs/sketch-flow;
- `stroke-match`: the classical engine (inkmotion.pipelines.inbetween, linear easing, arc paths,
  unmatched strokes fade) on the keys traced into strokes (`trace_lineart`), its frames painted
  back at the canvas size (`paint_lineart`); a run that fails counts as blank frames;
- `stroke-match (vector keys)`: the same engine on the true vector keys, where there are some (the
  procedural clips' Drawings and the SVG sketches), painted alike;
- `cross-dissolve`: (1 - t) start + t end, on the ink;
- `global warp`: one affine motion for the whole image (sketch-flow's own: `sketch_flow.global_motion`
  and `motion_fraction`). It is estimated by OpenCV's ECC
  (`cv2.findTransformECC`, MOTION_AFFINE) on Gaussian-blurred ink, coarse to fine (1/4, 1/2 and
  full size), started from the ink centroids' shift turned by each of -30, -15, 0, 15, 30
  degrees (the start with the best correlation at the coarsest level goes on). Its fraction t is
  taken about the start key's ink centroid: the centroid moves on the straight line, the linear
  part L = R S (polar decomposition) goes as R(t angle) S^t. Frame t is the start key carried by
  that fraction, A_t, and the end key carried back by A_t A^-1, blended (1 - t) and t. No motion
  found (blank keys, ECC failing from every start) leaves the centroid shift alone.
For the procedural clips there is also `truth repainted`: the true vector frames painted with
`paint_lineart` (the clips are painted with sketch_flow_data's own painter): the floor a perfect
vector method reaches here, the two painters' differences (and the grain, with `--grain`) alone.

Cases:
- `clips`: held-out procedural clips of scripts/sketch_flow_data.py, `--clips` of them (every kind
  in every style once per 20), seeds from HELD_OUT_SEEDS.start + 500 on (the trainer picks its
  checkpoint on the first held-out seeds, so those are skipped; HELD_OUT_SEEDS has only 1000
  seeds). Their frames between the keys are the truth. Reported overall, per style, per kind.
  Without paper grain unless `--grain` (keys and truth then have the same grain): the grain is
  paper, not line art, and at 1-5% ink it is about SSIM's C2 in variance, so a method that does
  not carry it (the vector ones) would lose SSIM on the empty paper alone.
- `svg` and `png`: the shared sketches (drawings by others, `--testdata`, default env
  INKMOTION_TESTDATA, else <repo>/../shared/testdata: vector_sketches/*.svg, raster_sketches/*.png)
  under two known motions, their start key the sketch as it is, their end key and middle frames
  the motion applied at times 1 and t:
  - `similarity`: about the canvas centre, a turn of 15-25 degrees either way, a shift of 10% of
    the longer side in a random direction and a scale of 0.9-1.1, all at time t a fraction t
    (angle t a, scale s^t, shift t d; line widths scaled alike for SVGs);
  - `bend`: a smooth non-rigid warp, p -> p + t d(p), d a sum of 3 Gaussian bumps (sigma a
    quarter of the longer side, centred in the middle 60% of the canvas, each moving 5-8% of the
    longer side in a random direction).
  SVGs: the stroke points moved and painted with `paint_lineart`, the canvas scaled so that its
  longer side is `--size`. PNGs: the ink image (at `--size` on the longer side, area averaging)
  moved with cv2.remap (bilinear; the inverse of `bend` by fixed-point iteration). Motions are
  drawn per file from `--seed`. Reported per source and per motion.

Figures per frame strictly between the keys, averaged over the frames of the cases of a group:
- Chamfer distance (px, lower is better), as AnimeInbet reports it (Siyao et al., "Deep
  Geometrized Cartoon Line Inbetweening", ICCV 2023), in pixels here: ink is the pixels with ink
  > 0.5 (`INK`), and the distance is the mean of the two directions' mean distance from each ink
  pixel to the nearest ink pixel of the other frame (cv2.distanceTransform, exact L2). A frame
  without ink where the other has some scores the canvas diagonal; two blank frames score 0;
- PSNR (dB, higher is better) of the ink in [0, 1], peak 1, at most 60 dB;
- SSIM (higher is better) of the ink: Wang et al.'s, an 11 x 11 Gaussian window of sigma 1.5,
  C1 = (0.01)^2, C2 = (0.03)^2, averaged over the windows that fit inside the image ("valid").
Tangling (inkmotion.strokes.tangling) of the vector methods' middle frames: mean self-
intersections and crossings a frame, and the excess over the keys (max(0, count - the larger of
the keys' counts)), per group. On traced keys most of it is junction overshoot: traced strokes
meet end to end at the ink's junctions (no crossings in the keys), and once each stroke moves on
its own their ends poke a little past each other (in a check on six sketches, every crossing of
the traced middle frames lay within 4 px of a stroke's end); on the vector keys it is real.

Pairs (`--pairs`, on by default): different drawings of one subject in the shared vector sketches
(dolphin_2 -> dolphin_3, gazelle2 -> gazelle_3, hummingbird1 -> hummingbird_3). There is no truth,
so `pair_report` gives the stroke-match engine's tangling per middle frame against the keys', and
its ghost ink: a middle-frame stroke is a ghost when its opacity (mean point opacity times its
colour's alpha) is under 0.9 times the keys' typical stroke's (the lower of the two keys'
length-weighted median opacities): strokes the engine fades out or in because it matched them to
nothing. Reported as shares of the middle frames' strokes and of their length. `pair_report`
takes any pair list and any engine with `inbetween`'s signature.

Output: three tables (Chamfer, PSNR, SSIM: method rows, case-group columns), the tangling table,
the pairs' table and the seconds each method took; `--markdown` also prints a compact table for
the README; `--json` writes everything; `--strips DIR` writes a PNG per case group, its first case:
rows truth and each method, columns the keys and 3 middle frames, ink black on white.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "server"))

import sketch_flow_data as data  # noqa: E402

from inkmotion.codec.drawing import Drawing, Raster  # noqa: E402
from inkmotion.strokes.lineart import ink_darkness, paint_lineart, trace_lineart  # noqa: E402
from inkmotion.strokes.tangling import tangle_excess  # noqa: E402

CLIP_SEED = data.HELD_OUT_SEEDS.start + 500  # past the held-out seeds the trainer scores itself on
INK = 0.5  # a pixel with more ink than this is ink, for the Chamfer distance
MAX_PSNR = 60.0
GHOST = 0.9  # a stroke under this share of the keys' typical opacity is ghost ink
METHODS = ("sketch-flow", "stroke-match", "stroke-match (vector keys)", "cross-dissolve", "global warp")
FLOOR = "truth repainted"
MOTIONS = ("similarity", "bend")
STYLES, KINDS = data.STYLES, data.KINDS
PAIRS = (("dolphin_2_scaled1.svg", "dolphin_3_scaled1.svg"),
         ("gazelle2_scaled1.svg", "gazelle_3_scaled1.svg"),
         ("hummingbird1_scaled1.svg", "hummingbird_3_scaled1.svg"))
DEFAULT_WEIGHTS = (ROOT / "server" / "inkmotion" / "weights" / "sketch-flow", Path("/work/runs/sketch-flow"))


def default_testdata() -> Path:
    return Path(os.environ.get("INKMOTION_TESTDATA") or ROOT.parent / "shared" / "testdata")


def default_weights() -> Path:
    for folder in DEFAULT_WEIGHTS:
        if (folder / "config.json").exists():
            return folder
    return DEFAULT_WEIGHTS[-1]


# -- figures ----------------------------------------------------------------------------------------

def chamfer(pred: np.ndarray, truth: np.ndarray, threshold: float = INK) -> float:
    """Symmetric Chamfer distance in px between the ink (> threshold) of two frames [H, W]: the
    mean of the two directions' mean distance to the nearest ink of the other frame. One frame
    blank and the other not: the canvas diagonal; both blank: 0."""
    a, b = pred > threshold, truth > threshold
    if not a.any() or not b.any():
        return 0.0 if not a.any() and not b.any() else float(math.hypot(*pred.shape))
    to_a = cv2.distanceTransform(np.where(a, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_b = cv2.distanceTransform(np.where(b, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float((to_b[a].mean() + to_a[b].mean()) / 2)


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) ** 2))
    return MAX_PSNR if mse <= 10 ** (-MAX_PSNR / 10) else float(min(MAX_PSNR, 10 * math.log10(1.0 / mse)))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-x**2 / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


_WINDOW = _gaussian_window()


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    """Wang et al.'s SSIM of two images [H, W] in [0, 1]: 11 x 11 Gaussian window (sigma 1.5),
    C1 = 0.01^2, C2 = 0.03^2, the mean over the windows inside the image."""
    a = np.asarray(pred, np.float64)
    b = np.asarray(truth, np.float64)
    r = _WINDOW.shape[0] // 2
    if min(a.shape) <= 2 * r:
        raise ValueError(f"ssim: images of {a.shape} are smaller than the {2 * r + 1} px window")

    def blur(x):
        return cv2.filter2D(x, cv2.CV_64F, _WINDOW, borderType=cv2.BORDER_CONSTANT)[r:-r, r:-r]

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    score = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(score.mean())


def frame_figures(pred: np.ndarray, truth: np.ndarray) -> dict[str, list[float]]:
    """{chamfer, psnr, ssim: one value per frame} for middle frames [T, H, W] against the truth."""
    return {"chamfer": [chamfer(p, t) for p, t in zip(pred, truth)],
            "psnr": [psnr(p, t) for p, t in zip(pred, truth)],
            "ssim": [ssim(p, t) for p, t in zip(pred, truth)]}


# -- cases -------------------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    groups: list[str]  # the case groups it counts in
    keys: tuple[np.ndarray, np.ndarray]  # ink [H, W] of the start and the end key
    truth: np.ndarray  # ink [T, H, W] of the frames between them
    times: list[float]  # the middle frames' times
    vector: tuple[Drawing, Drawing] | None = None  # the true vector keys, where there are some
    vector_truth: list[Drawing] | None = None  # the true vector middle frames, where known and painted otherwise
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


def middle_times(frames: int) -> list[float]:
    return [i / (frames - 1) for i in range(1, frames - 1)]


def clip_cases(count: int, frames: int, size: int, first_seed: int = CLIP_SEED, grain: bool = False):
    """The held-out clips in `data.dataset`'s order (kind i % 5, style (i // 5) % 4, seed first_seed + i)."""
    if first_seed not in data.HELD_OUT_SEEDS or first_seed + count > data.HELD_OUT_SEEDS.stop:
        raise ValueError(f"clips: {count} from seed {first_seed} are not all in HELD_OUT_SEEDS "
                         f"({data.HELD_OUT_SEEDS.start}-{data.HELD_OUT_SEEDS.stop - 1})")
    for i in range(count):
        kind, style = KINDS[i % len(KINDS)], STYLES[(i // len(KINDS)) % len(STYLES)]
        clip = data.make_clip(kind, style, first_seed + i, frames, size, grain=grain)
        yield Case(f"clip {clip.seed} {clip.kind} {clip.style}", ["clips", f"clips: {clip.style}", f"clips: {clip.kind}"],
                   (clip.frames[0], clip.frames[-1]), clip.frames[1:-1], middle_times(frames),
                   (clip.drawings[0], clip.drawings[-1]), clip.drawings[1:-1])


def scaled_drawing(drawing: Drawing, factor: float, width: int | None = None, height: int | None = None) -> Drawing:
    out = drawing.copy(width=width or max(1, round(drawing.width * factor)),
                       height=height or max(1, round(drawing.height * factor)))
    for s in out.strokes:
        s.points = (s.points * factor).astype(np.float32)
        s.radii = (s.radii * factor).astype(np.float32)
        s.bezier = None
    return out


class Motion:
    """A known motion of the canvas: `forward(points, t)` moves points [N, 2] (px) to time t,
    `inverse(points, t)` brings them back, `width_scale(t)` scales line widths."""

    def __init__(self, kind: str, rng: np.random.Generator, width: int, height: int):
        self.kind = kind
        side = max(width, height)
        self.centre = np.array([width / 2, height / 2])
        if kind == "similarity":
            self.angle = math.radians(rng.uniform(15, 25)) * rng.choice([-1, 1])
            self.scale = rng.uniform(0.9, 1.1)
            direction = rng.uniform(0, 2 * np.pi)
            self.shift = 0.1 * side * np.array([np.cos(direction), np.sin(direction)])
        elif kind == "bend":
            self.sigma = 0.25 * side
            self.bumps = self.centre + (rng.uniform(-0.3, 0.3, (3, 2)) * [width, height])
            angles = rng.uniform(0, 2 * np.pi, 3)
            self.moves = rng.uniform(0.05, 0.08, (3, 1)) * side * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        else:
            raise ValueError(f"motion: {kind!r} is not one of {MOTIONS}")

    def describe(self) -> dict:
        if self.kind == "similarity":
            return {"kind": self.kind, "angle_deg": math.degrees(self.angle), "scale": self.scale,
                    "shift_px": self.shift.tolist()}
        return {"kind": self.kind, "sigma_px": self.sigma, "bumps": self.bumps.tolist(), "moves_px": self.moves.tolist()}

    def _rotation(self, angle: float) -> np.ndarray:
        c, s = math.cos(angle), math.sin(angle)
        return np.array([[c, -s], [s, c]])

    def _field(self, p: np.ndarray) -> np.ndarray:
        d2 = ((p[:, None, :] - self.bumps[None]) ** 2).sum(axis=2)
        return np.exp(-d2 / (2 * self.sigma**2)) @ self.moves

    def forward(self, points: np.ndarray, t: float) -> np.ndarray:
        p = np.asarray(points, np.float64)
        if self.kind == "similarity":
            m = self.scale**t * self._rotation(t * self.angle)
            return (p - self.centre) @ m.T + self.centre + t * self.shift
        return p + t * self._field(p)

    def inverse(self, points: np.ndarray, t: float) -> np.ndarray:
        q = np.asarray(points, np.float64)
        if self.kind == "similarity":
            m = self._rotation(-t * self.angle) / self.scale**t
            return (q - self.centre - t * self.shift) @ m.T + self.centre
        p = q.copy()
        for _ in range(8):  # p + t d(p) = q, the field is gentle (t |grad d| < 1): a contraction
            p = q - t * self._field(p)
        return p

    def width_scale(self, t: float) -> float:
        return self.scale**t if self.kind == "similarity" else 1.0


def moved_drawing(drawing: Drawing, motion: Motion, t: float) -> Drawing:
    out = drawing.copy()
    for s in out.strokes:
        s.points = motion.forward(s.points, t).astype(np.float32)
        s.radii = (s.radii * motion.width_scale(t)).astype(np.float32)
        s.bezier = None
    return out


def moved_ink(ink: np.ndarray, motion: Motion, t: float) -> np.ndarray:
    """The ink image under the motion at time t (backward mapping through the inverse, bilinear)."""
    h, w = ink.shape
    ys, xs = np.mgrid[0:h, 0:w]
    q = np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5  # pixel centres
    p = motion.inverse(q, t) - 0.5
    map_x = p[:, 0].reshape(h, w).astype(np.float32)
    map_y = p[:, 1].reshape(h, w).astype(np.float32)
    return cv2.remap(ink, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def painted(drawing: Drawing, width: int, height: int) -> np.ndarray:
    return ink_darkness(paint_lineart(drawing, width, height))


def read_canvas_svg(path: Path, size: int, factor: float | None = None) -> Drawing:
    from inkmotion.codec.svg import read_svg

    drawing = read_svg(path)
    factor = factor if factor is not None else size / max(drawing.width, drawing.height)
    return scaled_drawing(drawing, factor)


def read_canvas_png(path: Path, size: int) -> np.ndarray:
    from inkmotion.codec.preview import read_raster

    ink = ink_darkness(read_raster(path))
    factor = size / max(ink.shape)
    dims = (max(1, round(ink.shape[1] * factor)), max(1, round(ink.shape[0] * factor)))
    if factor != 1:
        ink = cv2.resize(ink, dims, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return np.clip(ink, 0, 1).astype(np.float32)


def sketch_cases(folder: Path, frames: int, size: int, seed: int = 0, motions=MOTIONS, limit: int | None = None,
                 log=print):
    """The shared sketches under the known motions (see the module's docstring); `limit`: the
    first so many files of each source only."""
    times = middle_times(frames)
    files = [("svg", f) for f in sorted((folder / "vector_sketches").glob("*.svg"))[:limit]]
    files += [("png", f) for f in sorted((folder / "raster_sketches").glob("*.png"))[:limit]]
    for n, (source, path) in enumerate(files):
        try:
            start = read_canvas_svg(path, size) if source == "svg" else read_canvas_png(path, size)
        except Exception as exc:  # a file the readers refuse: said, and skipped
            log(f"skipped {path.name}: {type(exc).__name__}: {exc}")
            continue
        height, width = (start.height, start.width) if source == "svg" else start.shape
        for m, kind in enumerate(motions):
            motion = Motion(kind, np.random.default_rng([seed, n, m]), width, height)
            groups = [source, f"{source}: {kind}"]
            name = f"{path.name} {kind}"
            if source == "svg":
                end = moved_drawing(start, motion, 1.0)
                truth = np.stack([painted(moved_drawing(start, motion, t), width, height) for t in times])
                yield Case(name, groups, (painted(start, width, height), painted(end, width, height)), truth, times,
                           (start, end))
            else:
                truth = np.stack([moved_ink(start, motion, t) for t in times])
                yield Case(name, groups, (start, moved_ink(start, motion, 1.0)), truth, times)


# -- methods ------------------------------------------------------------------------------------------

def cross_dissolve(start: np.ndarray, end: np.ndarray, times: list[float]) -> np.ndarray:
    return np.stack([(1 - t) * start + t * end for t in times]).astype(np.float32)


def sketch_flow_frames(model, start: np.ndarray, end: np.ndarray, times: list[float], seed: int = 0) -> np.ndarray:
    import torch

    from inkmotion.pipelines import sketch_flow

    s = torch.from_numpy(np.ascontiguousarray(start, np.float32))[None, None]
    e = torch.from_numpy(np.ascontiguousarray(end, np.float32))[None, None]
    out = sketch_flow.inbetween(model, s, e, list(times), seed=seed)
    return np.stack([f[0, 0].numpy() for f in out]).astype(np.float32)


def ink_raster(ink: np.ndarray) -> Raster:
    """Ink [H, W] as black on transparent, what `trace_lineart` reads."""
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = np.round(255 * np.clip(ink, 0, 1)).astype(np.uint8)
    return Raster(rgba)


def stroke_match_drawings(start: Drawing, end: Drawing, frames: int, engine: Callable | None = None) -> list[Drawing]:
    if engine is None:
        from inkmotion.pipelines.inbetween import inbetween as engine
    return engine(start, end, frames, easing="linear", motion_path="arc", unmatched="fade")


def global_warp(start: np.ndarray, end: np.ndarray, times: list[float], motion: np.ndarray | None = None) -> np.ndarray:
    """One affine motion for the whole image (sketch_flow.global_motion, ECC), the fraction t of it
    (sketch_flow.motion_fraction, about the start key's ink centre) carrying the start key, the
    rest carrying the end key back, blended (1 - t) and t."""
    from inkmotion.pipelines.sketch_flow import global_motion, ink_centre, motion_fraction

    a = global_motion(start, end) if motion is None else motion
    h, w = start.shape
    centre, inverse = ink_centre(start), np.linalg.inv(a)
    out = []
    for t in times:
        a_t = motion_fraction(a, t, centre)
        ws = cv2.warpAffine(start, a_t[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        we = cv2.warpAffine(end, (a_t @ inverse)[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        out.append((1 - t) * ws + t * we)
    return np.clip(np.stack(out), 0, 1).astype(np.float32)


# -- running ------------------------------------------------------------------------------------------

def run_case(case: Case, model, seed: int, timings: dict, failures: dict, log=print) -> dict:
    """Every method on one case: {method: per-frame figures}, and the vector methods' tangling."""
    start, end = case.keys
    height, width = start.shape
    frames = len(case.times) + 2
    outputs: dict[str, np.ndarray] = {}
    tangles: dict[str, dict] = {}

    def timed(name, fn):
        began = time.perf_counter()
        try:
            return fn()
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - began

    outputs["sketch-flow"] = timed("sketch-flow", lambda: sketch_flow_frames(model, start, end, case.times, seed))

    def traced():
        try:
            drawings = stroke_match_drawings(trace_lineart(ink_raster(start)), trace_lineart(ink_raster(end)), frames)
        except Exception as exc:  # the engine refusing a pair: blank frames, counted
            failures["stroke-match"] = failures.get("stroke-match", 0) + 1
            log(f"stroke-match failed on {case.name}: {type(exc).__name__}: {exc}")
            return np.zeros_like(case.truth), None
        return np.stack([painted(d, width, height) for d in drawings[1:-1]]), drawings

    outputs["stroke-match"], drawings = timed("stroke-match", traced)
    if drawings is not None:
        tangles["stroke-match"] = tangle_excess(drawings)
    if case.vector is not None:
        def vector():
            ds = stroke_match_drawings(*case.vector, frames)
            return np.stack([painted(d, width, height) for d in ds[1:-1]]), ds

        outputs["stroke-match (vector keys)"], ds = timed("stroke-match (vector keys)", vector)
        tangles["stroke-match (vector keys)"] = tangle_excess(ds)
    outputs["cross-dissolve"] = timed("cross-dissolve", lambda: cross_dissolve(start, end, case.times))
    outputs["global warp"] = timed("global warp", lambda: global_warp(start, end, case.times))
    if case.vector_truth is not None:
        outputs[FLOOR] = np.stack([painted(d, width, height) for d in case.vector_truth])
    case.outputs = outputs
    return {"figures": {name: frame_figures(out, case.truth) for name, out in outputs.items()}, "tangling": tangles}


def load_model(weights: Path, tries: int = 5):
    """sketch-flow's weights (retrying a few times: a trainer may be rewriting them)."""
    from inkmotion.pipelines import sketch_flow

    for attempt in range(tries):
        try:
            return sketch_flow.load(weights)
        except Exception:
            if attempt == tries - 1:
                raise
            time.sleep(2)


def summarise(cases: list[dict]) -> tuple[dict, dict]:
    """Group figures: {group: {method: {chamfer, psnr, ssim (means over frames), frames, cases}}}
    and {group: {method: tangling means}}."""
    table: dict[str, dict] = {}
    tangle: dict[str, dict] = {}
    for case in cases:
        for group in case["groups"]:
            for method, figs in case["figures"].items():
                cell = table.setdefault(group, {}).setdefault(method, {"chamfer": [], "psnr": [], "ssim": [], "cases": 0})
                for k in ("chamfer", "psnr", "ssim"):
                    cell[k].extend(figs[k])
                cell["cases"] += 1
            for method, report in case["tangling"].items():
                cell = tangle.setdefault(group, {}).setdefault(method, {"frames": [], "keys": []})
                cell["frames"].extend(report["frames"])
                cell["keys"].extend([report["keys"]["start"], report["keys"]["end"]])
    for group, methods in table.items():
        for method, cell in methods.items():
            cell["frames"] = len(cell["chamfer"])
            for k in ("chamfer", "psnr", "ssim"):
                cell[k] = float(np.mean(cell[k]))
    for group, methods in tangle.items():
        for method, cell in methods.items():
            rows, keys = cell.pop("frames"), cell.pop("keys")
            cell.update({
                "frames": len(rows),
                "key_self_intersections": float(np.mean([k["self_intersections"] for k in keys])),
                "key_crossings": float(np.mean([k["crossings"] for k in keys])),
                "self_intersections": float(np.mean([r["self_intersections"] for r in rows])),
                "crossings": float(np.mean([r["crossings"] for r in rows])),
                "excess_self_intersections": float(np.mean([r["excess_self_intersections"] for r in rows])),
                "excess_crossings": float(np.mean([r["excess_crossings"] for r in rows])),
                "tangled_share": float(np.mean([r["excess_self_intersections"] + r["excess_crossings"] > 0 for r in rows])),
            })
    return table, tangle


def group_order(groups) -> list[str]:
    preferred = ["clips", *(f"clips: {s}" for s in STYLES), *(f"clips: {k}" for k in KINDS)]
    for source in ("svg", "png"):
        preferred += [source, *(f"{source}: {m}" for m in MOTIONS)]
    return [g for g in preferred if g in groups] + sorted(g for g in groups if g not in preferred)


def evaluate(clips: int = 40, frames: int = 9, size: int = 256, weights: str | Path | None = None, seed: int = 0,
             testdata: str | Path | None = None, pairs=PAIRS, strips: str | Path | None = None,
             first_seed: int = CLIP_SEED, model=None, motions=MOTIONS, grain: bool = False,
             max_sketches: int | None = None, log=print) -> dict:
    """Run every method on every case; returns {"groups": {group: {method: {chamfer, psnr, ssim,
    frames, cases}}}, "tangling": {group: {method: ...}}, "pairs": pair_report(...) or None,
    "cases": [{name, groups, figures: {method: per-frame lists}, tangling}], "seconds": {method:
    total seconds}, "config": {...}}. `testdata` None: no shared sketches (and no pairs); a folder
    without the sketches: none either; `max_sketches`: the first so many of each source only.
    `model`: a SketchFlow to use instead of loading `weights`."""
    if frames < 3:
        raise ValueError(f"frames: {frames}, need two keys and one frame between them at least")
    began = time.perf_counter()
    weights = Path(weights) if weights is not None else default_weights()
    if model is None:
        model = load_model(weights)
    timings: dict[str, float] = {}
    failures: dict[str, int] = {}
    results: list[dict] = []
    samples: dict[str, Case] = {}

    def cases():
        if clips:
            yield from clip_cases(clips, frames, size, first_seed, grain)
        if testdata is not None and Path(testdata).is_dir():
            yield from sketch_cases(Path(testdata), frames, size, seed, motions, max_sketches, log)

    made = 0.0
    iterator = cases()
    while True:
        t0 = time.perf_counter()
        case = next(iterator, None)
        made += time.perf_counter() - t0
        if case is None:
            break
        result = run_case(case, model, seed, timings, failures, log)
        results.append({"name": case.name, "groups": case.groups, **result})
        for group in case.groups:
            samples.setdefault(group, case)  # the first case of each group is drawn in its strip
        if not any(samples[g] is case for g in case.groups):
            case.outputs = {}  # the frames of the others are let go
    table, tangle = summarise(results)
    pair_result = None
    if pairs and testdata is not None and (Path(testdata) / "vector_sketches").is_dir():
        pair_result = pair_report(pairs, Path(testdata) / "vector_sketches", frames, size, log=log)
    if strips:
        write_strips(samples, Path(strips))
    return {
        "config": {"clips": clips, "frames": frames, "size": size, "weights": str(weights), "seed": seed,
                   "first_clip_seed": first_seed, "grain": grain, "testdata": None if testdata is None else str(testdata),
                   "motions": list(motions), "ink_threshold": INK, "max_psnr": MAX_PSNR},
        "groups": {g: table[g] for g in group_order(table)},
        "tangling": {g: tangle[g] for g in group_order(tangle)},
        "pairs": pair_result,
        "cases": results,
        "failures": failures,
        "seconds": {**timings, "making cases": made, "total": time.perf_counter() - began},
    }


# -- pairs of different drawings ---------------------------------------------------------------------

def _opacity(stroke) -> float:
    return float(np.mean(stroke.opacities) * stroke.color[3]) if len(stroke.opacities) else 0.0


def _typical_opacity(drawing: Drawing) -> float:
    """The length-weighted median opacity of a drawing's strokes."""
    if not drawing.strokes:
        return 1.0
    values = np.array([_opacity(s) for s in drawing.strokes])
    weights = np.array([max(s.length(), 1e-6) for s in drawing.strokes])
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def ghost_ink(frames: list[Drawing], share: float = GHOST) -> dict:
    """Ghost strokes of the middle frames: opacity under `share` x the lower of the keys' typical
    stroke opacity. Their share of the middle frames' strokes and of their length."""
    reference = share * min(_typical_opacity(frames[0]), _typical_opacity(frames[-1]))
    count = ghosts = 0
    length = ghost_length = 0.0
    for drawing in frames[1:-1]:
        for s in drawing.strokes:
            ell = s.length()
            count += 1
            length += ell
            if _opacity(s) < reference:
                ghosts += 1
                ghost_length += ell
    return {"ghost_strokes": ghosts / max(count, 1), "ghost_length": ghost_length / max(length, 1e-9),
            "middle_strokes": count / max(len(frames) - 2, 1)}


def pair_report(pairs, folder: str | Path, frames: int = 9, size: int = 256, engine: Callable | None = None,
                log=print) -> dict:
    """Stroke-match (or `engine`, with `inbetween`'s signature) on pairs of different drawings
    (file names in `folder`): per pair, the tangling of each middle frame against the keys' and
    the ghost ink. Both drawings are scaled by the factor that brings the start's longer side to
    `size`, the end onto the start's canvas."""
    folder = Path(folder)
    out = {}
    for a, b in pairs:
        name = f"{Path(a).stem} -> {Path(b).stem}"
        try:
            from inkmotion.codec.svg import read_svg

            raw = read_svg(folder / a)
            factor = size / max(raw.width, raw.height)
            start = scaled_drawing(raw, factor)
            end = scaled_drawing(read_svg(folder / b), factor, start.width, start.height)
        except Exception as exc:
            log(f"pair {name}: not read ({type(exc).__name__}: {exc})")
            continue
        began = time.perf_counter()
        drawings = stroke_match_drawings(start, end, frames, engine)
        seconds = time.perf_counter() - began
        report = tangle_excess(drawings)
        out[name] = {"strokes": [len(start.strokes), len(end.strokes)], "tangling": report, **ghost_ink(drawings),
                     "seconds": seconds, "drawings": drawings}
    return out


def pair_table(report: dict) -> str:
    """The pairs' figures as a table: keys' counts (start / end), the middle frames' mean and
    worst, excess over the keys, frames with any excess, ghost shares."""
    lines = ["| pair | strokes | keys: self-int. | keys: crossings | middle: self-int. (mean, max) | "
             "middle: crossings (mean, max) | excess a frame (self / cross) | tangled frames | ghost strokes | ghost length |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report.items():
        t = r["tangling"]
        k0, k1 = t["keys"]["start"], t["keys"]["end"]
        rows = t["frames"]
        si = [f["self_intersections"] for f in rows]
        cr = [f["crossings"] for f in rows]
        lines.append(
            f"| {name} | {r['strokes'][0]} / {r['strokes'][1]} | {k0['self_intersections']} / {k1['self_intersections']} | "
            f"{k0['crossings']} / {k1['crossings']} | {np.mean(si):.1f}, {max(si)} | {np.mean(cr):.1f}, {max(cr)} | "
            f"{t['mean_excess_self_intersections']:.1f} / {t['mean_excess_crossings']:.1f} | "
            f"{t['tangled_frames']} of {len(rows)} | {100 * r['ghost_strokes']:.0f}% | {100 * r['ghost_length']:.0f}% |")
    return "\n".join(lines)


# -- output -------------------------------------------------------------------------------------------

FIGURES = (("chamfer", "Chamfer distance (px, lower is better)", "{:.2f}"),
           ("psnr", "PSNR (dB, higher is better)", "{:.2f}"),
           ("ssim", "SSIM (higher is better)", "{:.3f}"))


def methods_in(groups: dict) -> list[str]:
    present = {m for cells in groups.values() for m in cells}
    return [m for m in (*METHODS, FLOOR) if m in present]


def text_tables(result: dict) -> str:
    groups = result["groups"]
    if not groups:
        return "(no cases)"
    names = list(groups)
    counts = {g: max(c["cases"] for c in groups[g].values()) for g in names}
    width = max(len(m) for m in methods_in(groups)) + 2
    col = max(9, *(len(g) + 1 for g in names))
    out = []
    for key, title, fmt in FIGURES:
        out.append(title)
        out.append(" " * width + "".join(f"{g:>{col}}" for g in names))
        out.append(" " * width + "".join(f"{'(' + str(counts[g]) + ')':>{col}}" for g in names))
        for method in methods_in(groups):
            cells = [fmt.format(groups[g][method][key]) if method in groups[g] else "-" for g in names]
            out.append(f"{method:<{width}}" + "".join(f"{c:>{col}}" for c in cells))
        out.append("")
    if result.get("tangling"):
        out.append("Tangling of the vector methods' middle frames (a frame, mean): self-intersections, crossings; "
                   "excess over the keys (max(0, count - larger key's)); share of frames with any excess")
        out.append(f"{'group':<18}{'method':<28}{'keys si':>9}{'keys cr':>9}{'si':>8}{'cr':>8}"
                   f"{'exc si':>8}{'exc cr':>8}{'tangled':>9}")
        for g, methods in result["tangling"].items():
            for m, c in methods.items():
                out.append(f"{g:<18}{m:<28}{c['key_self_intersections']:>9.1f}{c['key_crossings']:>9.1f}"
                           f"{c['self_intersections']:>8.1f}{c['crossings']:>8.1f}{c['excess_self_intersections']:>8.2f}"
                           f"{c['excess_crossings']:>8.2f}{100 * c['tangled_share']:>8.0f}%")
        out.append("")
    return "\n".join(out)


def markdown(result: dict) -> str:
    """A compact table for the README: per method, Chamfer / PSNR / SSIM for the main groups."""
    groups = result["groups"]
    wanted = [g for g in ("clips", *(f"clips: {s}" for s in STYLES), "svg", "png") if g in groups]
    size, frames = result["config"]["size"], result["config"]["frames"]
    head = [f"{g} ({max(c['cases'] for c in groups[g].values())})" for g in wanted]
    lines = [f"Chamfer px ↓ / PSNR dB ↑ / SSIM ↑ over the {frames - 2} frames between the keys, {size} px "
             "(cases in brackets)", "",
             "| method | " + " | ".join(head) + " |", "|---" * (len(wanted) + 1) + "|"]
    for method in methods_in(groups):
        cells = []
        for g in wanted:
            c = groups[g].get(method)
            cells.append("-" if c is None else f"{c['chamfer']:.2f} / {c['psnr']:.1f} / {c['ssim']:.3f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _tile(ink: np.ndarray) -> np.ndarray:
    return np.round(255 * (1 - np.clip(ink, 0, 1))).astype(np.uint8)


def strip_image(case: Case, columns: int = 3) -> np.ndarray:
    """Rows: the truth and each method; columns: the start key, `columns` middle frames, the end
    key; ink black on white, a label on the left."""
    start, end = case.keys
    h, w = start.shape
    times = np.asarray(case.times)  # the middle frames nearest to t = 1/4, 1/2, 3/4 (for 3)
    picks = np.unique([int(np.argmin(np.abs(times - k / (columns + 1)))) for k in range(1, columns + 1)])
    rows = [("truth", case.truth)] + [(m, case.outputs[m]) for m in (*METHODS, FLOOR) if m in case.outputs]
    label_w, gap = 200, 4
    sheet = np.full((len(rows) * (h + gap) + 24, label_w + (len(picks) + 2) * (w + gap)), 255, np.uint8)
    titles = ["t = 0"] + [f"t = {case.times[i]:.2f}" for i in picks] + ["t = 1"]
    for c, title in enumerate(titles):
        cv2.putText(sheet, title, (label_w + c * (w + gap) + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA)
    for r, (name, frames_) in enumerate(rows):
        y = 24 + r * (h + gap)
        cv2.putText(sheet, name, (4, y + h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA)
        tiles = [start] + [frames_[i] for i in picks] + [end]
        for c, ink in enumerate(tiles):
            x = label_w + c * (w + gap)
            sheet[y:y + h, x:x + w] = _tile(ink)
            if c in (0, len(tiles) - 1):
                cv2.rectangle(sheet, (x - 1, y - 1), (x + w, y + h), 160, 1)
    cv2.putText(sheet, case.name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1, cv2.LINE_AA)
    return sheet


def write_strips(samples: dict[str, Case], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for group, case in samples.items():
        slug = group.replace(": ", "-").replace(" ", "_")
        path = folder / f"inbetween_{slug}.png"
        cv2.imwrite(str(path), strip_image(case))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40, help="held-out procedural clips (every kind x style per 20)")
    parser.add_argument("--frames", type=int, default=9, help="frames a case, both keys counted")
    parser.add_argument("--size", type=int, default=256, help="canvas px (the longer side for the shared sketches)")
    parser.add_argument("--weights", type=Path, help="sketch-flow's folder (default: the packaged weights, else "
                        "/work/runs/sketch-flow)")
    parser.add_argument("--seed", type=int, default=0, help="sketch-flow's z, and the sketches' known motions")
    parser.add_argument("--testdata", type=Path, default=default_testdata(),
                        help="the shared sketches (vector_sketches/, raster_sketches/); default env INKMOTION_TESTDATA, "
                        "else ../shared/testdata")
    parser.add_argument("--no-testdata", action="store_true", help="the procedural clips only")
    parser.add_argument("--pairs", action=argparse.BooleanOptionalAction, default=True,
                        help="the different-drawing pairs' tangling and ghost ink (default on)")
    parser.add_argument("--json", type=Path, help="write everything here")
    parser.add_argument("--markdown", action="store_true", help="also print a compact markdown table")
    parser.add_argument("--strips", type=Path, help="write a PNG strip per case group here")
    parser.add_argument("--grain", action="store_true", help="the clips with their paper grain (keys and truth)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    testdata = None if args.no_testdata else args.testdata
    if testdata is not None and not testdata.is_dir():
        print(f"no shared sketches at {testdata}: the procedural clips only")
        testdata = None
    result = evaluate(args.clips, args.frames, args.size, args.weights, args.seed, testdata,
                      PAIRS if args.pairs else (), args.strips, grain=args.grain)
    print(f"sketch-flow weights: {result['config']['weights']}; {args.frames} frames a case, {args.size} px")
    print(text_tables(result))
    if result["pairs"]:
        print("Pairs of different drawings (stroke-match; no truth):")
        print(pair_table(result["pairs"]))
        print()
    if result["failures"]:
        print("failures (counted as blank frames):", result["failures"])
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items()))
    if args.markdown:
        print()
        print(markdown(result))
    if args.json:
        saved = {**result, "pairs": {k: {kk: vv for kk, vv in v.items() if kk != "drawings"}
                                     for k, v in (result["pairs"] or {}).items()}}
        args.json.write_text(json.dumps(saved, indent=2) + "\n")
    if args.strips:
        print(f"strips: {args.strips}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
