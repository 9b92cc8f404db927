"""Stroke geometry the pipelines share: arc-length resampling, optimal assignment, similarity fits.

- One stroke: `cumulative_length`, `arc_length_parameter`, `sample_at`, `resample`,
  `prefix_parameter`.
- Many strokes at once: `Polylines`, the same vectorised across strokes (flat arrays, no loop).
- `linear_assignment`: an optimal assignment for a rectangular cost matrix (Jonker-Volgenant).
- `Similarity`, `fit_similarity`, `fit_similarities`: rotation, uniform scale and translation
  between corresponding point sets (Umeyama 1991 in 2-D, with Horn's symmetric scale).

numpy only and vectorised over points. Functions take anything array-like, compute in float64 and
return float64 arrays; the caller casts to the codec's float32 when it builds a `Stroke`.

A stroke's points are addressed by a *fractional vertex index* `u`: `u = 2.25` lies a quarter of
the way from vertex 2 to vertex 3 (for a cyclic stroke, `u` in `[N-1, N)` lies on the closing
segment back to vertex 0). `arc_length_parameter` and `prefix_parameter` produce such indices and
`sample_at` reads any per-point attribute (positions, radii, opacities, colours) at them, so every
attribute of a stroke is resampled the same way as its points.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

_EPS = 1e-12


def _segment_lengths(points: np.ndarray) -> np.ndarray:
    """Length of each segment of a polyline [N, 2] -> [N - 1] (written out: np.hypot and a sum
    over the last axis are several times slower on [N, 2] arrays)."""
    if len(points) < 2:
        return np.zeros(0)
    d = np.diff(points, axis=0)
    d *= d
    return np.sqrt(d[:, 0] + d[:, 1])


def _rows(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[index] along the first axis (np.take is much faster than fancy indexing on [N, k])."""
    return np.take(values, index, axis=0)


def cumulative_length(points, cyclic: bool = False) -> np.ndarray:
    """Arc length from the first vertex to each vertex: [N], or [N+1] when cyclic (the last entry
    is the length of the closed loop, back at vertex 0)."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) and cyclic:
        pts = np.concatenate([pts, pts[:1]])
    if len(pts) < 2:
        return np.zeros(len(pts))
    seg = _segment_lengths(pts)
    return np.concatenate([[0.0], np.cumsum(seg)])


def _parameter_at_lengths(cum: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Fractional vertex indices where the cumulative length `cum` reaches each of `targets`."""
    nseg = len(cum) - 1
    idx = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, nseg - 1)
    seg = cum[idx + 1] - cum[idx]
    frac = np.divide(targets - cum[idx], seg, out=np.zeros_like(targets), where=seg > _EPS)
    return idx + np.clip(frac, 0.0, 1.0)


def arc_length_parameter(points, n: int, cyclic: bool = False) -> np.ndarray:
    """Fractional vertex indices [n] of `n` points spaced evenly by arc length.

    Open strokes keep both ends (`u[0] = 0`, `u[-1] = N - 1`). Cyclic strokes are sampled around
    the closed loop from vertex 0 with spacing `length / n`, without repeating vertex 0 at the end.
    A stroke of zero length (one point, or all points equal) is spaced evenly by index instead, so
    its attributes still resample sensibly.
    """
    count = len(points)
    if n < 1:
        raise ValueError(f"n: {n} is under the minimum of 1")
    if count == 0:
        raise ValueError("points: cannot resample an empty stroke")
    cum = cumulative_length(points, cyclic)
    total = cum[-1] if len(cum) else 0.0
    if count == 1:
        return np.zeros(n)
    if total <= _EPS:
        return np.arange(n) * (count / n) if cyclic else np.linspace(0.0, count - 1, n)
    targets = np.arange(n) * (total / n) if cyclic else np.linspace(0.0, total, n)
    return _parameter_at_lengths(cum, targets)


def sample_at(values, u, cyclic: bool = False) -> np.ndarray:
    """Per-point `values` [N, ...] linearly interpolated at fractional vertex indices `u` [n]."""
    vals = np.asarray(values, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    count = len(vals)
    if count == 1:
        return np.repeat(vals, len(u), axis=0)
    i0 = np.floor(u).astype(np.intp)
    if cyclic:
        i0 %= count
        i1 = (i0 + 1) % count
    else:
        i0 = np.clip(i0, 0, count - 2)
        i1 = i0 + 1
    w = (u - np.floor(u)) if cyclic else (u - i0)
    w = w.reshape((-1,) + (1,) * (vals.ndim - 1))
    return _rows(vals, i0) * (1.0 - w) + _rows(vals, i1) * w


def resample(points, n: int, cyclic: bool = False) -> np.ndarray:
    """`n` points [n, 2] spaced evenly by arc length along a polyline (see `arc_length_parameter`;
    resample the stroke's other attributes with `sample_at` at that same parameter)."""
    return sample_at(points, arc_length_parameter(points, n, cyclic), cyclic)


def prefix_parameter(points, fraction: float, cyclic: bool = False, *, cumulative=None) -> np.ndarray:
    """Fractional vertex indices of the part of a stroke from its start to `fraction` of its arc
    length: every whole vertex before the cut, then the cut itself.

    Used to draw a stroke on (or erase it) along its length. The result always has at least two
    entries, so the part is a (possibly zero-length) polyline; for a cyclic stroke the closing
    segment counts, and the part is open. Cutting one stroke many times, pass its
    `cumulative_length(points, cyclic)` as `cumulative`.
    """
    count = len(points)
    if count == 0:
        raise ValueError("points: cannot cut an empty stroke")
    cum = cumulative_length(points, cyclic) if cumulative is None else np.asarray(cumulative, np.float64)
    if count == 1 or cum[-1] <= _EPS:
        return np.zeros(2)
    target = min(max(float(fraction), 0.0), 1.0) * float(cum[-1])
    idx = min(max(int(np.searchsorted(cum, target, side="right")) - 1, 0), len(cum) - 2)
    seg = float(cum[idx + 1] - cum[idx])
    cut = idx + (min(max((target - float(cum[idx])) / seg, 0.0), 1.0) if seg > _EPS else 0.0)
    whole = np.arange(int(cut) + 1, dtype=np.float64)
    if cut > whole[-1] or len(whole) == 1:
        whole = np.append(whole, cut)
    return whole


@dataclass(frozen=True)
class Polylines:
    """Many strokes in flat arrays, for work vectorised across strokes as well as points: stroke
    k's vertices are `points[starts[k] : starts[k] + sizes[k]]`, every stroke has at least one.

    Per-stroke sample counts `n` and fractional vertex indices `u` are laid out the same way: the
    first `n[0]` entries of `u` belong to stroke 0, and so on.
    """

    points: np.ndarray  # float64 [T, 2]
    sizes: np.ndarray  # intp [S]
    cyclic: np.ndarray  # bool [S]

    @classmethod
    def of(cls, points: list, cyclic: list | None = None) -> "Polylines":
        sizes = np.array([len(p) for p in points], dtype=np.intp)
        if (sizes < 1).any():
            raise ValueError("points: every stroke needs at least one point")
        arrays = [np.asarray(p, np.float64).reshape(-1, 2) for p in points]
        flat = np.concatenate(arrays) if arrays else np.zeros((0, 2))
        flags = np.zeros(len(sizes), bool) if cyclic is None else np.asarray(cyclic, bool).reshape(len(sizes))
        return cls(flat, sizes, flags)

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.intp)

    @cached_property
    def _extended(self):
        """Vertices with each cyclic stroke's first vertex repeated at its end, and the arc length
        along them (the step from one stroke to the next counts as zero)."""
        ext_sizes = self.sizes + self.cyclic
        ext_starts = np.concatenate([[0], np.cumsum(ext_sizes)[:-1]]).astype(np.intp)
        owner = np.repeat(np.arange(len(ext_sizes)), ext_sizes)
        local = np.arange(int(ext_sizes.sum())) - ext_starts[owner]
        ext = _rows(self.points, self.starts[owner] + local % self.sizes[owner])
        seg = _segment_lengths(ext)
        seg[ext_starts[1:] - 1] = 0.0
        cum = np.concatenate([[0.0], np.cumsum(seg), [np.inf]])  # the sentinel keeps idx + 1 in range
        return ext_sizes, ext_starts, cum

    def lengths(self) -> np.ndarray:
        """Arc length of every stroke [S] (closing segment included when cyclic)."""
        ext_sizes, ext_starts, cum = self._extended
        return cum[ext_starts + ext_sizes - 1] - cum[ext_starts]

    def arc_length_parameter(self, n) -> np.ndarray:
        """`arc_length_parameter` of every stroke at once: `n` (one count, or one per stroke)
        evenly spaced samples each, [sum(n)]."""
        n = np.broadcast_to(np.asarray(n, dtype=np.intp), (len(self.sizes),))
        owner = np.repeat(np.arange(len(n)), n)
        k = np.arange(len(owner)) - np.repeat(np.concatenate([[0], np.cumsum(n)[:-1]]), n).astype(np.intp)
        spans = np.maximum(np.where(self.cyclic, n, n - 1), 1)
        return self.parameter_at(k / spans[owner], n)

    def parameter_at(self, fractions, n) -> np.ndarray:
        """Fractional vertex indices [sum(n)] where each stroke reaches the given fractions of its
        arc length (`n` fractions per stroke, in [0, 1]; a cyclic stroke's 1 is back at vertex 0).
        A stroke of no length is addressed by index instead."""
        count = len(self.sizes)
        n = np.broadcast_to(np.asarray(n, dtype=np.intp), (count,))
        fractions = np.asarray(fractions, dtype=np.float64)
        if count == 0 or len(fractions) == 0:
            return np.zeros(len(fractions))
        ext_sizes, ext_starts, cum = self._extended
        base = cum[ext_starts]
        total = cum[ext_starts + ext_sizes - 1] - base
        owner = np.repeat(np.arange(count), n)
        target = fractions * total[owner] + base[owner]
        lo = ext_starts[owner]
        hi = np.maximum(lo + ext_sizes[owner] - 2, lo)
        idx = np.clip(np.searchsorted(cum, target, side="right") - 1, lo, hi)
        seg = cum[idx + 1] - cum[idx]
        ok = (seg > _EPS) & np.isfinite(seg)
        frac = np.divide(target - cum[idx], seg, out=np.zeros_like(target), where=ok)
        u = idx - lo + np.clip(frac, 0.0, 1.0)
        flat = (total <= _EPS)[owner]
        if flat.any():
            sizes = self.sizes[owner]
            by_index = fractions * np.where(self.cyclic[owner], sizes, sizes - 1)
            u = np.where(flat, np.where(sizes == 1, 0.0, by_index), u)
        return u

    def vertex_fractions(self) -> np.ndarray:
        """The fraction of its stroke's arc length at which each vertex lies, [T] (by index for a
        stroke of no length)."""
        ext_sizes, ext_starts, cum = self._extended
        owner = np.repeat(np.arange(len(self.sizes)), self.sizes)
        local = np.arange(len(owner)) - self.starts[owner]
        base = cum[ext_starts]
        total = (cum[ext_starts + ext_sizes - 1] - base)[owner]
        along = cum[ext_starts[owner] + local] - base[owner]
        spans = np.maximum(np.where(self.cyclic, self.sizes, self.sizes - 1), 1)[owner]
        return np.where(total > _EPS, along / np.where(total > _EPS, total, 1.0), local / spans)

    def sample_at(self, values, u, n) -> np.ndarray:
        """Per-vertex `values` [T, ...] linearly interpolated at each stroke's fractional vertex
        indices `u` [sum(n)] (`n` samples per stroke), as `sample_at` does for one."""
        return self.sampler(u, n)(values)

    def sampler(self, u, n):
        """`sample_at` for several attributes at the same `u`: the indices are worked out once,
        and the function returned reads any per-vertex values [T, ...] there."""
        u = np.asarray(u, dtype=np.float64)
        n = np.broadcast_to(np.asarray(n, dtype=np.intp), (len(self.sizes),))
        owner = np.repeat(np.arange(len(self.sizes)), n)
        size, start, cyc = self.sizes[owner], self.starts[owner], self.cyclic[owner]
        whole = np.floor(u)
        i0 = whole.astype(np.intp)
        open_i0 = np.clip(i0, 0, np.maximum(size - 2, 0))
        first = np.where(cyc, i0 % size, open_i0)
        second = start + np.where(cyc, (first + 1) % size, np.minimum(open_i0 + 1, size - 1))
        first += start
        w = np.where(cyc, u - whole, u - open_i0)

        def read(values) -> np.ndarray:
            vals = np.asarray(values, dtype=np.float64)
            weight = w.reshape((-1,) + (1,) * (vals.ndim - 1))
            return _rows(vals, first) * (1.0 - weight) + _rows(vals, second) * weight

        return read

    def resample(self, n) -> np.ndarray:
        """Every stroke resampled by arc length to `n` points (one count, or one per stroke),
        one after another: [sum(n), 2]."""
        return self.sample_at(self.points, self.arc_length_parameter(n), n)


def linear_assignment(cost) -> tuple[np.ndarray, np.ndarray]:
    """An optimal assignment for a rectangular cost matrix [n, m]: `min(n, m)` pairs
    `(rows[k], cols[k])`, no row or column used twice, with the least total cost.

    Shortest augmenting paths with potentials (the Hungarian method in the form of Jonker and
    Volgenant, 1987), O(n^2 m); the scan over columns is vectorised. Rows come back in ascending
    order. Costs must be finite.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost: expected a 2-D matrix, got shape {list(c.shape)}")
    if c.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    if not np.isfinite(c).all():
        raise ValueError("cost: contains NaN or infinite values")
    transposed = c.shape[0] > c.shape[1]
    if transposed:
        c = c.T
    n, m = c.shape
    # Column 0 is a virtual column that holds the row being inserted; columns 1..m are real.
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)  # stays 0 on columns never assigned, as a rectangular optimum needs
    owner = np.zeros(m + 1, np.intp)  # row (1-based) assigned to each column, 0: free
    way = np.zeros(m + 1, np.intp)  # previous column on the shortest path
    # Start from each row's cheapest column where no other row took it first: with u = the row
    # minima these edges are tight and the potentials feasible, and near-diagonal costs (matching
    # strokes of similar keys) leave few rows for the augmenting paths.
    u[1:] = c.min(axis=1)
    waiting = []
    for row, col in enumerate(np.argmin(c, axis=1).tolist(), start=1):
        if owner[col + 1] == 0:
            owner[col + 1] = row
        else:
            waiting.append(row)
    for row in waiting:
        owner[0] = row
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = ~used
            reduced = c[i0 - 1] - u[i0] - v[1:]
            better = free[1:] & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free[1:], minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            minv[free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # flip the augmenting path
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.nonzero(owner[1:])[0]
    rows = owner[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order].astype(np.intp), cols[order].astype(np.intp)


def wrap_angle(angle):
    """Angle(s) in radians wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi


@dataclass(frozen=True)
class Similarity:
    """A 2-D similarity transform `x -> scale * R(angle) @ x + translation`, angle in radians
    (counter-clockwise in a y-up frame; on a y-down canvas it turns clockwise on screen)."""

    angle: float
    scale: float
    translation: np.ndarray  # [2]

    @property
    def matrix(self) -> np.ndarray:
        """The linear part `scale * R(angle)`, [2, 2]."""
        c, s = np.cos(self.angle) * self.scale, np.sin(self.angle) * self.scale
        return np.array([[c, -s], [s, c]])

    def apply(self, points) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ self.matrix.T + self.translation

    def inverse(self) -> "Similarity":
        inv = Similarity(-self.angle, 1.0 / self.scale, np.zeros(2))
        return Similarity(inv.angle, inv.scale, -inv.apply(self.translation))


def fit_similarity(source, target, weights=None, *, scale: str = "rms") -> Similarity:
    """The similarity that best maps corresponding points `source` [N, 2] onto `target` [N, 2].

    Rotation and translation are the least-squares ones (Umeyama 1991, in 2-D: the rotation is the
    argument of sum_i w_i conj(a_i) b_i over the centred points as complex numbers, so it is always
    a proper rotation, never a reflection). `scale="rms"` (default) takes the ratio of the point
    sets' RMS radii, the symmetric estimate of Horn (1987): it does not shrink towards 0 when the
    shapes differ, which matters when the scale is interpolated. `scale="least-squares"` gives
    Umeyama's estimate. A source with no extent has no defined rotation or scale: angle 0,
    scale 1, and the translation moves its centroid onto the target's.
    """
    a = np.asarray(source, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 2 or len(a) == 0:
        raise ValueError(f"source, target: expected two [N, 2] arrays, got {list(a.shape)} and {list(b.shape)}")
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(a),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights: expected one non-negative weight per point, not all zero")
    angle, s, translation = fit_similarities(a, b, np.array([len(a)]), w, scale=scale)
    return Similarity(float(angle[0]), float(s[0]), translation[0])


def fit_similarities(source, target, sizes, weights=None, *, scale: str = "rms"):
    """`fit_similarity` for many point sets at once: `source` and `target` [T, 2] hold them one
    after another, `sizes` [S] says how many points each has (each at least one).

    Returns angle [S], scale [S] and translation [S, 2] arrays.
    """
    a = np.asarray(source, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.intp)
    if scale not in ("rms", "least-squares"):
        raise ValueError(f"scale: {scale!r} is not one of 'rms', 'least-squares'")
    if (sizes < 1).any() or sizes.sum() != len(a) or a.shape != b.shape:
        raise ValueError("sizes: expected one positive count per point set, adding up to the points given")
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    total = np.add.reduceat(w, starts)
    total = np.where(total > 0, total, 1.0)

    def mean(values):
        return np.add.reduceat(values * w.reshape((-1,) + (1,) * (values.ndim - 1)), starts) / (
            total.reshape((-1,) + (1,) * (values.ndim - 1))
        )

    ca, cb = mean(a), mean(b)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    za = (a - _rows(ca, owner)) @ np.array([1.0, 1j])
    zb = (b - _rows(cb, owner)) @ np.array([1.0, 1j])
    var_a = mean(za.real**2 + za.imag**2)
    var_b = mean(zb.real**2 + zb.imag**2)
    corr = mean(np.conj(za) * zb)
    flat = var_a <= _EPS
    angle = np.where(flat | (np.abs(corr) <= _EPS), 0.0, np.angle(corr))
    safe = np.where(flat, 1.0, var_a)
    s = np.sqrt(var_b / safe) if scale == "rms" else np.abs(corr) / safe
    s = np.where(flat, 1.0, s)
    cos, sin = np.cos(angle) * s, np.sin(angle) * s
    translation = cb - np.stack([cos * ca[:, 0] - sin * ca[:, 1], sin * ca[:, 0] + cos * ca[:, 1]], axis=1)
    return angle, s, translation
