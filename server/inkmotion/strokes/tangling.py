"""How tangled a vector drawing is: its strokes' self-intersections and their crossings.

Why: inbetweens of line art tend to "tangle" on the way between the keys. A stroke matched to
the wrong partner, or turned the wrong way round, or a pair whose points are paired off out of
order, sweeps across its neighbours or folds over itself in the middle frames, though neither key
does. A good inbetween has no more crossings than its keys: lines that cross in both keys may
cross in between (a limb in front of the body), but lines that are apart in both keys should
stay apart, and a stroke that is simple in both keys should stay simple. So the count to watch
is the *excess* of a middle frame over its keys (`tangle_excess`), not the count itself.

What is counted (`tangling`), on the strokes' polylines (points as drawn, in canvas px; widths,
opacities and Bezier handles are ignored, so a faded-out stroke still counts):
- a stroke's segments are its consecutive points, plus the closing segment (last -> first) of a
  cyclic stroke with 3 points or more. Repeated consecutive points are merged first, so
  zero-length segments are ignored; strokes left with fewer than 2 points (dots) have none;
- two segments *cross* when they meet in one point inside both: each one's end points lie
  strictly on opposite sides of the other's line. Touching is not crossing: an end point lying on
  the other segment (a T-junction, two strokes meeting end to end, consecutive segments sharing
  their point) and collinear overlap are not counted. (With floating-point inputs a line passing
  exactly through another polyline's vertex is the one crossing this misses; it takes an exact
  coincidence.)
- `self_intersections`: pairs of crossing segments of the same stroke, non-adjacent ones only
  (adjacent: consecutive, and for cyclic strokes also the first and the closing segment). A
  figure-eight has 1, a simple polygon 0;
- `crossings`: pairs of crossing segments of different strokes, i.e. crossing points between
  strokes. An X of two strokes has 1.

Speed: all segments of the drawing are bucketed in a uniform grid (cell: twice the median
segment's extent, coarser where long segments would cover too many cells); only pairs sharing a cell are tested,
each pair once (in the cell holding the low corner of the overlap of their bounding boxes), with
a bounding-box check and the orientation test vectorised over the candidate pairs (float64). A
drawing of 200 strokes x 100 points takes a few tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from inkmotion.codec.drawing import Drawing

# Candidate pairs tested at once (bounds memory when many segments share a few cells).
_CHUNK = 2_000_000
_MAX_ENTRIES = 1 << 20  # (segment, cell) entries allowed beyond 16 a segment before the grid is made coarser


@dataclass(frozen=True)
class Tangling:
    """The crossings of one drawing (see the module's docstring for what counts)."""

    self_intersections: int  # crossing pairs of non-adjacent segments of one stroke
    crossings: int  # crossing pairs of segments of two different strokes
    strokes: int  # strokes with at least one segment
    segments: int  # segments tested (zero-length ones merged away)

    @property
    def total(self) -> int:
        return self.self_intersections + self.crossings


# -- segments --------------------------------------------------------------------------------------

@dataclass
class _Segments:
    a: np.ndarray  # float64 [S, 2]
    b: np.ndarray  # float64 [S, 2]
    stroke: np.ndarray  # int [S]: which stroke (numbered among the strokes with segments)
    index: np.ndarray  # int [S]: its place along the stroke
    count: np.ndarray  # int [S]: its stroke's number of segments
    cyclic: np.ndarray  # bool [S]: its stroke has a closing segment
    strokes: int


def _segments(drawing: Drawing) -> _Segments:
    starts, ends, strokes, index, count, cyclic = [], [], [], [], [], []
    k = 0
    for stroke in drawing.strokes:
        pts = np.asarray(stroke.points, np.float64).reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) > 1:  # merge repeated consecutive points: no zero-length segments
            pts = pts[np.r_[True, (pts[1:] != pts[:-1]).any(axis=1)]]
        closed = bool(stroke.cyclic) and len(pts) >= 3
        if closed and (pts[-1] == pts[0]).all():  # a closed stroke that repeats its first point
            pts = pts[:-1]
            closed = len(pts) >= 3
        if len(pts) < 2:
            continue
        a = pts
        b = np.roll(pts, -1, axis=0)
        if not closed:
            a, b = a[:-1], b[:-1]
        n = len(a)
        starts.append(a)
        ends.append(b)
        strokes.append(np.full(n, k))
        index.append(np.arange(n))
        count.append(np.full(n, n))
        cyclic.append(np.full(n, closed))
        k += 1
    if not starts:
        empty = np.zeros((0, 2))
        none = np.zeros(0, np.int64)
        return _Segments(empty, empty, none, none, none, np.zeros(0, bool), 0)
    return _Segments(np.concatenate(starts), np.concatenate(ends), np.concatenate(strokes),
                     np.concatenate(index), np.concatenate(count), np.concatenate(cyclic), k)


def _orient(o: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Twice the signed area of (o, p, q): > 0 one way round, < 0 the other, 0 collinear."""
    return (p[:, 0] - o[:, 0]) * (q[:, 1] - o[:, 1]) - (p[:, 1] - o[:, 1]) * (q[:, 0] - o[:, 0])


def proper_crossings(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """bool [N]: whether segment a1-b1 crosses segment a2-b2 in a point inside both (each one's end
    points strictly on opposite sides of the other's line), for arrays of segments [N, 2]."""
    d1 = _orient(a2, b2, a1)
    d2 = _orient(a2, b2, b1)
    d3 = _orient(a1, b1, a2)
    d4 = _orient(a1, b1, b2)
    return (((d1 > 0) & (d2 < 0)) | ((d1 < 0) & (d2 > 0))) & (((d3 > 0) & (d4 < 0)) | ((d3 < 0) & (d4 > 0)))


def _adjacent(seg: _Segments, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """bool: segments i and j (of the same stroke) are neighbours along it."""
    gap = np.abs(seg.index[i] - seg.index[j])
    return (gap == 1) | (seg.cyclic[i] & (gap == seg.count[i] - 1))


# -- candidate pairs -------------------------------------------------------------------------------

def _candidate_pairs(lo: np.ndarray, hi: np.ndarray):
    """Chunks (i, j) of segment pairs (each unordered pair once, in no particular order) whose bounding
    boxes [lo, hi] overlap, found through a uniform grid."""
    n = len(lo)
    if n < 2:
        return
    extent = hi - lo
    span = np.maximum(hi.max(axis=0) - lo.min(axis=0), 1e-9)
    cell = max(2.0 * float(np.median(extent.max(axis=1))), float(span.max()) / 1024, 1e-9)
    origin = lo.min(axis=0)
    while True:  # coarser while long segments' boxes would cover too many cells
        c_lo = np.floor((lo - origin) / cell).astype(np.int64)
        c_hi = np.floor((hi - origin) / cell).astype(np.int64)
        per = (c_hi[:, 0] - c_lo[:, 0] + 1) * (c_hi[:, 1] - c_lo[:, 1] + 1)
        if per.sum() <= max(16 * n, _MAX_ENTRIES):
            break
        cell *= 2
    columns = int(c_hi[:, 0].max()) + 1
    nx = c_hi[:, 0] - c_lo[:, 0] + 1
    # every (segment, cell) its box covers
    owner = np.repeat(np.arange(n), per)
    local = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    cx = c_lo[owner, 0] + local % nx[owner]
    cy = c_lo[owner, 1] + local // nx[owner]
    cell_id = cy * columns + cx
    order = np.argsort(cell_id, kind="stable")
    owner, cell_id = owner[order], cell_id[order]
    cx, cy = cx[order], cy[order]
    # within each cell, each entry with every later one
    first = np.r_[0, np.flatnonzero(np.diff(cell_id)) + 1]
    size = np.diff(np.r_[first, len(cell_id)])
    group_start = np.repeat(first, size)
    position = np.arange(len(cell_id)) - group_start
    later = np.repeat(size, size) - 1 - position  # partners after this entry in its cell
    total = np.cumsum(later)
    begin = 0
    while begin < len(later):
        # entries [begin, stop) give at most ~_CHUNK pairs (one entry's partners are never split)
        base = total[begin - 1] if begin else 0
        stop = int(np.searchsorted(total, base + _CHUNK, side="right"))
        stop = max(stop, begin + 1)
        k = later[begin:stop]
        if k.sum():
            src = np.repeat(np.arange(begin, stop), k)
            offset = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
            dst = src + 1 + offset
            i, j = owner[src], owner[dst]
            # the boxes overlap, and this cell holds the overlap's low corner (each pair once)
            overlap_lo = np.maximum(lo[i], lo[j])
            keep = (overlap_lo <= np.minimum(hi[i], hi[j])).all(axis=1)
            corner = np.floor((overlap_lo - origin) / cell).astype(np.int64)
            keep &= (np.minimum(corner[:, 0], c_hi[i, 0]) == cx[src]) & (np.minimum(corner[:, 1], c_hi[i, 1]) == cy[src])
            if keep.any():
                yield i[keep], j[keep]
        begin = stop


# -- the measure -----------------------------------------------------------------------------------

def tangling(drawing: Drawing) -> Tangling:
    """The self-intersections of the drawing's strokes and the crossings between them."""
    seg = _segments(drawing)
    lo = np.minimum(seg.a, seg.b)
    hi = np.maximum(seg.a, seg.b)
    same_count = other_count = 0
    for i, j in _candidate_pairs(lo, hi):
        cross = proper_crossings(seg.a[i], seg.b[i], seg.a[j], seg.b[j])
        same = seg.stroke[i] == seg.stroke[j]
        cross &= ~(same & _adjacent(seg, i, j))
        same_count += int((cross & same).sum())
        other_count += int((cross & ~same).sum())
    return Tangling(self_intersections=same_count, crossings=other_count, strokes=seg.strokes, segments=len(seg.a))


def tangling_brute_force(drawing: Drawing) -> Tangling:
    """`tangling` by testing every pair of segments (O(n^2)): the reference for the fast one."""
    seg = _segments(drawing)
    n = len(seg.a)
    i, j = np.triu_indices(n, 1)
    cross = proper_crossings(seg.a[i], seg.b[i], seg.a[j], seg.b[j])
    same = seg.stroke[i] == seg.stroke[j]
    cross &= ~(same & _adjacent(seg, i, j))
    return Tangling(int((cross & same).sum()), int((cross & ~same).sum()), seg.strokes, n)


BASELINES = ("max", "linear")


def tangle_excess(frames: list[Drawing], baseline: str = "max") -> dict:
    """The tangling of an inbetween sequence (keys first and last) against its keys.

    For each frame strictly between the keys: its self-intersections and crossings, and its
    excess over the keys, max(0, count - base). `baseline` "max" (the default): base = the larger
    of the two keys' counts, so a middle frame is only charged for crossings that neither key has
    as many of (crossings that come and go between the keys are free, up to the busier key's
    count); "linear": base = the keys' counts interpolated at the frame's time i / (F - 1), which
    also charges a frame that keeps the busier key's crossings too long.

    Returns {"keys": {"start": {...}, "end": {...}} (each Tangling as a dict), "frames": [{...,
    "excess_self_intersections", "excess_crossings"} per middle frame], and the summaries
    "mean_excess_self_intersections", "mean_excess_crossings", "max_excess" (the largest excess
    of any middle frame, both counts together), "tangled_frames" (middle frames with any excess)}.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline: {baseline!r} is not one of {BASELINES}")
    if len(frames) < 2:
        raise ValueError(f"frames: {len(frames)} drawings, need the two keys at least")
    start, end = tangling(frames[0]), tangling(frames[-1])
    last = len(frames) - 1
    rows = []
    for i, drawing in enumerate(frames[1:-1], start=1):
        t = tangling(drawing)
        row = asdict(t)
        for name in ("self_intersections", "crossings"):
            a, b = getattr(start, name), getattr(end, name)
            base = max(a, b) if baseline == "max" else a + (b - a) * i / last
            row[f"excess_{name}"] = float(max(0.0, getattr(t, name) - base))
        rows.append(row)

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows])) if rows else 0.0

    excess = [r["excess_self_intersections"] + r["excess_crossings"] for r in rows]
    return {
        "baseline": baseline,
        "keys": {"start": asdict(start), "end": asdict(end)},
        "frames": rows,
        "mean_self_intersections": mean("self_intersections"),
        "mean_crossings": mean("crossings"),
        "mean_excess_self_intersections": mean("excess_self_intersections"),
        "mean_excess_crossings": mean("excess_crossings"),
        "max_excess": float(max(excess)) if excess else 0.0,
        "tangled_frames": int(sum(e > 0 for e in excess)),
    }
