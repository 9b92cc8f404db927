"""Inbetweening: the frames between a start and an end drawing.

Method: classical stroke correspondence + similarity interpolation, no learned model.

1. Match strokes between the keys by an optimal assignment (Hungarian / Jonker-Volgenant) on
   position, size and shape, not by their order. Positions are compared after the drawing's overall
   motion is taken out (a first match, a similarity fitted to the matched centroids, a second
   match), shapes after their own rotation is taken out and in the direction (and, for closed
   strokes, from the starting point) that fits best. A pair costing more than `MATCH_THRESHOLD`
   canvas diagonals is left unmatched.
2. Bring each matched pair to a common point count (the larger of the two) by arc length: the
   points that travel are the vertices of the stroke with more of them, each with the point at the
   same fraction of arc length along the other stroke, taken the way round (and, for closed
   strokes, from the starting point) that fits, so strokes drawn the other way do not turn inside
   out and the denser key's shape is kept exactly.
3. Split each pair's motion into a similarity (rotation, uniform scale, translation of the
   centroid: `inkmotion.strokes.geometry.fit_similarity`) and the non-rigid residual left over.
4. Each frame, at eased time tau: rotate by tau * angle (the short way round), scale by
   scale ** tau, move the centroid along the straight line between the keys, and add tau times the
   residual ("arc"), or move every point straight ("linear"); blend radii, opacities, colours and
   fill. Unmatched strokes fade out (in) or are erased (drawn on) along their length.

Where Blender's Grease Pencil Interpolate tool falls short: it pairs strokes by their index in
the layer (or their selection order), drops the extra strokes of the larger key, and moves every
point on a straight line (its auto-flip only looks at stroke end points). Keys whose strokes were
drawn in another order come out as a tangle and turning parts shrink on the way; here the pairing
comes from the shapes and where they are, and motion can turn.

The learned two-sketch inbetweening model (two rough sketches -> video: feature retrieval and
projection, then motion projection and feature blending: "Sketch Me A Video", Zhang, Yu, Chen
and Luo, 2021, arXiv:2110.04710) is a later step; this pipeline is the classical
engine it falls back to.

Intermediate frames take the start key's canvas, layer and materials (the end key's materials that
the start lacks are appended), and each matched stroke takes the start stroke's `cyclic` and
`material` the whole way. Intermediate strokes are polylines: their `bezier` is None. The first and
the last frame are copies of the keys, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.errors import InvalidInput
from inkmotion.strokes.geometry import (
    Polylines,
    Similarity,
    cumulative_length,
    fit_similarities,
    fit_similarity,
    linear_assignment,
    prefix_parameter,
    sample_at,
)
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress

EASINGS = ("linear", "ease-in-out", "ease-in", "ease-out")
MOTION_PATHS = ("arc", "linear")
UNMATCHED = ("fade", "draw-on")

# Matching cost of a pair, in canvas diagonals:
#   |centroid distance| + W_LENGTH |length difference| + W_SHAPE shape residual + W_ROTATION turn,
# the shape residual being the RMS distance between the two shapes once rotation, scale and
# position are taken out, and the turn the RMS distance the shape's own rotation moves its points
# (beyond the drawing's overall rotation). A pair costing more than MATCH_THRESHOLD is unmatched.
MATCH_THRESHOLD = 0.25
W_LENGTH = 0.5
W_SHAPE = 1.0
W_ROTATION = 0.25
MATCH_SAMPLES = 32  # points per stroke when comparing shapes for the match
# Match a second time, after the drawing's overall similarity, only when that similarity moves a
# matched stroke this far (in canvas diagonals) from where the first guess, a shift, put it.
REFIT_TOLERANCE = 0.01

_EPS = 1e-9


def ease(t, easing: str) -> np.ndarray:
    """Eased time for times `t` in [0, 1]: "ease-in-out" is smoothstep (3t^2 - 2t^3), "ease-in"
    and "ease-out" are quadratic (t^2 and 1 - (1 - t)^2); all keep 0, 1 and, but for the one-sided
    ones, 0.5."""
    t = np.asarray(t, dtype=np.float64)
    if easing == "linear":
        return t
    if easing == "ease-in-out":
        return t * t * (3.0 - 2.0 * t)
    if easing == "ease-in":
        return t * t
    if easing == "ease-out":
        return t * (2.0 - t)
    raise InvalidInput("easing", f"{easing!r} is not one of {', '.join(EASINGS)}")


@dataclass
class StrokeMatch:
    """Which stroke of the start key becomes which stroke of the end key."""

    pairs: np.ndarray  # int [M, 2]: (start stroke, end stroke), by ascending start stroke
    start_only: np.ndarray  # int [.]: start strokes with no partner, ascending
    end_only: np.ndarray  # int [.]: end strokes with no partner, ascending
    cost: np.ndarray  # float [M]: each pair's cost, in canvas diagonals
    motion: Similarity  # the drawing's overall motion, start -> end, that positions were compared after


def inbetween(
    start: Drawing,
    end: Drawing,
    frames: int,
    *,
    easing: str = "ease-in-out",
    motion_path: str = "arc",
    unmatched: str = "fade",
    on_progress: ProgressCallback = no_progress,
) -> list[Drawing]:
    """`frames` drawings from `start` to `end`, both keys counted and returned unchanged (copies).

    easing: "linear", "ease-in-out", "ease-in" or "ease-out" (how time is spent between the keys);
    motion_path: "arc" (strokes turn and scale as they move) or "linear" (every point moves
    straight); unmatched: "fade" (strokes without a partner fade out or in) or "draw-on" (they are
    erased or drawn along their length). `on_progress` is called once per frame, and may raise
    `inkmotion.errors.Cancelled` to stop the run.
    """
    # 0. Check the options.
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
        raise InvalidInput("frames", f"{frames!r} is not a whole number")
    if frames < 2:
        raise InvalidInput("frames", f"{frames} is under the minimum of 2 (the two keys)")
    for option, value, allowed in (
        ("easing", easing, EASINGS),
        ("motion_path", motion_path, MOTION_PATHS),
        ("unmatched", unmatched, UNMATCHED),
    ):
        if value not in allowed:
            raise InvalidInput(option, f"{value!r} is not one of {', '.join(allowed)}")
    times = ease(np.linspace(0.0, 1.0, frames), easing)

    # 1. Match the strokes of the two keys: whole strokes one to one, then each stroke left over
    # onto a piece of a stroke of the other key (splits and merges).
    match = match_strokes(start, end)
    merging, splitting = match_pieces(start, end, match)
    rigid = motion_path == "arc"

    # 2.-3. Resample and align each pair; split its motion into a similarity and a residual.
    tracks = _Tracks.build(start, end, match, rigid=rigid)

    materials, end_material = _merge_materials(start, end)
    partner = dict(zip(match.pairs[:, 0].tolist(), range(len(match.pairs))))
    draw_on = unmatched == "draw-on"
    # A stroke merging into a piece of an end stroke travels there; one split from a piece of a
    # start stroke travels from there (its own attributes throughout).
    piece_tracks = _piece_tracks(start, end, merging, splitting, rigid, end_material)
    merge_of = {piece.stroke: i for i, piece in enumerate(merging)}
    # The rest stay attached to the nearest matched stroke of their own key, moving with it, and
    # fade or draw on from the end nearest that stroke.
    body = _Body.of(start, tracks, match.motion, rigid)
    leaving = {k: _Attached(start.strokes[k], draw_on, body, _attachment(start, k, match.pairs[:, 0]), False)
               for k in match.start_only.tolist() if k not in merge_of}
    split_of = {piece.stroke for piece in splitting}
    arriving = [_Attached(end.strokes[k], draw_on, body, _attachment(end, k, match.pairs[:, 1]), True,
                          end_material(end.strokes[k].material)) for k in match.end_only.tolist() if k not in split_of]

    # 4. The frames: the keys as they are, and between them every stroke at its eased time.
    out: list[Drawing] = []
    for i, tau in enumerate(times):
        if i == 0:
            drawing = start.copy()
        elif i == frames - 1:
            drawing = end.copy()
        else:
            tau = float(tau)
            moving, pieces = tracks.at(tau), piece_tracks.at(tau)
            strokes = [moving[partner[k]] if k in partner else pieces[merge_of[k]] if k in merge_of
                       else leaving[k].at(tau, 1.0 - tau) for k in range(len(start.strokes))]
            strokes += pieces[len(merging):]
            strokes += [stroke.at(tau, tau) for stroke in arriving]
            drawing = Drawing(start.width, start.height, strokes, start.layer, list(materials))
        out.append(drawing)
        on_progress(Progress(step=i + 1, total=frames, message=f"frame {i + 1} of {frames}"))
    return out


# --- 1. matching -------------------------------------------------------------------------------


@dataclass
class _Shapes:
    """What the match compares, for each stroke of one key."""

    centroid: np.ndarray  # [S, 2]
    length: np.ndarray  # [S]
    shape: np.ndarray  # complex [S, K]: MATCH_SAMPLES points about the centroid, x + iy
    radius: np.ndarray  # [S]: RMS distance of those points from the centroid
    cyclic: np.ndarray  # bool [S]
    empty: np.ndarray  # bool [S]: strokes without points, which match nothing

    @classmethod
    def of(cls, strokes: list[Stroke]) -> "_Shapes":
        count = len(strokes)
        empty = np.array([len(s) == 0 for s in strokes], bool)
        cyclic = np.array([bool(s.cyclic) for s in strokes], bool)
        samples = np.zeros((count, MATCH_SAMPLES, 2))
        length = np.zeros(count)
        full = np.nonzero(~empty)[0]
        if len(full):
            lines = Polylines.of([strokes[k].points for k in full], cyclic[full])
            samples[full] = lines.resample(MATCH_SAMPLES).reshape(-1, MATCH_SAMPLES, 2)
            length[full] = lines.lengths()
        centroid = samples.mean(axis=1)
        shape = (samples - centroid[:, None]) @ _COMPLEX
        radius = np.sqrt((np.abs(shape) ** 2).mean(axis=1))
        return cls(centroid, length, shape, radius, cyclic, empty)


_COMPLEX = np.array([1.0, 1j])


def match_strokes(start: Drawing, end: Drawing, threshold: float = MATCH_THRESHOLD) -> StrokeMatch:
    """Pair the strokes of two keys by an optimal assignment on position, size and shape.

    Positions are compared after the drawing's overall motion: first the shift of its
    length-weighted centroid; then, unless that already explains where the matched strokes went,
    the similarity that best carries their centroids onto their partners' (kept when it lowers the
    total cost).
    """
    diagonal = max(float(np.hypot(start.width, start.height)), 1.0)
    a, b = _Shapes.of(start.strokes), _Shapes.of(end.strokes)
    shift = np.zeros(2)
    if len(a.length) and len(b.length):
        wa, wb = a.length + _EPS, b.length + _EPS
        shift = wb @ b.centroid / wb.sum() - wa @ a.centroid / wa.sum()
    guess = Similarity(0.0, 1.0, shift)
    best = _assign(a, b, guess, diagonal, threshold)
    if len(best.pairs) >= 2:
        i, j = best.pairs.T
        motion = fit_similarity(a.centroid[i], b.centroid[j], weights=a.length[i] + b.length[j] + _EPS)
        moved = np.linalg.norm(motion.apply(a.centroid[i]) - guess.apply(a.centroid[i]), axis=1)
        if moved.max() > REFIT_TOLERANCE * diagonal:
            second = _assign(a, b, motion, diagonal, threshold)
            if _total(second, a, b, threshold) < _total(best, a, b, threshold):
                best = second
    return best


def _total(match: StrokeMatch, a: _Shapes, b: _Shapes, threshold: float) -> float:
    unmatched = len(a.length) + len(b.length) - 2 * len(match.pairs)
    return float(match.cost.sum()) + threshold * unmatched / 2


def _assign(a: _Shapes, b: _Shapes, motion: Similarity, diagonal: float, threshold: float) -> StrokeMatch:
    position = np.linalg.norm(motion.apply(a.centroid)[:, None] - b.centroid[None], axis=-1)
    size = np.abs(motion.scale * a.length[:, None] - b.length[None])
    shape = _alignments(a.shape, b.shape, a.cyclic, b.cyclic, a.radius, b.radius, motion.angle)
    cost = (position + W_LENGTH * size + shape) / diagonal
    cost[a.empty] = threshold
    cost[:, b.empty] = threshold
    # Clamping at the threshold makes every bad pair cost the same as leaving both strokes
    # unmatched, so the assignment never trades a good pair for a bad one; those are dropped after.
    rows, cols = linear_assignment(np.minimum(cost, threshold))
    keep = cost[rows, cols] < threshold
    rows, cols = rows[keep], cols[keep]
    return StrokeMatch(
        pairs=np.stack([rows, cols], axis=1).reshape(-1, 2),
        start_only=np.setdiff1d(np.arange(len(a.length)), rows),
        end_only=np.setdiff1d(np.arange(len(b.length)), cols),
        cost=cost[rows, cols],
        motion=motion,
    )


def _alignment_cost(corr, mean_radius, norm, reference_angle: float):
    """What laying one shape's points onto another's costs, in pixels: W_SHAPE times the residual
    after the best rotation and scale, plus W_ROTATION times how far that rotation (beyond the
    drawing's own) moves the points.

    corr = sum_k conj(a_k) b_k over the centred points as complex numbers, norm = K r_a r_b:
    rho = |corr| / norm is the shapes' correlation after the best rotation, angle(corr), and the
    residual of the two shapes brought to unit size is sqrt(2 (1 - rho)).
    """
    ok = norm > _EPS
    rho = np.where(ok, np.abs(corr) / np.where(ok, norm, 1.0), 0.0)
    residual = np.sqrt(2.0 * np.clip(1.0 - rho, 0.0, None))
    turn = np.where(ok, 2.0 * np.abs(np.sin((np.angle(corr) - reference_angle) / 2)), 0.0)
    return mean_radius * (W_SHAPE * residual + W_ROTATION * turn)


def _alignments(za, zb, cyclic_a, cyclic_b, ra, rb, reference_angle: float) -> np.ndarray:
    """For every pair of shapes (complex [Sa, K] and [Sb, K], about their centroids): the cost of
    the cheapest way to lay end shape j's points onto start shape i's, forwards or reversed and,
    when both are closed, starting anywhere. [Sa, Sb], pixels."""
    samples = za.shape[1]
    mean_radius = (ra[:, None] + rb[None]) / 2
    norm = samples * ra[:, None] * rb[None]
    forward = _alignment_cost(np.conj(za) @ zb.T, mean_radius, norm, reference_angle)
    backward = _alignment_cost(np.conj(za) @ zb[:, ::-1].T, mean_radius, norm, reference_angle)
    best = np.minimum(forward, backward)
    ia, ib = np.nonzero(cyclic_a)[0], np.nonzero(cyclic_b)[0]
    if len(ia) and len(ib):
        # Closed strokes: every starting point at once, as a circular cross-correlation (FFT).
        spectrum = np.conj(np.fft.fft(za[ia]))[:, None, :]
        sub = np.ix_(ia, ib)
        for zbb in (zb[ib], zb[ib, ::-1]):
            corr = np.fft.ifft(spectrum * np.fft.fft(zbb)[None], axis=-1)
            rolled = _alignment_cost(corr, mean_radius[sub][..., None], norm[sub][..., None], reference_angle)
            best[sub] = np.minimum(best[sub], rolled.min(axis=-1))
    return best


# --- 1b. partial correspondences: a stroke left over, laid on a piece of a stroke of the other key ---

# A piece fits when, after the drawing's overall motion, its points lie within this RMS distance of
# the stroke's (canvas diagonals); PIECE_OFFSETS starting places are tried along each stroke.
PIECE_THRESHOLD = 0.06
PIECE_OFFSETS = 24


@dataclass
class Piece:
    """A stroke without a whole partner, laid on a piece of a stroke of the other key."""

    stroke: int  # the stroke, in its own key
    other: int  # the stroke of the other key it lies on
    points: np.ndarray  # [len(stroke), 2]: the piece, a point for each of the stroke's vertices (other key's canvas)
    cost: float  # RMS distance after the drawing's motion, in canvas diagonals


def match_pieces(start: Drawing, end: Drawing, match: StrokeMatch,
                 threshold: float = PIECE_THRESHOLD) -> tuple[list[Piece], list[Piece]]:
    """The one-to-many part of the correspondence: each start stroke left unmatched laid on the
    piece of an end stroke it fits best (it merges into it), and each end stroke left unmatched on
    a piece of a start stroke (it splits from it), when the fit is within `threshold`. A piece is
    as long as the stroke (scaled by the drawing's motion; the whole stroke when that is shorter),
    either way along it, and several strokes may lie on one. (merging, splitting)."""
    diagonal = max(float(np.hypot(start.width, start.height)), 1.0)
    motion = match.motion
    merging = [_best_piece(start.strokes[k], k, end.strokes, motion, motion.scale, diagonal, threshold)
               for k in match.start_only.tolist()]
    back = motion.inverse()
    splitting = [_best_piece(end.strokes[k], k, start.strokes, back, back.scale, diagonal, threshold)
                 for k in match.end_only.tolist()]
    return [p for p in merging if p is not None], [p for p in splitting if p is not None]


def _best_piece(stroke: Stroke, index: int, others: list[Stroke], motion: Similarity, scale: float, diagonal: float,
                threshold: float) -> Piece | None:
    if len(stroke) < 2 or stroke.cyclic:
        return None
    fractions = cumulative_length(stroke.points)
    total = float(fractions[-1])
    if total <= _EPS:
        return None
    fractions /= total
    even = np.linspace(0.0, 1.0, MATCH_SAMPLES)
    target = motion.apply(sample_at(stroke.points, np.interp(even, fractions, np.arange(len(stroke)))))
    best: tuple[float, int, np.ndarray] | None = None
    for j, other in enumerate(others):
        if len(other) < 2:
            continue
        along = cumulative_length(other.points, other.cyclic)
        span = min(total * scale, float(along[-1]))
        if span <= _EPS:
            continue
        starts = np.linspace(0.0, float(along[-1]) - span, PIECE_OFFSETS if along[-1] - span > _EPS else 1)
        at = starts[:, None] + even[None] * span  # [offsets, K] arc lengths along `other`
        u = np.interp(at, along, np.arange(len(along)))
        points = sample_at(other.points, u.ravel(), other.cyclic).reshape(len(starts), MATCH_SAMPLES, 2)
        for flip in (False, True):
            laid = points[:, ::-1] if flip else points
            rms = np.sqrt(((laid - target[None]) ** 2).sum(-1).mean(-1)) / diagonal
            m = int(np.argmin(rms))
            if rms[m] < threshold and (best is None or rms[m] < best[0]):
                u_piece = u[m, ::-1] if flip else u[m]
                # A point on the piece for each of the stroke's vertices, at its fraction of arc length.
                vertex_u = np.interp(fractions, even, u_piece)
                best = (float(rms[m]), j, sample_at(other.points, vertex_u, other.cyclic))
    if best is None:
        return None
    return Piece(index, best[1], best[2].astype(np.float32), best[0])


def _piece_tracks(start: Drawing, end: Drawing, merging: list[Piece], splitting: list[Piece], rigid: bool,
                  end_material) -> "_Tracks":
    """The pieces as tracks (merging first, then splitting): each stroke from itself to its piece,
    or from its piece to itself, its own attributes the whole way."""
    firsts, lasts = [], []
    for piece in merging:
        stroke = start.strokes[piece.stroke]
        firsts.append(stroke)
        lasts.append(stroke.copy(points=piece.points, bezier=None))
    for piece in splitting:
        stroke = end.strokes[piece.stroke].copy(material=end_material(end.strokes[piece.stroke].material))
        firsts.append(stroke.copy(points=piece.points, bezier=None))
        lasts.append(stroke)
    count = len(firsts)
    identity = StrokeMatch(np.stack([np.arange(count)] * 2, axis=1).reshape(-1, 2), np.zeros(0, np.intp),
                           np.zeros(0, np.intp), np.zeros(count), Similarity(0.0, 1.0, np.zeros(2)))
    return _Tracks.build(Drawing(start.width, start.height, firsts), Drawing(start.width, start.height, lasts),
                         identity, rigid=rigid)


def _attachment(drawing: Drawing, k: int, matched: np.ndarray) -> tuple[int, bool] | None:
    """The matched stroke (its pair's index) that stroke `k` of `drawing` attaches to: the one
    passing nearest either of its ends; and whether its last end is the nearer (it grows from
    there). None without matched strokes."""
    stroke = drawing.strokes[k]
    if not len(matched) or len(stroke) == 0:
        return None
    ends = stroke.points[[0, -1]].astype(np.float64)
    best = (np.inf, 0, False)
    for pair, j in enumerate(matched.tolist()):
        points = drawing.strokes[j].points.astype(np.float64)
        if not len(points):
            continue
        gaps = np.linalg.norm(points[None] - ends[:, None], axis=-1).min(axis=1)
        end = int(np.argmin(gaps))
        if gaps[end] < best[0]:
            best = (float(gaps[end]), pair, bool(end == 1 and not stroke.cyclic))
    return None if not np.isfinite(best[0]) else (best[1], best[2])


# --- 2.-4. tracks: each matched pair as a similarity plus a residual, all pairs in flat arrays ---


@dataclass
class _Tracks:
    """Every matched pair at a common point count, one after another in flat arrays. Points are
    complex numbers x + iy, so turning and scaling is one multiplication."""

    slices: list[slice]  # pair k's points
    owner: np.ndarray  # [P]: the pair each point belongs to
    local: np.ndarray  # complex [P]: start shape about its centroid
    residual: np.ndarray  # complex [P]: what the similarity leaves over, in the start shape's frame
    angle: np.ndarray  # [M]
    log_scale: np.ndarray  # [M]
    center: np.ndarray  # complex [M]: start centroid
    travel: np.ndarray  # complex [M]: end centroid - start centroid
    radii: tuple[np.ndarray, np.ndarray]  # [P] at the start, and the change to the end
    opacities: tuple[np.ndarray, np.ndarray]  # [P]
    point_colors: tuple[np.ndarray, np.ndarray] | None  # [P, 4]; None: no pair has them
    color: tuple[np.ndarray, np.ndarray]  # [M, 4]
    fill: tuple[np.ndarray, np.ndarray]  # [M, 4]
    has_point_colors: list[bool]
    has_fill: list[bool]
    cyclic: list[bool]
    material: list[int]

    @classmethod
    def build(cls, start: Drawing, end: Drawing, match: StrokeMatch, rigid: bool) -> "_Tracks":
        firsts = [start.strokes[i] for i in match.pairs[:, 0]]
        lasts = [end.strokes[j] for j in match.pairs[:, 1]]
        count = len(firsts)
        if count == 0:
            empty, rows = np.zeros(0), np.zeros((0, 4))
            return cls(
                [], np.zeros(0, np.intp), empty, empty, empty, empty, empty, empty,
                (empty, empty), (empty, empty), None, (rows, rows), (rows, rows), [], [], [], [],
            )  # fmt: skip

        # 2. A common point count, the larger of the two. Which way round (and, closed, from where)
        # the end stroke goes is found on even arc-length samples; the points that travel are the
        # vertices of the stroke with more of them, each with the point at the same fraction of
        # arc length along the other, so that stroke keeps its exact shape next to its key.
        n = np.array([max(len(sa), len(sb)) for sa, sb in zip(firsts, lasts)], np.intp)
        lines_a = Polylines.of([s.points for s in firsts], [s.cyclic for s in firsts])
        lines_b = Polylines.of([s.points for s in lasts], [s.cyclic for s in lasts])
        closed = lines_a.cyclic & lines_b.cyclic
        even_a, even_b = lines_a.resample(n), lines_b.resample(n)
        reverse, roll = _pair_alignment(even_a, even_b, n, closed, match.motion.angle)
        ua, ub = _correspondence(lines_a, lines_b, n, reverse, roll, closed)
        pa, pb = lines_a.sample_at(lines_a.points, ua, n), lines_b.sample_at(lines_b.points, ub, n)

        # 3. The similarity from start to end (fitted on the even samples, so every stretch of
        # the stroke counts by its length), and the residual it leaves over:
        # end = scale R(angle) (local + residual) + end centroid.
        owner = np.repeat(np.arange(count), n)
        offsets = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.intp)
        even_b = np.take(even_b, _even_order(n, reverse, roll), axis=0)
        ca = np.add.reduceat(even_a @ _COMPLEX, offsets) / n
        cb = np.add.reduceat(even_b @ _COMPLEX, offsets) / n
        angle, log_scale = np.zeros(count), np.zeros(count)
        if rigid:
            fit_angle, fit_scale, _ = fit_similarities(even_a, even_b, n)
            ok = np.isfinite(fit_scale) & (fit_scale > _EPS)
            angle, log_scale = np.where(ok, fit_angle, 0.0), np.log(np.where(ok, fit_scale, 1.0))
        local = pa @ _COMPLEX - ca[owner]
        residual = (pb @ _COMPLEX - cb[owner]) * np.exp(-log_scale - 1j * angle)[owner] - local

        read_a, read_b = lines_a.sampler(ua, n), lines_b.sampler(ub, n)

        def change(get, width=()):
            first = read_a(np.concatenate([get(s) for s in firsts]).reshape((-1,) + width))
            return first, read_b(np.concatenate([get(s) for s in lasts]).reshape((-1,) + width)) - first

        def per_stroke(get):
            first = np.array([get(sa, sb) for sa, sb in zip(firsts, lasts)], np.float64).reshape(-1, 4)
            last = np.array([get(sb, sa) for sa, sb in zip(firsts, lasts)], np.float64).reshape(-1, 4)
            return first, last - first

        has_point_colors = [sa.point_colors is not None or sb.point_colors is not None for sa, sb in zip(firsts, lasts)]
        bounds = np.concatenate([[0], np.cumsum(n)]).tolist()
        return cls(
            slices=[slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])],
            owner=owner,
            local=local,
            residual=residual,
            angle=angle,
            log_scale=log_scale,
            center=ca,
            travel=cb - ca,
            radii=change(lambda s: s.radii),
            opacities=change(lambda s: s.opacities),
            point_colors=change(Stroke.colors, (4,)) if any(has_point_colors) else None,
            color=per_stroke(lambda s, _: s.color),
            # A fill on one side only fades: the other side has the same colour, transparent.
            fill=per_stroke(lambda s, other: _fill_or(s.fill, other.fill)),
            has_point_colors=has_point_colors,
            has_fill=[sa.fill is not None or sb.fill is not None for sa, sb in zip(firsts, lasts)],
            cyclic=[bool(s.cyclic) for s in firsts],
            material=[int(s.material) for s in firsts],
        )

    def at(self, tau: float) -> list[Stroke]:
        """4. Every matched stroke at eased time `tau`, in pair order:
        p(tau) = scale^tau e^(i tau angle) (local + tau residual) + center + tau travel
        (with angle = 0 and scale = 1 for "linear", this is the straight blend of the points)."""
        if not self.slices:
            return []
        spin = np.exp(tau * (self.log_scale + 1j * self.angle))[self.owner]
        moved = spin * (self.local + tau * self.residual) + (self.center + tau * self.travel)[self.owner]
        points = moved.view(np.float64).reshape(-1, 2).astype(np.float32)

        def blend(pair):
            first, delta = pair
            return (first + tau * delta).astype(np.float32)

        radii, opacities, colors, fills = blend(self.radii), blend(self.opacities), blend(self.color), blend(self.fill)
        point_colors = None if self.point_colors is None else blend(self.point_colors)
        # Positional arguments, in Stroke's field order: this loop is most of a frame's time.
        return [
            Stroke(
                points[part],
                radii[part],
                opacities[part],
                colors[k],
                point_colors[part] if self.has_point_colors[k] else None,
                fills[k] if self.has_fill[k] else None,
                self.cyclic[k],
                self.material[k],
                None,
            )
            for k, part in enumerate(self.slices)
        ]


def _pair_alignment(pa: np.ndarray, pb: np.ndarray, n: np.ndarray, closed: np.ndarray, reference_angle: float):
    """How each pair's end stroke lies on its start stroke, from `n` even arc-length samples of
    each (flat [sum(n), 2]): whether it runs the other way, and, for closed pairs, how many samples
    (fractional) its start point is rolled by: start sample k goes with end sample k + roll, or,
    reversed, with end sample n - 1 - k - roll. Cheapest by `_alignment_cost`."""
    count = len(n)
    owner = np.repeat(np.arange(count), n)
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.intp)
    local = np.arange(len(owner)) - offsets[owner]
    za, zb = pa @ _COMPLEX, pb @ _COMPLEX
    za -= (np.add.reduceat(za, offsets) / n)[owner]
    zb -= (np.add.reduceat(zb, offsets) / n)[owner]
    ra = np.sqrt(np.add.reduceat(np.abs(za) ** 2, offsets) / n)
    rb = np.sqrt(np.add.reduceat(np.abs(zb) ** 2, offsets) / n)
    mean_radius, norm = (ra + rb) / 2, n * ra * rb
    flipped = offsets[owner] + n[owner] - 1 - local
    forward = _alignment_cost(np.add.reduceat(np.conj(za) * zb, offsets), mean_radius, norm, reference_angle)
    backward = _alignment_cost(np.add.reduceat(np.conj(za) * zb[flipped], offsets), mean_radius, norm, reference_angle)
    reverse = backward < forward
    best = np.minimum(forward, backward)
    roll = np.zeros(count)
    for k in np.nonzero(closed)[0]:
        part = slice(offsets[k], offsets[k] + n[k])
        spectrum = np.conj(np.fft.fft(za[part]))
        for backwards in (False, True):
            zbb = zb[part][::-1] if backwards else zb[part]
            costs = _alignment_cost(np.fft.ifft(spectrum * np.fft.fft(zbb)), mean_radius[k], norm[k], reference_angle)
            m = int(np.argmin(costs))
            if costs[m] < best[k] - 1e-9 * (1.0 + best[k]):
                best[k], reverse[k], roll[k] = costs[m], backwards, m + _parabola_vertex(costs, m)
    return reverse, roll


def _parabola_vertex(costs: np.ndarray, m: int) -> float:
    """Sub-sample offset of a cyclic minimum at `m`, from the parabola through it and its neighbours."""
    left, mid, right = costs[m - 1], costs[m], costs[(m + 1) % len(costs)]
    curve = left - 2 * mid + right
    return float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5)) if curve > _EPS else 0.0


def _even_order(n: np.ndarray, reverse: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Indices that lay each pair's even end samples onto its even start samples (roll rounded)."""
    owner = np.repeat(np.arange(len(n)), n)
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.intp)
    size = n[owner]
    index = (np.arange(len(owner)) - offsets[owner] + np.rint(roll).astype(np.intp)[owner]) % size
    return offsets[owner] + np.where(reverse[owner], size - 1 - index, index)


def _correspondence(lines_a: Polylines, lines_b: Polylines, n: np.ndarray, reverse, roll, closed):
    """Fractional vertex indices (ua, ub) [sum(n)] of the points that travel together: the vertices
    of the stroke with more points (the start's on a tie), each with the point at the matching
    fraction of arc length along the other (through `_pair_alignment`'s direction and roll), in
    the start stroke's order."""
    owner = np.repeat(np.arange(len(n)), n)
    offsets = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.intp)
    local = np.arange(len(owner)) - offsets[owner]
    na, nb = lines_a.sizes[owner], lines_b.sizes[owner]
    own_a = na >= nb
    own = np.where(
        own_a,
        lines_a.vertex_fractions()[lines_a.starts[owner] + np.minimum(local, na - 1)],
        lines_b.vertex_fractions()[lines_b.starts[owner] + np.minimum(local, nb - 1)],
    )
    # The map from a fraction along the start stroke to one along the end stroke, and back.
    rev, cyc, shift, size = reverse[owner], closed[owner], (roll / n)[owner], n[owner]
    mirror = 1.0 - 1.0 / size - shift  # reversed and closed: f -> mirror - f, its own inverse
    to_end = np.where(cyc, np.where(rev, (mirror - own) % 1.0, (own + shift) % 1.0), np.where(rev, 1.0 - own, own))
    to_start = np.where(cyc, np.where(rev, (mirror - own) % 1.0, (own - shift) % 1.0), np.where(rev, 1.0 - own, own))
    fa = np.where(own_a, own, to_start)
    fb = np.where(own_a, to_end, own)
    order = np.lexsort((fa, owner))  # in the start stroke's order (no change where it owns the points)
    fa, fb, local = fa[order], fb[order], local[order]
    ua = np.where(own_a, local, lines_a.parameter_at(fa, n))
    ub = np.where(own_a, lines_b.parameter_at(fb, n), local)
    return ua, ub


def _fill_or(fill: np.ndarray | None, other: np.ndarray | None) -> np.ndarray:
    if fill is not None:
        return np.asarray(fill, np.float64)
    if other is not None:
        return np.concatenate([np.asarray(other, np.float64)[:3], [0.0]])
    return np.zeros(4)


# --- strokes without a partner -------------------------------------------------------------------


@dataclass
class _Body:
    """The drawing's overall motion (the similarity the match found) as a path in time: turning
    and scaling about the start key's centre as it travels to where the end key has it."""

    center: complex
    travel: complex
    spin: complex  # log scale + i angle

    @classmethod
    def of(cls, start: Drawing, tracks: "_Tracks", motion: Similarity, rigid: bool) -> "_Body":
        """From the matched pairs: the similarity carrying their centroids onto their partners'
        (two pairs or more; with one, its shift), else the match's first guess `motion`."""
        a = tracks.center.view(np.float64).reshape(-1, 2) if len(tracks.center) else np.zeros((0, 2))
        b = (tracks.center + tracks.travel).view(np.float64).reshape(-1, 2) if len(tracks.center) else a
        if len(a) >= 2:
            motion = fit_similarity(a, b)
        elif len(a) == 1:
            motion = Similarity(0.0, 1.0, b[0] - a[0])
        if not rigid:
            motion = Similarity(0.0, 1.0, motion.apply(np.zeros((1, 2)))[0])
        points = np.concatenate([s.points for s in start.strokes if len(s)] or [np.zeros((1, 2))]).astype(np.float64)
        center = a.mean(axis=0) if len(a) else points.mean(axis=0)
        return cls(complex(*center), complex(*(motion.apply(center[None])[0] - center)),
                   complex(np.log(max(motion.scale, _EPS)), motion.angle))

    def carry(self, points: np.ndarray, tau: float, from_end: bool) -> np.ndarray:
        """`points` [n, 2] at time `tau`, as the body carries them from the start key, or
        (`from_end`) from the end key (taken back to the start first)."""
        if not len(points):
            return points
        z = points.astype(np.float64) @ _COMPLEX
        if from_end:
            z = (z - self.center - self.travel) * np.exp(-self.spin) + self.center
        z = np.exp(tau * self.spin) * (z - self.center) + self.center + tau * self.travel
        return z.view(np.float64).reshape(-1, 2).astype(np.float32)


class _Attached:
    """A stroke without a partner or a piece, riding with the body: carried by the drawing's
    overall motion from its own key, and faded, or drawn on (erased) from its end nearest the
    matched stroke it attaches to, so it grows out of the body rather than appearing where it ends.
    (The body's motion, not the attached stroke's own: between different drawings a pair may
    sweep across the figure, and what rides on it would sweep too.)"""

    def __init__(self, stroke: Stroke, draw_on: bool, body: _Body, attachment: tuple[int, bool] | None,
                 from_end: bool, material: int | None = None):
        if attachment is not None and attachment[1] and draw_on:  # grow from its last end: drawn the other way
            stroke = stroke.copy(points=stroke.points[::-1].copy(), radii=stroke.radii[::-1].copy(),
                                 opacities=stroke.opacities[::-1].copy(),
                                 point_colors=None if stroke.point_colors is None else stroke.point_colors[::-1].copy())
        self.stroke = _Unmatched(stroke, draw_on, material)
        self.body, self.from_end = body, from_end

    def at(self, tau: float, presence: float) -> Stroke:
        stroke = self.stroke.at(presence)
        stroke.points = self.body.carry(stroke.points, tau, self.from_end)
        return stroke


class _Unmatched:
    """A stroke without a partner, shown at some presence in [0, 1] (1: as in its key): faded to
    that fraction of its opacity, or drawn up to that fraction of its length ("draw-on"; an open
    polyline until it is whole). Its fill, which cannot be drawn along a line, fades either way."""

    def __init__(self, stroke: Stroke, draw_on: bool, material: int | None = None):
        self.stroke = stroke
        self.draw_on = draw_on and len(stroke) > 0
        self.material = stroke.material if material is None else material
        if self.draw_on:
            # Everything per point in one table, so a cut is one interpolation.
            columns = [stroke.points, stroke.radii[:, None], stroke.opacities[:, None]]
            if stroke.point_colors is not None:
                columns.append(stroke.point_colors)
            self.table = np.concatenate(columns, axis=1).astype(np.float64)
            self.cumulative = cumulative_length(stroke.points, stroke.cyclic)

    def at(self, presence: float) -> Stroke:
        s = self.stroke
        fill = None
        if s.fill is not None:
            fill = s.fill.astype(np.float32)
            fill[3] *= presence
        if not self.draw_on:
            opacities = (s.opacities * np.float32(presence)).astype(np.float32)
            return s.copy(opacities=opacities, fill=fill, material=self.material, bezier=None)
        u = prefix_parameter(s.points, presence, s.cyclic, cumulative=self.cumulative)
        part = sample_at(self.table, u, s.cyclic).astype(np.float32)
        return Stroke(
            np.ascontiguousarray(part[:, :2]),
            np.ascontiguousarray(part[:, 2]),
            np.ascontiguousarray(part[:, 3]),
            s.color.astype(np.float32),
            None if s.point_colors is None else np.ascontiguousarray(part[:, 4:]),
            fill,
            False,
            self.material,
            None,
        )


def _merge_materials(start: Drawing, end: Drawing):
    """The start key's materials plus those only the end key has, and a map for end strokes'
    material indices into that list."""
    materials = list(start.materials)
    remap = []
    for name in end.materials:
        if name not in materials:
            materials.append(name)
        remap.append(materials.index(name))

    def end_material(index: int) -> int:
        return remap[index] if 0 <= index < len(remap) else index

    return materials, end_material
