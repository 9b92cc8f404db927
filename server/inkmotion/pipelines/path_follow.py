"""Path follow: a vector subject travels a drawn path over the frames.

Method: a classical vector engine (numpy only, no learned model). The artist draws a subject
(a `Drawing`) and one more stroke, the path, from where the subject is to where it goes.

1. Check the options and the path: at least 2 finite points, a length over `MIN_PATH_LENGTH`,
   some of it on the canvas [0, width] x [0, height].
2. Resample the path by arc length (`inkmotion.strokes.geometry.resample`, about
   `RESAMPLE_SPACING` px apart) and take its tangent angle there (central differences, unwrapped),
   smoothed by a Gaussian over `TANGENT_SMOOTHING` of the path's length (clamped to
   [`SMOOTHING_MIN`, `SMOOTHING_MAX`] px) so a jittery hand-drawn path does not make the subject
   shake. The ends are padded with the straight line that best fits the angles within `END_FIT`
   sigmas of them, so a steady turn (a circular arc) keeps its exact angle up to the ends and a
   hook at the very start or end of a hand-drawn path does not set the direction there.
   Curvature kappa(s) is the derivative of that angle by arc length.
3. The anchor (`path_anchor`): the path's start if the path starts on the subject, else the
   subject's centroid (the centre of its ink).
4. Time: frame k of n is at t = k / (n - 1), eased tau = `inbetween.ease(t, easing)`.
   timing="even": arc length s(t) = tau L, so the subject keeps the eased speed along the path.
   timing="as-drawn": the path's fractional point index u(t) = tau (P - 1), so the spacing of the
   drawn points is the speed (a path drawn slowly then fast gives slow then fast motion); this is
   the rule of the motion-strokes paper (Hu et al., "Learning to Take Directions One Step at a
   Time", ../shared/papers/motion-strokes-one-step.txt: the stroke's points are the keypoints
   per frame, so their spacing encodes speed).
   The anchor goes to A(t) = path(s(t)) + (1 - s(t) / L) (anchor - path[0]): on the path when the
   path starts on the subject; otherwise the gap between the centroid and the path's start closes
   as the subject travels, so the first frame is the drawing where it is and the last frame's
   anchor is at the path's end either way. `keypoints` gives path(s(t)) at the frames alone (the
   motion-strokes model takes one keypoint per frame).
5. The pose at time t, about the anchor: every point p goes to A(t) + M(t) (p - anchor) with
   M(t) = S(t) R(theta(t) + beta(t)):
   - turning (keep_upright=False): theta(t) = phi(s(t)) - phi(0), phi the smoothed tangent angle;
     keep_upright=True: theta = 0;
   - squash and stretch (strength q = squash_stretch, 0 = off): the speed
     v(t) = s(t) - s(max(t - 1 / (n - 1), 0)) (the path's length covered over the last frame
     interval, px per frame, 0 at the start) stretches the subject along the direction of motion
     phi(s(t)) by sigma = 1 + q STRETCH_MAX tanh(v / size) and squashes it across by 1 / sigma
     (area preserving; size = the diagonal of the bounding box of the subject's points):
     S = R(phi) diag(sigma, 1 / sigma) R(-phi); and it banks, leaning into the turn by the extra
     rotation beta = q BANK_MAX tanh(BANK_GAIN v kappa(s(t))) (v kappa: radians the path turns per
     frame; at most 30 degrees at q = 1), in the sense the path turns.
   Without follow-through that pose is one affine map per frame: the shape is rigid with every
   option off but turning, a pure translation with every option off.
6. Follow-through (strength f = follow_through, 0 = off): the anchor is the leading edge. A point
   at distance d behind the anchor along the direction of motion (in the frame's pose:
   d = max(0, -(M(t) (p - anchor)) . (cos phi, sin phi))) lags by lambda = min(LAG_MAX,
   f FOLLOW_GAIN d / L) and takes the pose of its own, earlier time
   t' = clamp((t - lambda) / (1 - lambda), 0, 1) <= t: it sets off later and catches up at the end
   (t = 1 gives t' = 1), so the tail trails on the way and the last frame is the pose without lag.
   The anchor (d = 0) keeps t' = t, so it stays on the path.

Every stroke keeps its radii, opacities, colours, fill, `cyclic` and `material`; the drawing its
canvas, layer and materials. A stroke's `bezier` control points take the frame's affine map; with
follow-through the motion is not affine and `bezier` is None. The first frame is a copy of the
input, exactly (the pose at t = 0 is the identity for every option).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inkmotion.codec.drawing import Drawing
from inkmotion.errors import InvalidInput
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress
from inkmotion.pipelines.inbetween import EASINGS, ease
from inkmotion.strokes.geometry import cumulative_length, resample, sample_at

TIMINGS = ("even", "as-drawn")

MIN_PATH_LENGTH = 1e-6  # px: a path shorter than this has zero length
NEAR_INK = 4.0  # px: a path starting this close to the subject's ink (radius included) starts on it
RESAMPLE_SPACING = 1.0  # px between the resampled path's points ...
RESAMPLE_MIN, RESAMPLE_MAX = 64, 4096  # ... within these counts
# Tangent smoothing: a Gaussian of this fraction of the path's length (sigma), clamped to px.
TANGENT_SMOOTHING = 0.04
SMOOTHING_MIN, SMOOTHING_MAX = 3.0, 40.0
END_FIT = 6.0  # the ends are padded by the line fitted to the angles within this many sigmas
STRETCH_MAX = 0.5  # stretch 1 + q STRETCH_MAX tanh(v / size): up to 1.5 at squash_stretch = 1
BANK_MAX = math.radians(30.0)  # bank angle at most q BANK_MAX ...
BANK_GAIN = 5.0  # ... reached as tanh(BANK_GAIN v kappa): 0.2 rad of turn per frame gives tanh(1)
FOLLOW_GAIN = 0.5  # lag = follow_through FOLLOW_GAIN d / L (a fraction of the travel time) ...
LAG_MAX = 0.5  # ... at most this
SQUASH_RANGE = (0.0, 2.0)
FOLLOW_RANGE = (0.0, 1.0)

_EPS = 1e-12


@dataclass(frozen=True)
class PathFollowConfig:
    """How the subject travels; see the module docstring for the formulas."""

    frames: int = 16  # frames out, the input (frame 0) included; at least 2
    easing: str = "ease-in-out"  # one of inbetween.EASINGS
    timing: str = "even"  # "even": arc length grows with eased time; "as-drawn": the point index does
    keep_upright: bool = False  # False: turn with the path's tangent; True: no turning
    squash_stretch: float = 0.0  # [0, 2], 0 = off: stretch along the motion with speed, and bank
    follow_through: float = 0.0  # [0, 1], 0 = off: points behind the anchor lag and catch up


def path_anchor(drawing: Drawing, path: np.ndarray) -> np.ndarray:
    """The subject's anchor [2], float64: the path's start if the path starts on the subject
    (inside the bounding box of its ink, radii included, or within `NEAR_INK` px of the ink
    itself), else the subject's centroid: the centre of its ink, the midpoints of its segments
    weighted by their lengths (closing segments of cyclic strokes included), or the mean of its
    points where it has no length. A drawing without points anchors at the path's start."""
    start = np.asarray(path, dtype=np.float64).reshape(-1, 2)[0].copy()
    points, radii, first, second = _segments(drawing)
    if len(points) == 0:
        return start
    lo = (points - radii[:, None]).min(axis=0)
    hi = (points + radii[:, None]).max(axis=0)
    if (lo <= start).all() and (start <= hi).all():
        return start
    a, b = points[first], points[second]
    ab = b - a
    span = (ab * ab).sum(axis=1)
    w = np.clip(np.divide(((start - a) * ab).sum(axis=1), span, out=np.zeros(len(a)), where=span > _EPS), 0.0, 1.0)
    gap = np.linalg.norm(start - (a + w[:, None] * ab), axis=1) - (radii[first] + w * (radii[second] - radii[first]))
    if gap.min() <= NEAR_INK:
        return start
    length = np.sqrt(span)
    if length.sum() <= _EPS:
        return points.mean(axis=0)
    return (length @ ((a + b) / 2)) / length.sum()


def keypoints(path: np.ndarray, frames: int, easing: str = "ease-in-out", timing: str = "even") -> np.ndarray:
    """The path's point at each frame's time, [frames, 2] float64 (step 4 of the module docstring):
    where `follow_path` puts the anchor when the path starts on the subject, the first keypoint the
    path's start and the last its end. Shared with the motion-strokes model, which takes one
    keypoint per frame."""
    frames = _check_config(PathFollowConfig(frames=frames, easing=easing, timing=timing))
    route = _Route.of(_check_path(path, None))
    motion = _Motion(route, PathFollowConfig(frames=frames, easing=easing, timing=timing), route.path[0], 1.0, 1.0)
    return motion.travel(np.linspace(0.0, 1.0, frames))[1]


def follow_path(
    drawing: Drawing,
    path: np.ndarray,
    config: PathFollowConfig,
    on_progress: ProgressCallback | None = None,
) -> list[Drawing]:
    """`config.frames` drawings of `drawing` travelling `path` (float [P, 2], canvas px); frame 0
    is a copy of the input, exactly, and the last frame's anchor is at the path's end.
    `on_progress` is called once per frame, and may raise `inkmotion.errors.Cancelled` to stop."""
    on_progress = no_progress if on_progress is None else on_progress
    # 1. Check the options and the path.
    frames = _check_config(config)
    route = _Route.of(_check_path(path, drawing))

    # 3. The anchor, and every point and bezier control point in flat arrays, about it.
    anchor = path_anchor(drawing, route.path)
    points, _, _, _ = _segments(drawing)
    lo, hi = (points.min(axis=0), points.max(axis=0)) if len(points) else (np.zeros(2), np.zeros(2))
    motion = _Motion(route, config, anchor, max(float(np.linalg.norm(hi - lo)), 1.0), 1.0 / (frames - 1))
    relative = points - anchor
    sizes = [len(s) for s in drawing.strokes]
    cuts = np.cumsum(sizes)[:-1]
    rigid = config.follow_through <= 0.0
    curves = [s.bezier for s in drawing.strokes if s.bezier is not None]
    bezier = np.concatenate([np.asarray(c, np.float64).reshape(-1, 2) for c in curves]) - anchor if curves else None
    bezier_cuts = np.cumsum([len(c) for c in curves])[:-1] if curves else None

    # 4.-6. The frames.
    out: list[Drawing] = []
    for k, t in enumerate(np.linspace(0.0, 1.0, frames)):
        if k == 0:
            frame = drawing.copy()
        else:
            place, matrix = motion.pose(np.array([t]))
            if rigid:
                moved = relative @ matrix[0].T + place[0]
            else:
                moved = motion.lagging(relative, t, place[0], matrix[0])
            parts = np.split(moved.astype(np.float32), cuts)
            curve_parts = iter([])
            if rigid and bezier is not None:
                curve_parts = iter(np.split((bezier @ matrix[0].T + place[0]).astype(np.float32), bezier_cuts))
            strokes = []
            for stroke, part in zip(drawing.strokes, parts):
                curve = next(curve_parts) if (rigid and stroke.bezier is not None) else None
                strokes.append(stroke.copy(points=part, bezier=curve))
            frame = Drawing(drawing.width, drawing.height, strokes, drawing.layer, list(drawing.materials))
        out.append(frame)
        on_progress(Progress(step=k + 1, total=frames, message=f"frame {k + 1} of {frames}"))
    return out


# --- 1. checks -----------------------------------------------------------------------------------


def _check_config(config: PathFollowConfig) -> int:
    frames = config.frames
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
        raise InvalidInput("frames", f"{frames!r} is not a whole number")
    if frames < 2:
        raise InvalidInput("frames", f"{frames} is under the minimum of 2 (the drawing and one more)")
    if config.easing not in EASINGS:
        raise InvalidInput("easing", f"{config.easing!r} is not one of {', '.join(EASINGS)}")
    if config.timing not in TIMINGS:
        raise InvalidInput("timing", f"{config.timing!r} is not one of {', '.join(TIMINGS)}")
    for name, value, (low, high) in (
        ("squash_stretch", config.squash_stretch, SQUASH_RANGE),
        ("follow_through", config.follow_through, FOLLOW_RANGE),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidInput(name, f"{value!r} is not a number")
        if not low <= float(value) <= high:
            raise InvalidInput(name, f"{value} is outside [{low:g}, {high:g}]")
    return int(frames)


def _check_path(path, drawing: Drawing | None) -> np.ndarray:
    """The path as float64 [P, 2], checked (against the drawing's canvas, where one is given)."""
    try:
        pts = np.asarray(path, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidInput("path", f"is not an array of numbers ({err})") from None
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InvalidInput("path", f"expected points of shape [P, 2], got {list(pts.shape)}")
    if len(pts) < 2:
        raise InvalidInput("path", f"has {len(pts)} point{'s' if len(pts) != 1 else ''}, under the minimum of 2")
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        where = int(np.argmax(bad))
        raise InvalidInput("path", f"point {where} is {pts[where].tolist()}: NaN or infinite (all must be finite)")
    length = float(cumulative_length(pts)[-1])
    if length <= MIN_PATH_LENGTH:
        x, y = pts[0]
        raise InvalidInput(
            "path",
            f"has zero length: its {len(pts)} points are all at ({x:g}, {y:g}) "
            f"(it must be over {MIN_PATH_LENGTH:g} px)",
        )
    if drawing is not None and not _touches_box(pts, float(drawing.width), float(drawing.height)):
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        raise InvalidInput(
            "path",
            f"lies entirely outside the canvas [0, {drawing.width}] x [0, {drawing.height}]: "
            f"x from {x0:g} to {x1:g}, y from {y0:g} to {y1:g}",
        )
    return pts


def touches_canvas(path, width: float, height: float) -> bool:
    """Whether the path (float [P, 2]) meets the canvas [0, width] x [0, height]: a point or a
    segment on it. What `follow_path` asks of a path, for a task to check before any work."""
    return _touches_box(np.asarray(path, dtype=np.float64).reshape(-1, 2), float(width), float(height))


def _touches_box(pts: np.ndarray, width: float, height: float) -> bool:
    """Whether any segment of the polyline meets [0, width] x [0, height] (Liang-Barsky clipping)."""
    p, d = pts[:-1], np.diff(pts, axis=0)
    lo, hi = np.zeros(2), np.array([width, height])
    with np.errstate(divide="ignore", invalid="ignore"):
        ta, tb = (lo - p) / d, (hi - p) / d
    moving = d != 0
    inside = (lo <= p) & (p <= hi)
    enter = np.where(moving, np.minimum(ta, tb), np.where(inside, -np.inf, np.inf))
    leave = np.where(moving, np.maximum(ta, tb), np.where(inside, np.inf, -np.inf))
    first = np.maximum(enter.max(axis=1), 0.0)
    last = np.minimum(leave.min(axis=1), 1.0)
    return bool((first <= last).any())


def _segments(drawing: Drawing):
    """All the drawing's points [T, 2] and radii [T] (float64), and its segments as index pairs
    (first [T], second [T]): each point to the next in its stroke, the last point of a cyclic
    stroke back to its first, the last point of an open stroke to itself (a dot)."""
    full = [s for s in drawing.strokes if len(s)]
    if not full:
        empty = np.zeros(0, np.intp)
        return np.zeros((0, 2)), np.zeros(0), empty, empty
    points = np.concatenate([np.asarray(s.points, np.float64).reshape(-1, 2) for s in full])
    radii = np.concatenate([np.asarray(s.radii, np.float64).reshape(-1) for s in full])
    sizes = np.array([len(s) for s in full], np.intp)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    first = np.arange(len(points), dtype=np.intp)
    second = first + 1
    ends = starts + sizes - 1
    second[ends] = np.where([bool(s.cyclic) for s in full], starts, ends)
    return points, radii, first, second


# --- 2. the path -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    """The path as drawn, and its smoothed tangent angle and curvature by arc length."""

    path: np.ndarray  # [P, 2] as drawn
    cum: np.ndarray  # [P]: arc length to each point
    unique: np.ndarray  # [Q, 2]: the path without repeated points (for arc length -> position)
    unique_cum: np.ndarray  # [Q], strictly increasing
    length: float
    grid: np.ndarray  # [M]: arc length of each resampled point
    heading: np.ndarray  # [M]: smoothed tangent angle, unwrapped, radians
    curvature: np.ndarray  # [M]: d heading / ds, radians per px

    @classmethod
    def of(cls, path: np.ndarray) -> "_Route":
        cum = cumulative_length(path)
        keep = np.concatenate([[True], np.diff(cum) > _EPS])
        length = float(cum[-1])
        count = int(np.clip(math.ceil(length / RESAMPLE_SPACING) + 1, RESAMPLE_MIN, RESAMPLE_MAX))
        even = resample(path, count)
        grid = np.linspace(0.0, length, count)
        step = length / (count - 1)
        tangent = np.gradient(even, step, axis=0, edge_order=2)
        heading = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
        sigma = float(np.clip(TANGENT_SMOOTHING * length, SMOOTHING_MIN, SMOOTHING_MAX)) / step
        heading = _smooth(heading, sigma)
        curvature = np.gradient(heading, step, edge_order=2)
        return cls(path, cum, path[keep], cum[keep], length, grid, heading, curvature)

    def angle(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self.grid, self.heading)


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian of `sigma` samples over `values` [M]; each end padded by the least-squares line
    through the samples within `END_FIT` sigma of it, so linear runs (steady turns) come out
    unchanged and a hook at the path's very start or end does not set the direction there."""
    if sigma < 0.5:
        return values
    half = int(math.ceil(3.0 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    fit = int(min(len(values), max(3, math.ceil(END_FIT * sigma))))
    x = np.arange(fit, dtype=np.float64)
    head = np.polyfit(x, values[:fit], 1)
    tail = np.polyfit(x, values[-fit:], 1)
    before = np.polyval(head, np.arange(-half, 0, dtype=np.float64))
    after = np.polyval(tail, np.arange(fit, fit + half, dtype=np.float64))
    return np.convolve(np.concatenate([before, values, after]), kernel, mode="valid")


# --- 4.-6. the motion ----------------------------------------------------------------------------


class _Motion:
    """The anchor's place and the linear map about it at any times, and the lagging points."""

    def __init__(self, route: _Route, config: PathFollowConfig, anchor: np.ndarray, size: float, step: float):
        self.route = route
        self.config = config
        self.anchor = anchor
        self.offset = anchor - route.path[0]  # 0 when the path starts on the subject
        self.size = size
        self.step = step  # 1 / (frames - 1): one frame interval in t

    def travel(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc length s(t) [n] and the point of the path there [n, 2], at times t [n]."""
        r = self.route
        tau = ease(t, self.config.easing)
        if self.config.timing == "as-drawn":
            u = tau * (len(r.path) - 1)
            return np.interp(u, np.arange(len(r.path)), r.cum), sample_at(r.path, u)
        s = tau * r.length
        return s, sample_at(r.unique, np.interp(s, r.unique_cum, np.arange(len(r.unique))))

    def pose(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The anchor's place A(t) [n, 2] and the linear map M(t) [n, 2, 2] about it."""
        r, q = self.route, float(self.config.squash_stretch)
        s, on_path = self.travel(t)
        place = on_path + (1.0 - s / r.length)[:, None] * self.offset
        phi = r.angle(s)
        turn = np.zeros_like(s) if self.config.keep_upright else phi - r.heading[0]
        matrix = np.empty((len(s), 2, 2))
        if q <= 0.0:
            c, n = np.cos(turn), np.sin(turn)
            matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = c, -n, n, c
            return place, matrix
        # M = S R(turn + bank), S = R(phi) diag(sigma, 1 / sigma) R(-phi), written out.
        speed = s - self.travel(np.maximum(t - self.step, 0.0))[0]
        bank = q * BANK_MAX * np.tanh(BANK_GAIN * speed * np.interp(s, r.grid, r.curvature))
        c, n = np.cos(turn + bank), np.sin(turn + bank)
        sigma = 1.0 + q * STRETCH_MAX * np.tanh(speed / self.size)
        cp, sp = np.cos(phi), np.sin(phi)
        along, across = sigma, 1.0 / sigma
        s11 = along * cp * cp + across * sp * sp
        s22 = along * sp * sp + across * cp * cp
        s12 = (along - across) * cp * sp
        matrix[:, 0, 0] = s11 * c + s12 * n
        matrix[:, 0, 1] = s12 * c - s11 * n
        matrix[:, 1, 0] = s12 * c + s22 * n
        matrix[:, 1, 1] = s22 * c - s12 * n
        return place, matrix

    def lagging(self, relative: np.ndarray, t: float, place: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """6. Every point [N, 2] (given about the anchor) at its own lagged time, at frame time t."""
        r = self.route
        phi = float(r.angle(self.travel(np.array([t]))[0])[0])
        posed = relative @ matrix.T
        behind = np.maximum(-(posed[:, 0] * math.cos(phi) + posed[:, 1] * math.sin(phi)), 0.0)
        lag = np.minimum(LAG_MAX, float(self.config.follow_through) * FOLLOW_GAIN * behind / r.length)
        moved = posed + place  # the points not behind the anchor: the frame's own pose
        late = np.nonzero(lag > 0.0)[0]
        if len(late):
            places, matrices = self.pose(np.clip((t - lag[late]) / (1.0 - lag[late]), 0.0, 1.0))
            x, y = relative[late, 0], relative[late, 1]
            moved[late, 0] = places[:, 0] + matrices[:, 0, 0] * x + matrices[:, 0, 1] * y
            moved[late, 1] = places[:, 1] + matrices[:, 1, 0] * x + matrices[:, 1, 1] * y
        return moved
