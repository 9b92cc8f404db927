"""Cubic Bezier segments: the one evaluator, a chain's segments, a point's distance to a chord.

Every room that turns control points into points goes through `bernstein`: SVG sampling
(codec.svg), the rasterizer's polylines (render), curve fitting and the padded chains (strokes), so
none can drift from the others. It is plain arithmetic on its argument, so it takes numpy arrays
and torch tensors alike (gradients flow through it); only stacking the four weights is the
library's own. torch is never imported here: a tensor brings it.
"""

from __future__ import annotations

import sys

import numpy as np


def bernstein(t):
    """The cubic Bernstein weights at t: [..., 4] for t [...], a numpy array or a torch tensor:
    (1-t)^3, 3(1-t)^2 t, 3(1-t) t^2, t^3. A cubic with control points [4, 2] is at
    `bernstein(t) @ ctrl`."""
    s = 1 - t
    weights = (s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(t, torch.Tensor):
        return torch.stack(weights, dim=-1)
    return np.stack(weights, axis=-1)


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
    t = np.broadcast_to(np.asarray(t, np.float64), (len(segments),) + np.shape(t)[-1:])
    w = bernstein(t)[..., None]  # [K, M, 4, 1]
    p0, p1, p2, p3 = (segments[:, i, None, :] for i in range(4))
    return w[:, :, 0] * p0 + w[:, :, 1] * p1 + w[:, :, 2] * p2 + w[:, :, 3] * p3


def points_on_segments(segments: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Each cubic segment [n, 4, 2] at its own parameter t [n] -> [n, 2]."""
    return eval_cubic(segments, np.asarray(t, np.float64)[:, None])[:, 0]


def point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points p [..., 2] to segments a-b [..., 2] (broadcasting)."""
    ab = b - a
    denom = np.maximum((ab * ab).sum(-1), 1e-18)
    u = np.clip(((p - a) * ab).sum(-1) / denom, 0.0, 1.0)
    return np.linalg.norm(p - (a + u[..., None] * ab), axis=-1)
