"""Cubic Bezier segments: a chain's segments, points on them, a point's distance to a chord.

One evaluator for every room that turns control points into points (SVG sampling in codec.svg,
the rasterizer in render, curve fitting and the padded chains in strokes).
"""

from __future__ import annotations

import numpy as np


def cubic_segments(bezier: np.ndarray, cyclic: bool) -> np.ndarray:
    """Control points [3K+1, 2] (or [3K, 2] cyclic) -> per-segment control points [K, 4, 2]."""
    ctrl = np.asarray(bezier, np.float64)
    if cyclic:
        ctrl = np.concatenate([ctrl, ctrl[:1]])
    k = (len(ctrl) - 1) // 3
    if k < 1 or len(ctrl) != 3 * k + 1:
        raise ValueError(f"bezier: {len(bezier)} control points is not 3K+1 (3K when cyclic)")
    idx = 3 * np.arange(k)[:, None] + np.arange(4)[None, :]
    return ctrl[idx]


def eval_cubic(segments: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points of cubic segments [K, 4, 2] at parameters t: [K, M] (or [M], shared) -> [K, M, 2]."""
    t = np.broadcast_to(np.asarray(t, np.float64), (len(segments),) + np.shape(t)[-1:])[..., None]
    s = 1 - t
    p0, p1, p2, p3 = (segments[:, i, None, :] for i in range(4))
    return s**3 * p0 + 3 * s * s * t * p1 + 3 * s * t * t * p2 + t**3 * p3


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points p [..., 2] to segments a-b [..., 2] (broadcasting)."""
    ab = b - a
    denom = np.maximum((ab * ab).sum(-1), 1e-18)
    u = np.clip(((p - a) * ab).sum(-1) / denom, 0.0, 1.0)
    return np.linalg.norm(p - (a + u[..., None] * ab), axis=-1)
