"""Motion transfer: a sketch moves as the subject of a reference clip moves (CPU, no weights).

Method: the keypoint-transfer family SketchAnimator compares against (FOMM, Siarohin et al. 2019;
../shared/papers/sketchanimator.txt, Sec. 5), with classical parts in place of learned ones:

1. The subject in the clip (`subject_mask`): the largest coherent region of frame 0 that moves,
   by dense optical flow (Farneback) from frame 0 to a few later frames, thresholded (Otsu, and at
   least `MOVED_PX`), closed; its largest connected region and the regions near its size (parts
   apart). An artist's mask replaces this. A clip where nothing moves has no subject: the sketch
   stays still.
2. Points on it (`track`): Shi-Tomasi corners inside the mask in frame 0, tracked frame to frame
   with pyramidal Lucas-Kanade optical flow (OpenCV), each step checked forward and backward: a
   point that does not come back within `FB_MAX_PX` is dropped from then on. Against drift, each
   frame is then refined from frame 0 (`_refine`): the frame's similarity undone, LK again from
   frame 0, the similarity applied back.
3. The clip's subject box (the box of its points in frame 0: dense flow bleeds past the subject's
   edge, corners do not) is mapped onto the sketch's box (`box_map`: the similarity that puts the
   box centres together and scales by the ratio of the boxes' diagonals), so the clip's motion is
   taken in the sketch's own size and place; a sketch drawn over the clip's subject (the boxes
   overlapping by `TRACED_OVERLAP`) takes it as it is.
4. The motion of frame t, from the points alive at t, p_0 -> p_t: a global similarity S_t
   (`strokes.geometry.fit_similarity`, least squares) plus, where `stiffness` is finite, a smooth
   local warp of the remainder, a thin-plate spline (Bookstein 1989) with regularisation lambda =
   `stiffness` on coordinates scaled by the subject's box diagonal: x -> S_t(x) + f_t(x),
   f_t = argmin sum_i |p_t,i - S_t(p_0,i) - f(p_0,i)|^2 + lambda J(f), J the bending energy.
   Stiffness inf is the similarity alone (the global baseline of the evaluation); so is a frame
   whose points the similarity fits within `WARP_MIN_PX` RMS (the rest is tracking noise).
5. Every sketch point x goes to B^-1(S_t(B x) + f_t(B x)) with B the box map's inverse (sketch ->
   clip); radii, opacities, colours, fills and materials are kept. Frame 0 is the sketch as given
   (S_0 is the identity and f_0 is 0).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from inkmotion.codec.drawing import Drawing, Raster
from inkmotion.errors import InvalidInput
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress
from inkmotion.strokes.geometry import Similarity, fit_similarity

MAX_POINTS = 300  # corners tracked at most
MIN_DISTANCE_PX = 4.0  # between corners
FB_MAX_PX = 1.0  # forward-backward error above which a point is dropped
MIN_POINTS = 3  # fewer alive points: the motion holds where it was
WARP_MIN_PX = 0.75  # RMS the similarity leaves over this: the local warp takes it; under it, tracking noise
MOVED_PX = 1.0  # a pixel whose dense flow from frame 0 stays under this is background
TRACED_OVERLAP = 0.8  # a sketch whose box overlaps the clip subject's this much was drawn over it
PART_SHARE = 0.2  # moving regions at least this share of the largest one's area are the subject too


@dataclass(frozen=True)
class MotionTransferConfig:
    # the local warp's regularisation lambda, on coordinates over the subject's box diagonal
    # (bending energies there are about 0.1): 0.01 bends with the parts; inf: the similarity only
    stiffness: float = 0.01


@dataclass
class Tracks:
    """Points on the clip's subject: positions [T, N, 2] (px, frame 0 first) and alive [T, N]."""

    positions: np.ndarray
    alive: np.ndarray
    box: tuple[float, float, float, float]  # the box of the points in frame 0 (x0, y0, x1, y1)


def _grey(raster: Raster) -> np.ndarray:
    """Luminance uint8 [H, W], over white where the frame is transparent (paper minus the ink)."""
    from inkmotion.strokes.lineart import ink_darkness

    return (255.0 * (1.0 - ink_darkness(raster))).astype(np.uint8)


def subject_mask(greys: list[np.ndarray]) -> np.ndarray | None:
    """The moving subject's pixels in frame 0 (bool [H, W]), or None where nothing moves.

    Dense optical flow (Farneback) from frame 0 to a few later frames, in frame 0's coordinates:
    the pixels whose largest displacement is over `MOVED_PX` (and over the Otsu level of the
    displacements), closed, their largest connected region."""
    import cv2

    first = greys[0]
    later = sorted({round(len(greys) * q) for q in (0.25, 0.5, 0.75)} | {len(greys) - 1} - {0})
    moved = np.zeros(first.shape, np.float32)
    for k in later:
        flow = cv2.calcOpticalFlowFarneback(first, greys[k], None, 0.5, 4, 21, 3, 7, 1.5, 0)
        moved = np.maximum(moved, np.linalg.norm(flow, axis=2))
    if float(moved.max()) < MOVED_PX:
        return None
    scaled = np.clip(moved * (255.0 / moved.max()), 0, 255).astype(np.uint8)
    level, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    region = ((scaled >= level) & (moved >= MOVED_PX)).astype(np.uint8)
    region = cv2.morphologyEx(region, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(region)
    if count < 2:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.nonzero(areas >= PART_SHARE * areas.max())[0]  # the largest region and parts near its size
    mask = np.isin(labels, keep)
    return mask if mask.sum() >= 16 else None


def track(frames: list[Raster], mask: np.ndarray | None = None, on_progress: ProgressCallback = no_progress) -> Tracks | None:
    """Corners on the subject (found, or `mask`) tracked through the clip; None: nothing to track."""
    import cv2

    greys = [_grey(f) for f in frames]
    if mask is None:
        mask = subject_mask(greys)
    if mask is None or not mask.any():
        return None
    corners = cv2.goodFeaturesToTrack(greys[0], MAX_POINTS, 0.01, MIN_DISTANCE_PX, mask=mask.astype(np.uint8) * 255)
    if corners is None or len(corners) < MIN_POINTS:
        return None
    corners = cv2.cornerSubPix(greys[0], corners.astype(np.float32), (5, 5), (-1, -1),
                               (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.001))
    points = corners.reshape(-1, 2).astype(np.float32)
    # the subject's box: its corners' (dense flow bleeds past the subject's edge; corners do not)
    box = (*map(float, points.min(axis=0)), *map(float, points.max(axis=0)))
    steps = len(frames)
    positions = np.zeros((steps, len(points), 2), np.float32)
    alive = np.zeros((steps, len(points)), bool)
    positions[0], alive[0] = points, True
    lk = {"winSize": (21, 21), "maxLevel": 3, "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 0.001)}
    for t in range(1, steps):
        before = positions[t - 1].reshape(-1, 1, 2)
        after, ok, _ = cv2.calcOpticalFlowPyrLK(greys[t - 1], greys[t], before, None, **lk)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(greys[t], greys[t - 1], after, None, **lk)
        error = np.linalg.norm(back.reshape(-1, 2) - positions[t - 1], axis=1)
        positions[t] = after.reshape(-1, 2)
        alive[t] = alive[t - 1] & ok.ravel().astype(bool) & ok_back.ravel().astype(bool) & (error <= FB_MAX_PX)
        if alive[t].sum() >= MIN_POINTS:  # against drift: refine from frame 0, the frame's similarity undone
            positions[t], alive[t] = _refine(greys[0], greys[t], positions[0], positions[t], alive[t], lk)
        on_progress(Progress(t, steps - 1, f"tracking frame {t + 1} of {steps}"))
    return Tracks(positions, alive, box)


def _overlap(a, b) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def _refine(first: np.ndarray, grey: np.ndarray, start: np.ndarray, guess: np.ndarray, alive: np.ndarray, lk: dict):
    """Chained tracking drifts a little every frame. Undo the frame's similarity S (fitted to the
    chained points) on the frame, track from frame 0 into it, where each point has only its own
    local motion left (no rotation or scale for LK's window to be biased by), and apply S again."""
    import cv2

    similarity = fit_similarity(start[alive], guess[alive], scale="least-squares")
    to_frame = np.hstack([similarity.matrix, similarity.translation[:, None]])  # frame 0 px -> frame t px
    undone = cv2.warpAffine(grey, to_frame, (grey.shape[1], grey.shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    initial = similarity.inverse().apply(guess).astype(np.float32).reshape(-1, 1, 2)
    found, ok, _ = cv2.calcOpticalFlowPyrLK(first, undone, start.reshape(-1, 1, 2), initial.copy(),
                                            flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
    back, ok_back, _ = cv2.calcOpticalFlowPyrLK(undone, first, found, None, **lk)
    good = ok.ravel().astype(bool) & ok_back.ravel().astype(bool) & (
        np.linalg.norm(back.reshape(-1, 2) - start, axis=1) <= FB_MAX_PX)
    refined = similarity.apply(found.reshape(-1, 2)).astype(np.float32)
    return np.where(good[:, None], refined, guess), alive & good


def box_map(sketch_box, clip_box) -> Similarity:
    """Sketch px -> clip px: the sketch's box centre onto the clip's, scaled by their diagonals;
    the identity for a sketch drawn over the clip's subject (boxes overlapping by `TRACED_OVERLAP`
    or more), whose motion is then taken as it is."""
    if _overlap(sketch_box, clip_box) >= TRACED_OVERLAP:
        return Similarity(0.0, 1.0, np.zeros(2))
    sx0, sy0, sx1, sy1 = sketch_box
    cx0, cy0, cx1, cy1 = clip_box
    scale = math.hypot(cx1 - cx0, cy1 - cy0) / max(math.hypot(sx1 - sx0, sy1 - sy0), 1e-9)
    centre_s = np.array([(sx0 + sx1) / 2, (sy0 + sy1) / 2])
    centre_c = np.array([(cx0 + cx1) / 2, (cy0 + cy1) / 2])
    return Similarity(0.0, scale, centre_c - scale * centre_s)


def _tps_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.where(r2 > 0, 0.5 * r2 * np.log(np.maximum(r2, 1e-300)), 0.0)  # r^2 log r


def thin_plate(control: np.ndarray, values: np.ndarray, stiffness: float):
    """f(x) = A [1, x] + sum_i w_i U(|x - c_i|), the smoothing thin-plate spline through `values`
    [N, 2] at `control` [N, 2] (lambda = stiffness); returns f as a function of points [M, 2]."""
    n = len(control)
    kernel = _tps_kernel(control, control) + stiffness * np.eye(n)
    basis = np.hstack([np.ones((n, 1)), control])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n], system[:n, n:], system[n:, :n] = kernel, basis, basis.T
    rhs = np.vstack([values, np.zeros((3, 2))])
    solution = np.linalg.lstsq(system, rhs, rcond=None)[0]
    weights, affine = solution[:n], solution[n:]

    def f(points: np.ndarray) -> np.ndarray:
        return _tps_kernel(points, control) @ weights + np.hstack([np.ones((len(points), 1)), points]) @ affine

    return f


def frame_warps(tracks: Tracks, stiffness: float):
    """One function per frame from clip px (frame 0) to clip px (frame t): S_t, plus f_t when
    `stiffness` is finite."""
    x0, y0, x1, y1 = tracks.box
    unit = max(math.hypot(x1 - x0, y1 - y0), 1e-9)  # the spline works on coordinates / the box diagonal
    warps = []
    last = lambda p: np.asarray(p, np.float64)  # noqa: E731 - frame 0: the identity
    for t in range(len(tracks.positions)):
        alive = tracks.alive[t]
        if t == 0 or alive.sum() < MIN_POINTS:
            warps.append(last)
            continue
        source = tracks.positions[0][alive].astype(np.float64)
        target = tracks.positions[t][alive].astype(np.float64)
        similarity = fit_similarity(source, target, scale="least-squares")
        rest_px = float(np.sqrt(((target - similarity.apply(source)) ** 2).sum(axis=1).mean()))
        if math.isinf(stiffness) or rest_px < WARP_MIN_PX:  # rigid up to the tracking's noise: no warp to fit it
            warp = similarity.apply
        else:
            rest = thin_plate(source / unit, (target - similarity.apply(source)) / unit, stiffness)
            warp = (lambda s, r: lambda p: s.apply(p) + unit * r(np.asarray(p, np.float64) / unit))(similarity, rest)
        warps.append(warp)
        last = warp
    return warps


def transfer(sketch: Drawing, frames: list[Raster], config: MotionTransferConfig = MotionTransferConfig(), *,
             mask: np.ndarray | None = None, on_progress: ProgressCallback = no_progress) -> list[Drawing]:
    """The sketch moving as the clip's subject moves, one drawing per clip frame, frame 0 the sketch."""
    if not (config.stiffness >= 0):
        raise InvalidInput("video_motion.stiffness", f"{config.stiffness} is under the minimum of 0")
    if len(frames) < 2:
        raise InvalidInput("video_motion.reference_frames", f"has {len(frames)} frame(s), under the minimum of 2")
    points = [s.points for s in sketch.strokes if len(s.points)]
    if not points:
        raise InvalidInput("video_motion.sketch", "has no points to move")
    tracks = track(frames, mask, on_progress)
    if tracks is None:  # nothing moves in the clip: neither does the sketch
        return [sketch] + [dataclasses.replace(sketch, strokes=[dataclasses.replace(s) for s in sketch.strokes])
                           for _ in frames[1:]]
    every = np.concatenate(points).astype(np.float64)
    sketch_box = (*every.min(axis=0), *every.max(axis=0))
    to_clip = box_map(sketch_box, tracks.box)
    to_sketch = to_clip.inverse()
    out = [sketch]
    for warp in frame_warps(tracks, config.stiffness)[1:]:
        strokes = []
        for stroke in sketch.strokes:
            moved = to_sketch.apply(warp(to_clip.apply(stroke.points))).astype(np.float32)
            strokes.append(dataclasses.replace(stroke, points=moved, bezier=None))
        out.append(dataclasses.replace(sketch, strokes=strokes))
    return out
