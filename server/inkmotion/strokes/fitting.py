"""Fitting cubic Bezier chains to polylines, and placing a polyline's points on a chain.

Grease Pencil strokes are dense polylines; methods such as Live-Sketch optimise the control points
of cubic Bezier strokes. This room finds the chain for a stroke (`strokes.chains` pads the chains of
a drawing into tensors):

- `fit_cubics` fits a chain of cubic segments to one polyline (Schneider, "An Algorithm for
  Automatically Fitting Digitized Curves", Graphics Gems 1990, with a Levenberg-Marquardt
  refinement for the cusps and hairpins sketches are full of) and says where on the chain every
  input point lies, as `segment + t`;
- `place_on_chain` says where a stroke's points lie on a chain it already has (its authored
  `bezier`), or that they do not fit it;
- `with_segment_count` gives a chain exactly k segments: shorter chains are split, which changes
  nothing, longer ones are merged by refitting.

numpy only.
"""

from __future__ import annotations

import math
import numpy as np

from inkmotion.strokes.bezier import bernstein, cubic_segments, eval_cubic, point_segment_distance, points_on_segments
from inkmotion.strokes.geometry import cumulative_length

TOLERANCE = 0.25  # pixels an input point may lie from the fitted curve at its own parameter
CORNER_ANGLE = math.radians(60.0)  # a turn sharper than this over CORNER_REACH each side is a corner
CORNER_REACH = 2.0  # pixels of arc length looked at on each side of a vertex to find corners
_REPEAT = 1e-4  # consecutive points closer than this (px) are one point to the fit
_REFINE_WITHIN = 16.0  # a first fit within this many tolerances is refined; one further off is split
_REFINE_STEPS = 16  # Levenberg-Marquardt steps (tried, taken or not) per fit while splitting
_MERGE_STEPS = 100  # the same when segments are refitted as one (uniform_segments)
_REACH = 3.0  # a handle is at most this many times its segment's arc length


# --- one cubic ------------------------------------------------------------------------------


# q'(u) = a u^2 + b u + c and q''(u) = 2 a u + b, with (c, b, a) = _DERIVATIVE @ control points.
_DERIVATIVE = np.array([[-3.0, 3.0, 0.0, 0.0], [6.0, -12.0, 6.0, 0.0], [-3.0, 9.0, -9.0, 3.0]])


def _derivative(ctrl: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The first derivative of a cubic [4, 2] at parameters u: [n, 2]."""
    c, b, a = _DERIVATIVE @ ctrl  # q'(u) = a u^2 + b u + c
    t = u[:, None]
    return (a * t + b) * t + c


def _cubic_at(ctrl: np.ndarray, u: np.ndarray) -> np.ndarray:
    return bernstein(u) @ ctrl


def _newton(ctrl: np.ndarray, data: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step of each point's parameter towards its closest point on the cubic
    (Schneider's reparameterisation), kept only where it brings the curve point closer. The ends
    stay at 0 and 1, and the parameters never decrease."""
    _, b, a = _DERIVATIVE @ ctrl
    q = _cubic_at(ctrl, u)
    q1 = _derivative(ctrl, u)
    q2 = 2.0 * a * u[:, None] + b
    diff = q - data
    num = (diff * q1).sum(1)
    den = (q1 * q1).sum(1) + (diff * q2).sum(1)
    step = np.divide(num, den, out=np.zeros_like(num), where=np.abs(den) > 1e-12)
    v = np.clip(u - step, 0.0, 1.0)
    v[0], v[-1] = u[0], u[-1]
    better = ((_cubic_at(ctrl, v) - data) ** 2).sum(1) < (diff * diff).sum(1)
    return np.maximum.accumulate(np.where(better, v, u))  # points stay in order along the curve


def _handle_basis(start: np.ndarray | None, end: np.ndarray | None) -> tuple[np.ndarray, list[int]]:
    """The free numbers of a cubic with fixed ends, as directions [m, 2] and the control point each
    moves (1 or 2): a free handle moves along both axes, one on a fixed tangent only along it."""
    dirs, which = [], []
    for index, tangent in ((1, start), (2, end)):
        if tangent is None:
            dirs += [(1.0, 0.0), (0.0, 1.0)]
            which += [index, index]
        else:
            dirs.append(tangent)
            which.append(index)
    return np.asarray(dirs, np.float64), which


def _handle_vars(ctrl: np.ndarray, start, end) -> np.ndarray:
    """A cubic's free numbers: a free handle's point, or a handle's length along its tangent."""
    first = ctrl[1] if start is None else [float(np.dot(ctrl[1] - ctrl[0], start))]
    second = ctrl[2] if end is None else [float(np.dot(ctrl[2] - ctrl[3], end))]
    return np.concatenate([first, second]).astype(np.float64)


def _handle_ctrl(x: np.ndarray, p0, p3, start, end) -> np.ndarray:
    ctrl = np.empty((4, 2))
    ctrl[0], ctrl[3] = p0, p3
    if start is None:
        ctrl[1], x = x[:2], x[2:]
    else:
        ctrl[1], x = p0 + x[0] * start, x[1:]
    ctrl[2] = x[:2] if end is None else p3 + x[0] * end
    return ctrl


def _fixed_part(p0, p3, start, end) -> np.ndarray:
    """The control points with the free numbers at zero [4, 2]: the curve is B @ this plus the
    handles' part."""
    zero = np.zeros(2)
    return np.stack([p0, zero if start is None else p0, zero if end is None else p3, p3])


def _limit_handles(ctrl: np.ndarray, reach: float) -> np.ndarray:
    for i, anchor in ((1, 0), (2, 3)):
        handle = ctrl[i] - ctrl[anchor]
        length = float(np.hypot(*handle))
        if length > reach:
            ctrl[i] = ctrl[anchor] + handle * (reach / length)
    return ctrl


def _least_squares(
    data: np.ndarray,
    u: np.ndarray,
    p0: np.ndarray,
    p3: np.ndarray,
    start: np.ndarray | None,
    end: np.ndarray | None,
    reach: float,
) -> np.ndarray:
    """The cubic from p0 to p3 closest to `data` at parameters `u` (least squares).

    A handle is free (both coordinates fitted) where its tangent is None, else it lies along the
    given unit tangent (`start` points forward from p0, `end` backward from p3) and only its length
    is fitted. A light ridge towards handles of a third of the chord keeps the system solvable with
    too few points; a handle pointing backwards along a fixed tangent falls back to that third
    (Schneider's heuristic), and no handle is longer than `reach` (a few times the run's arc
    length: the long handles of a cusp are fine, a handle flung off by too few points is not).
    """
    chord = float(np.hypot(*(p3 - p0)))
    third = max(chord, 1e-9) / 3.0
    direction = (p3 - p0) / chord if chord > 1e-12 else np.array([1.0, 0.0])
    dirs, which = _handle_basis(start, end)
    b = bernstein(u)
    rhs = data - b @ _fixed_part(p0, p3, start, end)
    w = b[:, which]
    ata = (w.T @ w) * (dirs @ dirs.T)
    atb = (w * (rhs @ dirs.T)).sum(0)
    x0 = _handle_vars(np.stack([p0, p0 + third * direction, p3 - third * direction, p3]), start, end)
    ridge = 1e-9 * (float(np.trace(ata)) / len(x0) + 1e-12)
    x = np.linalg.solve(ata + ridge * np.eye(len(x0)), atb + ridge * x0)
    if start is not None and x[0] <= 1e-6 * chord:
        x[0] = third
    if end is not None and x[-1] <= 1e-6 * chord:
        x[-1] = third
    return _limit_handles(_handle_ctrl(x, p0, p3, start, end), reach)


def _errors(ctrl: np.ndarray, data: np.ndarray, u: np.ndarray) -> tuple[float, int]:
    """The worst error of a fit and the data index to split at.

    A point's error is its distance to the curve at its own parameter. Between neighbouring points
    the curve must also stay near their chord (within a quarter of the chord more than a point may
    stray), so a segment fitted through the points cannot swing out between them.
    """
    n = len(data)
    err = np.sqrt(((_cubic_at(ctrl, u) - data) ** 2).sum(1))
    if n > 2:
        mid = _cubic_at(ctrl, 0.5 * (u[:-1] + u[1:]))
        chord = np.sqrt((np.diff(data, axis=0) ** 2).sum(1))
        off = point_segment_distance(mid, data[:-1], data[1:]) - 0.25 * chord
        err[1:-1] = np.maximum(err[1:-1], np.maximum(off[1:], off[:-1]))
    i = int(np.argmax(err))
    return float(err[i]), min(max(i, 1), n - 2) if n > 2 else 1


def _chord_parameters(data: np.ndarray) -> np.ndarray:
    cum = cumulative_length(data)
    return cum / cum[-1] if cum[-1] > 0 else np.linspace(0.0, 1.0, len(data))


def _fit_one(
    data: np.ndarray,
    u: np.ndarray,
    p0: np.ndarray,
    p3: np.ndarray,
    start: np.ndarray | None,
    end: np.ndarray | None,
    tolerance: float,
    steps: int = _REFINE_STEPS,
    persist: bool = False,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Fit by least squares at the given parameters, then refine handles and parameters together.

    Returns control points [4, 2], the parameters [n], the worst error and where to split. Unless
    `persist`, a first fit that is far off is returned as it is: splitting is the cheaper way."""
    reach = _REACH * max(float(cumulative_length(data)[-1]), float(np.linalg.norm(p3 - p0)), 1e-9)
    ctrl = _least_squares(data, u, p0, p3, start, end, reach)
    u = _newton(ctrl, data, u)
    err, split = _errors(ctrl, data, u)
    if err <= tolerance or len(data) < 3 or (not persist and err > _REFINE_WITHIN * tolerance):
        return ctrl, u, err, split
    ctrl2, u2 = _refine(data, u, ctrl, start, end, tolerance, steps, reach, stall=not persist)
    err2, split2 = _errors(ctrl2, data, u2)
    if err2 < err:
        return ctrl2, u2, err2, split2
    return ctrl, u, err, split


def _refine(
    data: np.ndarray,
    u: np.ndarray,
    ctrl: np.ndarray,
    start: np.ndarray | None,
    end: np.ndarray | None,
    tolerance: float,
    steps: int,
    reach: float,
    stall: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt on the handles and the inner points' parameters at once.

    Schneider alternates a least-squares fit of the handles with Newton steps on the parameters,
    which converges slowly (linearly) on the cusps and tight loops hand-drawn strokes have; solving
    for both together converges in a few steps. The parameters are eliminated per point (a Schur
    complement), so a step costs O(n). The ends stay where they are. Unless `stall` is False, a
    fit that stops improving far above the tolerance is given up early (splitting is cheaper)."""
    p0, p3 = ctrl[0], ctrl[3]
    d = data[1:-1]
    v = u[1:-1].copy()
    x = _handle_vars(ctrl, start, end)
    m = len(x)
    dirs, which = _handle_basis(start, end)  # variable j moves point which[j] along dirs[j]
    gram = dirs @ dirs.T
    diagonal = np.diag_indices(m)

    def state(x, v):
        c = _handle_ctrl(x, p0, p3, start, end)
        b = bernstein(v)
        return c, b, b @ c - d

    c, b, r = state(x, v)
    cost = float((r * r).sum())
    mu, fresh = 1e-3, True
    stop = (0.8 * tolerance) ** 2  # a margin below the tolerance, for the float32 round trip
    for _ in range(steps):
        if fresh:
            if float((r * r).sum(1).max()) <= stop:
                break
            w = b[:, which]  # [k, m]
            q1 = _derivative(c, v)
            hcc = (w.T @ w) * gram
            gc = (w * (r @ dirs.T)).sum(0)
            h = w * (q1 @ dirs.T)  # [k, m]: how each parameter and handle variable interact
            a = (q1 * q1).sum(1)
            gu = (q1 * r).sum(1)
            scale = float(np.trace(hcc)) / m + 1e-12
            # Marquardt's damping, scaled by each variable's curvature, except that a point where
            # the curve barely moves (a cusp, the tip of a hairpin) is damped like an average one:
            # its own tiny curvature would let its parameter jump across the curve.
            floor = np.maximum(a, float(a.mean()))
        aa = a + mu * floor + 1e-12 * scale
        ha = h / aa[:, None]
        schur = hcc - ha.T @ h
        schur[diagonal] += mu * hcc[diagonal] + 1e-12 * scale
        try:
            dx = np.linalg.solve(schur, ha.T @ gu - gc)
        except np.linalg.LinAlgError:
            mu, fresh = mu * 4.0, False
            continue
        dv = -(gu + h @ dx) / aa
        x2, v2 = _clamp_vars(x + dx, start, end), np.clip(v + dv, 0.0, 1.0)
        c2, b2, r2 = state(x2, v2)
        cost2 = float((r2 * r2).sum())
        if cost2 >= cost:
            mu, fresh = mu * 4.0, False
            continue
        progress = (cost - cost2) / cost
        x, v, c, b, r, cost = x2, v2, c2, b2, r2, cost2
        mu, fresh = max(mu / 3.0, 1e-12), True
        if progress < 1e-4:
            break  # converged, to a fit over the tolerance (noise, or a shape one cubic cannot take)
        if stall and progress < 0.1 and float((r * r).sum(1).max()) > 4.0 * tolerance**2:
            break  # stalled far from the tolerance: a split will do better
    c = _limit_handles(c, reach)
    u = np.concatenate([[u[0]], np.maximum.accumulate(v), [u[-1]]])
    return c, _newton(c, data, u)


def _clamp_vars(x: np.ndarray, start, end) -> np.ndarray:
    """Handle lengths along fixed tangents stay non-negative (no cusp at a smooth joint)."""
    if start is not None:
        x[0] = max(x[0], 0.0)
    if end is not None:
        x[-1] = max(x[-1], 0.0)
    return x


# --- a chain of cubics ----------------------------------------------------------------------


def fit_cubics(
    points,
    *,
    tolerance: float = TOLERANCE,
    cyclic: bool = False,
    max_segments: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A chain of cubic Bezier segments through a polyline, and where each input point lies on it.

    Schneider's method: chord-length parameters, a least-squares fit of the handles, Newton-Raphson
    reparameterisation, and a split at the worst point when the fit is still over `tolerance`;
    where the first fit is close, handles and parameters are refined together (Levenberg-
    Marquardt) before giving up on one cubic, which keeps cusps and hairpins in one segment.
    Where a fit is split the two halves share the tangent there (the direction from the point
    before to the point after), so the chain is smooth; where the polyline turns by more than
    `CORNER_ANGLE` within `CORNER_REACH` px on either side the chain has a corner, with free
    handles on both sides. Open ends have free handles; a cyclic chain is smooth where it closes
    unless the first point is a corner.

    Returns `ctrl` float64 [3K+1, 2] ([3K, 2] when cyclic: the last segment ends at `ctrl[0]`) and
    `params` float64 [N]: point i lies on segment `floor(params[i])` (the last segment for
    `params[i] == K`) at `t = params[i] - segment`, within `tolerance` of the curve there, unless
    `max_segments` ran out first. Parameters never decrease along the stroke, the first point is
    at 0 and the last point of an open stroke at K; repeated points share a parameter.
    One point (or all points in one place) gives one zero-length segment with every parameter 0,
    two points a straight segment.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    n = len(pts)
    if n == 0:
        raise ValueError("points: cannot fit an empty stroke")
    if not np.isfinite(pts).all():
        raise ValueError("points: contains NaN or infinite values")
    if tolerance <= 0:
        raise ValueError(f"tolerance: {tolerance} is not positive")
    if max_segments is not None and max_segments < 1:
        raise ValueError(f"max_segments: {max_segments} is under the minimum of 1")

    # 1. One fit point per run of repeated points; a cyclic stroke drawn back onto its first
    #    point ends there instead (parameter K).
    step = np.sqrt((np.diff(pts, axis=0) ** 2).sum(1))
    distinct = np.concatenate([[True], step > _REPEAT])
    owner = np.cumsum(distinct) - 1  # input point -> fit point
    kept = pts[distinct]
    if cyclic and len(kept) > 1 and np.linalg.norm(kept[-1] - kept[0]) <= _REPEAT:
        kept = kept[:-1]
        owner = np.minimum(owner, len(kept))  # those now stand on the closing point
    m = len(kept)
    if m == 1:
        ctrl = np.repeat(kept, 3 if cyclic else 4, axis=0)
        return ctrl, np.zeros(n)
    q = np.concatenate([kept, kept[:1]]) if cyclic else kept  # the polyline fitted, closed
    last = len(q) - 1

    # 2. Corners split the polyline into runs with free handles at both ends.
    corners = _corners(q, cyclic)
    runs = [0] + sorted(c for c in corners if 0 < c < last) + [last]
    closing_corner = cyclic and 0 in corners
    if max_segments is not None and len(runs) - 1 > max_segments:
        strongest = [c for c in sorted(corners, key=lambda c: -corners[c]) if 0 < c < last]
        runs = [0] + sorted(strongest[: max_segments - 1]) + [last]
    if cyclic and not closing_corner:
        tangent = _unit(q[1] - q[last - 1], q[1] - q[0])
        first_tangent, last_tangent = tangent, -tangent
    else:
        first_tangent = last_tangent = None

    # 3. Fit each run, splitting at the worst point until every piece is within tolerance.
    budget = None if max_segments is None else max_segments - (len(runs) - 1)
    todo = []
    for i, j in reversed(list(zip(runs[:-1], runs[1:]))):
        todo.append((i, j, first_tangent if i == 0 else None, last_tangent if j == last else None))
    segments, where = [], np.zeros(len(q))
    while todo:
        i, j, start, end = todo.pop()
        data = q[i : j + 1]
        if j - i == 1:
            ctrl = _line(data[0], data[1], start, end)
            u = np.array([0.0, 1.0])
        else:
            u0 = _chord_parameters(data)
            ctrl, u, err, split = _fit_one(data, u0, data[0], data[-1], start, end, tolerance)
            if err > tolerance and (budget is None or budget > 0):
                if budget is not None:
                    budget -= 1
                s = i + split
                tangent = _unit(q[s + 1] - q[s - 1], q[s + 1] - q[s])
                todo.append((s, j, tangent, end))
                todo.append((i, s, start, -tangent))
                continue
        where[i : j + 1] = len(segments) + u
        segments.append(ctrl)

    # 4. The chain's control points, and each input point's place on it.
    k = len(segments)
    ctrl = np.concatenate([segments[0][:1]] + [s[1:] for s in segments])
    where[-1] = k
    params = where[owner]
    if cyclic:
        ctrl = ctrl[:-1]
    return ctrl, params


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    for w in (v, fallback):
        norm = float(np.hypot(*w))
        if norm > 1e-12:
            return w / norm
    return np.array([1.0, 0.0])


def _line(p0, p3, start, end) -> np.ndarray:
    """A segment between two points: straight, or along the given tangents (G1 with neighbours)."""
    third = (p3 - p0) / 3.0
    length = float(np.hypot(*third))
    p1 = p0 + third if start is None else p0 + length * start
    p2 = p3 - third if end is None else p3 + length * end
    return np.stack([p0, p1, p2, p3])


def _corners(q: np.ndarray, cyclic: bool) -> dict[int, float]:
    """Vertices of the polyline q where it turns by more than CORNER_ANGLE, looking CORNER_REACH px
    each way, the sharpest one kept of any within CORNER_REACH of each other: {vertex: angle}.
    For a cyclic stroke q is closed (q[-1] == q[0]) and vertex 0 may be a corner."""
    last = len(q) - 1
    if cyclic:
        loop = q[:-1]
        ring = np.concatenate([loop, loop, loop, loop[:1]])
        ids = np.arange(last, 2 * last)
    else:
        ring = q
        ids = np.arange(1, last)
    if len(ids) == 0:
        return {}
    cum = cumulative_length(ring)
    back = np.searchsorted(cum, cum[ids] - CORNER_REACH, side="right") - 1
    back = np.clip(back, 0, ids - 1)
    ahead = np.searchsorted(cum, cum[ids] + CORNER_REACH, side="left")
    ahead = np.clip(ahead, ids + 1, len(ring) - 1)
    din = ring[ids] - ring[back]
    dout = ring[ahead] - ring[ids]
    norms = np.sqrt((din**2).sum(1) * (dout**2).sum(1))
    cos = np.divide((din * dout).sum(1), norms, out=np.ones(len(ids)), where=norms > 1e-18)
    angle = np.arccos(np.clip(cos, -1.0, 1.0))
    along = cum[ids]
    total = cum[ids[0] + last] - cum[ids[0]] if cyclic else np.inf
    found: list[int] = []
    for c in np.argsort(-angle, kind="stable"):
        if angle[c] <= CORNER_ANGLE:
            break
        gaps = np.abs(along[found] - along[c])
        if (np.minimum(gaps, total - gaps) <= CORNER_REACH).any():
            continue
        found.append(int(c))
    offset = last if cyclic else 0
    return {int(ids[c]) - offset: float(angle[c]) for c in found}


# --- an authored chain ----------------------------------------------------------------------


def _closest(points: np.ndarray, segs: np.ndarray, t: np.ndarray, rounds: int = 10) -> np.ndarray:
    """Newton-Raphson from t towards each point's nearest point on its own cubic (control points
    [n, 4, 2]), each step kept only where it brings the curve closer; t stays in [0, 1]."""
    derivative = _DERIVATIVE @ segs  # [n, 3, 2]: (c, b, a) per cubic
    c, b, a = derivative[:, 0], derivative[:, 1], derivative[:, 2]
    pos = points_on_segments(segs, t)
    for _ in range(rounds):
        tt = t[:, None]
        d1 = (a * tt + b) * tt + c
        d2 = 2.0 * a * tt + b
        diff = pos - points
        num = (diff * d1).sum(1)
        den = (d1 * d1).sum(1) + (diff * d2).sum(1)
        step = np.divide(num, den, out=np.zeros_like(num), where=np.abs(den) > 1e-12)
        t_new = np.clip(t - step, 0.0, 1.0)
        pos_new = points_on_segments(segs, t_new)
        better = ((pos_new - points) ** 2).sum(1) < (diff * diff).sum(1)
        if not better.any():
            break
        t = np.where(better, t_new, t)
        pos = np.where(better[:, None], pos_new, pos)
        if float(np.abs(step[better]).max()) < 1e-12:
            break
    return t


def place_on_chain(points: np.ndarray, bezier: np.ndarray, cyclic: bool) -> tuple[np.ndarray, float] | None:
    """Where each point of a stroke lies on a given chain of cubics: parameters [N] that never
    decrease, and the worst distance of a point from the chain there. None when the chain is not
    a valid cubic chain or the points cannot be placed in order along it."""
    try:
        segs = cubic_segments(bezier, cyclic)
    except ValueError:
        return None
    if not np.isfinite(segs).all():
        return None
    k, n = len(segs), len(points)
    # 1. The nearest of dense samples along the chain (a few per pixel)...
    hull = np.sqrt((np.diff(segs, axis=1) ** 2).sum(-1)).sum(1)
    per = np.clip(np.ceil(hull), 4, 128).astype(np.intp)
    if per.sum() > 8192:
        per = np.maximum(2, per * 8192 // per.sum())
    owner = np.repeat(np.arange(k), per + 1)
    first = np.repeat(np.cumsum(per + 1) - (per + 1), per + 1)
    dense_t = (np.arange(len(owner)) - first) / np.repeat(per, per + 1)
    if n * len(owner) > 16_000_000:
        return None
    d2 = ((points[:, None, :] - points_on_segments(segs[owner], dense_t)[None, :, :]) ** 2).sum(-1)
    nearest = np.argmin(d2, axis=1)
    if (np.diff(nearest) < 0).any():  # ...in order along the chain, where the nearest are not
        nearest = _ordered_nearest(d2)
    # 2. Newton-Raphson on each point's own segment, then in order again.
    seg = owner[nearest]
    params = np.maximum.accumulate(seg + _closest(points, segs[seg], dense_t[nearest]))
    seg = np.minimum(np.floor(params).astype(np.intp), k - 1)
    error = np.sqrt(((points_on_segments(segs[seg], params - seg) - points) ** 2).sum(1))
    # 3. A few points left off the curve (Newton stalls at cusps) are looked for again, finely,
    #    between their neighbours' places; many such points mean the chain is not this stroke's.
    off = np.flatnonzero(error > 1e-4)
    for i in off if len(off) <= 32 else []:
        lo, hi = params[max(i - 1, 0)], params[min(i + 1, n - 1)]
        where = np.linspace(lo, hi, 65)
        g = np.minimum(np.floor(where).astype(np.intp), k - 1)
        best = int(np.argmin(((points_on_segments(segs[g], where - g) - points[i]) ** 2).sum(1)))
        t = _closest(points[i : i + 1], segs[g[best] : g[best] + 1], where[best : best + 1] - g[best])
        candidate = min(max(g[best] + float(t[0]), lo), hi)
        c = min(int(candidate), k - 1)
        dist = float(np.hypot(*(points_on_segments(segs[c : c + 1], np.array([candidate - c]))[0] - points[i])))
        if dist < error[i]:
            params[i], error[i] = candidate, dist
    return params, float(error.max())


def _reproject(ctrl: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Parameters [n] of the data's nearest points on one cubic, found over the whole curve (in
    order along it) rather than by local steps: a fit stuck with points on the wrong leg of a
    hairpin gets out this way. The ends stay at 0 and 1."""
    dense_t = np.linspace(0.0, 1.0, 257)
    dense = eval_cubic(ctrl[None], dense_t)[0]
    nearest = _ordered_nearest(((data[:, None, :] - dense[None, :, :]) ** 2).sum(-1))
    u = np.maximum.accumulate(_closest(data, np.repeat(ctrl[None], len(data), axis=0), dense_t[nearest]))
    u[0], u[-1] = 0.0, 1.0
    return np.maximum.accumulate(u)


def _ordered_nearest(d2: np.ndarray) -> np.ndarray:
    """Sample indices that never decrease along the points with the least total squared distance
    (dynamic programming over [points, samples])."""
    n, m = d2.shape
    columns = np.arange(m)
    back = np.empty((n, m), np.int32)
    total = d2[0].copy()
    for i in range(1, n):
        best = np.minimum.accumulate(total)
        back[i] = np.maximum.accumulate(np.where(total <= best, columns, 0))
        total = d2[i] + best
    path = np.empty(n, np.intp)
    path[-1] = int(np.argmin(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


# --- a fixed number of segments -------------------------------------------------------------


def with_segment_count(
    points: np.ndarray, ctrl: np.ndarray, params: np.ndarray, cyclic: bool, count: int, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """The chain with exactly `count` segments, and the points' parameters on it.

    Fewer segments are split (de Casteljau): the same curve, no error added. More are merged, the
    neighbours whose refit strays least first, each refit one cubic with free handles between the
    pair's outer ends (C0 there, not necessarily smooth); that adds error, `fit_error` says how
    much."""
    segs = cubic_segments(ctrl, cyclic)
    k = len(segs)
    if k < count:
        segs, params = _subdivide(segs, params, count)
    elif k > count:
        segs, params = _merge(points, segs, params, count, tolerance)
    chain = np.concatenate([segs[0, :1], segs[:, 1:].reshape(-1, 2)])
    return (chain[:-1] if cyclic else chain), params


def _subdivide(segs: np.ndarray, params: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Split segments into equal parameter ranges, longer segments into more pieces, until there
    are `count`; each point keeps its place on the (unchanged) curve."""
    k = len(segs)
    length = np.sqrt((np.diff(segs, axis=1) ** 2).sum(-1)).sum(1) + 1e-9
    pieces = np.ones(k, np.intp)
    for _ in range(count - k):
        pieces[int(np.argmax(length / pieces))] += 1
    seg = np.repeat(np.arange(k), pieces)
    base = np.cumsum(pieces) - pieces
    j = np.arange(count) - base[seg]
    a, b = j / pieces[seg], (j + 1) / pieces[seg]
    parent = segs[seg]
    out = np.stack([_blossom(parent, *ends) for ends in ((a, a, a), (a, a, b), (a, b, b), (b, b, b))], axis=1)
    old = np.minimum(np.floor(params).astype(np.intp), k - 1)
    t = (params - old) * pieces[old]
    piece = np.minimum(np.floor(t).astype(np.intp), pieces[old] - 1)
    return out, base[old] + piece + (t - piece)


def _blossom(segs: np.ndarray, t1: np.ndarray, t2: np.ndarray, t3: np.ndarray) -> np.ndarray:
    """The blossom (polar form) of cubics [n, 4, 2] at (t1, t2, t3): f(a,a,b) etc. are the control
    points of the piece of each cubic between a and b."""
    pts = segs
    for t in (t1, t2, t3):
        w = t[:, None, None]
        pts = pts[:, :-1] * (1.0 - w) + pts[:, 1:] * w
    return pts[:, 0]


def _merge(
    points: np.ndarray, segs: np.ndarray, params: np.ndarray, count: int, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Greedily merge neighbouring segments, the cheapest refit first, until `count` remain. The
    chain's start (a cyclic stroke's seam too) stays a segment end."""
    k = len(segs)
    seg_of = np.minimum(np.floor(params).astype(np.intp), k - 1)
    length = np.sqrt((np.diff(segs, axis=1) ** 2).sum(-1)).sum(1) + 1e-9
    # A group: (control points [4, 2], indices of its points, their t on it, its length).
    groups = [(segs[g], np.flatnonzero(seg_of == g), params[seg_of == g] - g, length[g]) for g in range(k)]

    def merged(run: list) -> tuple[float, tuple]:
        """One cubic for consecutive groups, and how far it strays."""
        lengths = np.array([group[3] for group in run])
        offsets = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        index = np.concatenate([group[1] for group in run])
        along = np.concatenate([o + group[2] * group[3] for o, group in zip(offsets, run)]) / lengths.sum()
        p0, p3 = run[0][0][0], run[-1][0][3]
        data = np.concatenate([p0[None], points[index], p3[None]])
        # Start from where the points were on the segments, then from chord lengths; a fit still
        # off is refitted from the points' nearest places on the whole curve, a few times (it may
        # be stuck with points on the wrong leg of a hairpin).
        best = None
        for u in (np.concatenate([[0.0], np.maximum.accumulate(np.clip(along, 0.0, 1.0)), [1.0]]), None):
            if u is None:
                if best[2] <= tolerance:
                    break
                u = _chord_parameters(data)
            fit = _fit_one(data, u, p0, p3, None, None, tolerance, _MERGE_STEPS, persist=True)
            if best is None or fit[2] < best[2]:
                best = fit
        for _ in range(3):
            if best[2] <= tolerance:
                break
            u = _reproject(best[0], data)
            fit = _fit_one(data, u, p0, p3, None, None, tolerance, _MERGE_STEPS, persist=True)
            improved = fit[2] < best[2] * 0.9
            best = fit if fit[2] < best[2] else best
            if not improved:
                break
        ctrl, u, err, _ = best
        return err, (ctrl, index, u[1:-1], float(lengths.sum()))

    candidates = [merged(groups[g : g + 2]) for g in range(len(groups) - 1)] if len(groups) > count else []
    while len(groups) > count:
        g = min(range(len(candidates)), key=lambda i: candidates[i][0])
        groups[g : g + 2] = [candidates[g][1]]
        del candidates[g]
        if g > 0:
            candidates[g - 1] = merged(groups[g - 1 : g + 1])
        if g < len(groups) - 1:
            candidates[g] = merged(groups[g : g + 2])
    out = np.stack([group[0] for group in groups])
    new = np.empty_like(params)
    for g, (_, index, t, _) in enumerate(groups):
        new[index] = g + t
    return out, np.maximum.accumulate(new)
