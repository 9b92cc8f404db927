"""Grease Pencil strokes <-> cubic Bezier chains, padded into tensors for the optimising pipelines.

Grease Pencil strokes are dense polylines with a radius, an opacity and a colour per point; methods
such as Live-Sketch optimise the control points of cubic Bezier strokes ("a set of strokes (cubic
Bezier curves) parameterized by their control points", Live-Sketch section 1). This room turns one
into the other and back, without losing a point's attributes on the way:

- `to_parameters` fits every stroke of a drawing (`strokes.fitting`; or takes the stroke's own
  `bezier` when it already fits its points) and pads the chains into one tensor for the optimiser;
  `uniform_segments=k` gives every stroke exactly k segments, as a batched optimiser likes.
- `points_on_chain` evaluates every original point on (moved) control points, in torch, so
  gradients reach the control points; a leading frame axis is allowed.
- `from_parameters` turns (moved) control points back into Grease Pencil strokes: the points are
  the chain at the original points' parameters, and radii, opacities, colours, `cyclic` and the
  material are the original ones, unchanged. `point_offsets` gives just the points' displacements
  for control point displacements (to move the artist's own points, whatever else moved them).

A point keeps its parameter for good, so a point between two others stays between them however the
control points move, and a stroke keeps its point count. Bezier curves are affine invariant: moving
the control points by an affine map moves every point by the same map.

The padded layout: stroke s has `segment_counts[s] = K` cubic segments, its control points are
`control_points[s, :3K+1]` (point 3K is the end of the last segment; for a cyclic stroke it is a
copy of point 0, which the evaluation reads instead, so `control_mask` leaves it out). Entries
past that repeat the stroke's last point (for cyclic strokes its first), so the padded tail is a
run of zero-length segments and a renderer that draws all P points of a row draws the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from inkmotion.codec.drawing import Drawing
from inkmotion.strokes.bezier import bernstein, cubic_segments, points_on_segments
from inkmotion.strokes.fitting import TOLERANCE, fit_cubics, place_on_chain, with_segment_count


@dataclass
class StrokeParameters:
    """Every stroke of a drawing as a chain of cubic Bezier segments, padded for batched work.

    Stroke s has `segment_counts[s] = K` segments with control points `control_points[s, :3K+1]`
    (a cyclic stroke reads point 0 for point 3K, so `control_mask` leaves 3K out); past those the
    row repeats the chain's end. Its i-th original point lies at `params[s, i]` (`segment + t`)
    for `i < point_counts[s]`; the padding there is 0. `drawing` is the drawing given (not a
    copy): `from_parameters` takes the strokes' attributes from it.
    """

    drawing: Drawing
    control_points: torch.Tensor  # float32 [S, P, 2], P = 3 * max(segment_counts) + 1
    control_mask: torch.Tensor  # bool [S, P]: the control points that shape each stroke
    segment_counts: torch.Tensor  # int64 [S]
    cyclic: torch.Tensor  # bool [S]
    params: torch.Tensor  # float64 [S, M]: each original point's place, M = max(point_counts)
    point_counts: torch.Tensor  # int64 [S]
    fit_error: np.ndarray  # float64 [S]: the farthest an original point lies from its chain
    authored: np.ndarray  # bool [S]: the stroke's own `bezier` was used (else fitted)

    @property
    def point_mask(self) -> torch.Tensor:
        """bool [S, M]: which entries of `params` (and of `points()`) are real points."""
        return torch.arange(self.params.shape[1])[None, :] < self.point_counts[:, None]

    @property
    def max_error(self) -> float:
        return float(self.fit_error.max()) if len(self.fit_error) else 0.0

    def points(self, control_points: torch.Tensor | None = None) -> torch.Tensor:
        """Every original point on the chains [..., S, M, 2] (see `points_on_chain`)."""
        return points_on_chain(self.control_points if control_points is None else control_points, self)


def to_parameters(
    drawing: Drawing, *, tolerance: float = TOLERANCE, uniform_segments: int | None = None
) -> StrokeParameters:
    """Every stroke of `drawing` as a chain of cubics, ready for optimisation.

    A stroke's own `bezier` is used when its points lie within `tolerance` of it, in order;
    otherwise (Grease Pencil strokes have none) the chain is fitted to the points (`fit_cubics`).
    With `uniform_segments=k` every stroke gets exactly k segments, as a batched optimiser wants
    (Live-Sketch optimises a fixed number of control points per stroke): shorter chains are split,
    which changes nothing, longer ones are merged by refitting, which adds error wherever a stroke
    needed more than k cubics to stay within `tolerance`. `fit_error` reports it per stroke. On the
    Live-Sketch test sketches (one cubic per stroke) k=1 is exact with their Bezier form; fitted
    from the points alone 435 of their 437 strokes stay within `tolerance` (the others: 0.39 px,
    and 2.2 px on a hairpin of dolphin_2 where the refit lands in a local minimum), and k=4 keeps
    every point within `tolerance`. Closed shapes drawn with up to 9 cubics (surfer-01) stray
    3.4 px as one cubic, 0.3-0.7 px as two, under 0.25 px as four.
    """
    if tolerance <= 0:
        raise ValueError(f"tolerance: {tolerance} is not positive")
    if uniform_segments is not None and uniform_segments < 1:
        raise ValueError(f"uniform_segments: {uniform_segments} is under the minimum of 1")
    chains, errors, authored = [], [], []
    for stroke in drawing.strokes:
        points = np.asarray(stroke.points, np.float64).reshape(-1, 2)
        own = False
        if len(points) == 0:
            ctrl, params = np.zeros((3 if stroke.cyclic else 4, 2)), np.zeros(0)
        else:
            placed = None if stroke.bezier is None else place_on_chain(points, stroke.bezier, stroke.cyclic)
            if placed is not None and placed[1] <= tolerance:
                ctrl, params, own = np.asarray(stroke.bezier, np.float64), placed[0], True
            else:
                ctrl, params = fit_cubics(points, tolerance=tolerance, cyclic=stroke.cyclic)
            if uniform_segments is not None:
                ctrl, params = with_segment_count(points, ctrl, params, stroke.cyclic, uniform_segments, tolerance)
        ctrl = ctrl.astype(np.float32)
        chains.append((ctrl, params, stroke.cyclic))
        errors.append(_chain_error(points, ctrl, params, stroke.cyclic))
        authored.append(own)

    count = len(chains)
    segments = np.array([(len(c) - (0 if cyc else 1)) // 3 for c, _, cyc in chains], np.int64)
    sizes = np.array([len(p) for _, p, _ in chains], np.int64)
    width = 3 * int(segments.max(initial=1)) + 1
    control = np.zeros((count, width, 2), np.float32)
    mask = np.zeros((count, width), bool)
    where = np.zeros((count, int(sizes.max(initial=0))), np.float64)
    for s, (ctrl, params, cyc) in enumerate(chains):
        rows = np.concatenate([ctrl, ctrl[:1]]) if cyc else ctrl
        control[s, : len(rows)] = rows
        control[s, len(rows) :] = rows[-1]
        mask[s, : len(ctrl)] = True
        where[s, : len(params)] = params
    return StrokeParameters(
        drawing=drawing,
        control_points=torch.from_numpy(control),
        control_mask=torch.from_numpy(mask),
        segment_counts=torch.from_numpy(segments),
        cyclic=torch.tensor([c for _, _, c in chains], dtype=torch.bool),
        params=torch.from_numpy(where),
        point_counts=torch.from_numpy(sizes),
        fit_error=np.asarray(errors, np.float64),
        authored=np.asarray(authored, bool),
    )


def _chain_error(points: np.ndarray, ctrl: np.ndarray, params: np.ndarray, cyclic: bool) -> float:
    if len(points) == 0:
        return 0.0
    segs = cubic_segments(ctrl, cyclic)
    seg = np.minimum(np.floor(params).astype(np.intp), len(segs) - 1)
    return float(np.sqrt(((points_on_segments(segs[seg], params - seg) - points) ** 2).sum(1)).max())


def _tensor(values) -> torch.Tensor:
    return values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))


def points_on_chain(
    control_points: torch.Tensor,
    params: "torch.Tensor | StrokeParameters",
    segments: torch.Tensor | None = None,
    cyclic: torch.Tensor | None = None,
) -> torch.Tensor:
    """Points on padded cubic chains, differentiable with respect to the control points.

    `control_points` [..., S, P, 2] (P = 3K+1; any leading axes, e.g. frames), `params` [S, M]
    (`segment + t` per point, shared by the leading axes) -> points [..., S, M, 2]. `segments` [S]
    says how many segments each row holds (all (P-1)/3 when None): parameters past the last one
    clamp to its end. Rows marked `cyclic` read control point 0 for point 3K. Given a
    `StrokeParameters` as `params`, its own params, segments and flags are used.
    """
    if isinstance(params, StrokeParameters):
        params, segments, cyclic = params.params, params.segment_counts, params.cyclic
    cp = _tensor(control_points)
    if cp.ndim < 3 or cp.shape[-1] != 2 or cp.shape[-2] < 4 or (cp.shape[-2] - 1) % 3:
        raise ValueError(f"control_points: expected [..., S, 3K+1, 2], got {list(cp.shape)}")
    count, width = cp.shape[-3], cp.shape[-2]
    exact = torch.float32 if cp.device.type == "mps" else torch.float64  # mps has no float64
    where = torch.as_tensor(params).to(device=cp.device, dtype=exact)
    if where.ndim != 2 or where.shape[0] != count:
        raise ValueError(f"params: expected [{count}, M] for {count} strokes, got {list(where.shape)}")
    kmax = (width - 1) // 3
    if segments is None:
        k = torch.full((count, 1), kmax, dtype=torch.long, device=cp.device)
    else:
        k = torch.as_tensor(segments).to(device=cp.device, dtype=torch.long).clamp(1, kmax).reshape(count, 1)
    seg = torch.minimum(torch.floor(where).long().clamp(min=0), k - 1)
    t = (where - seg).clamp(0.0, 1.0).to(cp.dtype)
    index = 3 * seg[..., None] + torch.arange(4, device=cp.device)  # [S, M, 4]
    if cyclic is not None:
        closing = torch.as_tensor(cyclic).to(device=cp.device, dtype=torch.bool).reshape(count, 1, 1)
        index = torch.where(closing & (index == 3 * k[..., None]), torch.zeros_like(index), index)
    lead = cp.shape[:-3]
    m = where.shape[1]
    gathered = torch.gather(cp, -2, index.reshape(count, m * 4, 1).expand(*lead, count, m * 4, 2))
    gathered = gathered.reshape(*lead, count, m, 4, 2)
    weights = bernstein(t)  # [S, M, 4]
    return (weights[..., None] * gathered).sum(-2)


def point_offsets(params: StrokeParameters, offsets) -> list[np.ndarray]:
    """How far every original point moves when the control points move by `offsets` [S, P, 2]:
    one float64 array [N_s, 2] per stroke. (Points are linear in the control points, so this is
    the chain of offsets evaluated at the points' parameters.)"""
    with torch.no_grad():
        moved = points_on_chain(_tensor(offsets).detach().to("cpu", torch.float64), params).numpy()
    return [moved[s, :n] for s, n in enumerate(params.point_counts.tolist())]


def from_parameters(params: StrokeParameters, control_points) -> Drawing | list[Drawing]:
    """Grease Pencil strokes from (moved) control points: [S, P, 2] gives a Drawing, [F, S, P, 2]
    one Drawing per frame.

    Each stroke keeps its point count; its points are its chain at the original points' params,
    its radii, opacities, colours, fill, `cyclic` and material are the original ones, and `bezier`
    holds the chain's control points ([3K+1, 2], [3K, 2] when cyclic).
    """
    cp = _tensor(control_points)
    cp = cp.detach().to("cpu", torch.float64)
    shape = tuple(params.control_points.shape)
    if cp.ndim not in (3, 4) or tuple(cp.shape[-3:]) != shape:
        raise ValueError(
            f"control_points: expected {list(shape)} or [frames, {', '.join(map(str, shape))}], "
            f"got {list(cp.shape)}"
        )
    frames = cp if cp.ndim == 4 else cp[None]
    with torch.no_grad():
        points = points_on_chain(frames, params).numpy()
    ctrl = frames.numpy()
    counts = params.point_counts.tolist()
    segments = params.segment_counts.tolist()
    drawings = []
    for f in range(len(frames)):
        strokes = []
        for s, stroke in enumerate(params.drawing.strokes):
            if counts[s] == 0:
                strokes.append(stroke.copy())
                continue
            end = 3 * segments[s] + (0 if stroke.cyclic else 1)
            strokes.append(
                stroke.copy(
                    points=points[f, s, : counts[s]].astype(np.float32),
                    bezier=ctrl[f, s, :end].astype(np.float32),
                )
            )
        drawings.append(params.drawing.copy(strokes=strokes))
    return drawings if cp.ndim == 4 else drawings[0]
